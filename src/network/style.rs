//! What "a style" is for each kind of network, and its resolution into per-layer coefficients.

use serde::{Deserialize, Serialize};

use super::{Network, Norm};
use crate::error::{Error, Result};
use crate::norm::LayerStats;

/// The style input of a network: what a statistics file records, since statistics depend on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "values", rename_all = "snake_case")]
pub enum StyleCode {
    /// Weights over a conditional network's built-in styles, normalised to sum 1.
    Mix(Vec<f32>),
    /// A style vector for a network whose normalisation is predicted from it.
    Vector(Vec<f32>),
    /// No style input: the style is baked into the weights (a user-trained model).
    Fixed,
}

impl StyleCode {
    /// Whether two codes give the same network function (values within 1e-6).
    pub fn same_as(&self, other: &StyleCode) -> bool {
        let close = |a: &[f32], b: &[f32]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6)
        };
        match (self, other) {
            (StyleCode::Mix(a), StyleCode::Mix(b))
            | (StyleCode::Vector(a), StyleCode::Vector(b)) => close(a, b),
            (StyleCode::Fixed, StyleCode::Fixed) => true,
            _ => false,
        }
    }
}

/// Per-layer normalisation coefficients of a chosen style: instance-normalised layers carry
/// `gamma`/`beta`, the others the convolution's bias as `beta` (with `gamma = 1`).
#[derive(Debug, Clone, PartialEq)]
pub struct StyleAffine {
    layers: Vec<LayerAffine>,
    epsilon: f64,
}

#[derive(Debug, Clone, PartialEq)]
struct LayerAffine {
    gamma: Vec<f64>,
    beta: Vec<f64>,
    instance: bool,
}

impl StyleAffine {
    /// Resolves `code` for `net`, refusing a code of the wrong kind or length.
    pub fn new(net: &Network, code: &StyleCode) -> Result<Self> {
        let layers = net
            .layers
            .iter()
            .map(|layer| {
                let channels = layer.out_channels;
                let (gamma, beta) = match (&layer.norm, code) {
                    (
                        Norm::Conditional {
                            styles,
                            gamma,
                            beta,
                        },
                        StyleCode::Mix(w),
                    ) if w.len() == *styles => (mix(gamma, w, channels), mix(beta, w, channels)),
                    (Norm::Affine { gamma, beta }, _) => (widen(gamma), widen(beta)),
                    (
                        Norm::Predicted {
                            dim,
                            gamma_w,
                            gamma_b,
                            beta_w,
                            beta_b,
                        },
                        StyleCode::Vector(v),
                    ) if v.len() == *dim => {
                        (linear(gamma_w, gamma_b, v), linear(beta_w, beta_b, v))
                    }
                    (Norm::None, _) => {
                        let bias = layer.bias.as_deref().map_or(vec![0.0; channels], widen);
                        (vec![1.0; channels], bias)
                    }
                    _ => return Err(mismatch(net, code)),
                };
                Ok(LayerAffine {
                    gamma,
                    beta,
                    instance: layer.norm.is_instance(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            layers,
            epsilon: net.epsilon,
        })
    }

    /// Folds statistics and style into per-channel `scale` and `shift`, so that normalising is
    /// one multiply-add: `y = x * scale + shift`. `stats` is ignored for a layer that is not
    /// instance-normalised.
    pub fn coefficients(&self, layer: usize, stats: Option<&LayerStats>) -> (Vec<f32>, Vec<f32>) {
        let affine = &self.layers[layer];
        match stats.filter(|_| affine.instance) {
            Some(stats) => affine
                .gamma
                .iter()
                .zip(&affine.beta)
                .zip(stats.mean.iter().zip(&stats.var))
                .map(|((g, b), (mean, var))| {
                    let a = g / (var + self.epsilon).sqrt();
                    (a as f32, (b - mean * a) as f32)
                })
                .unzip(),
            None => (
                affine.gamma.iter().map(|g| *g as f32).collect(),
                affine.beta.iter().map(|b| *b as f32).collect(),
            ),
        }
    }

    /// Whether layer `layer` is normalised with image statistics.
    pub fn is_instance(&self, layer: usize) -> bool {
        self.layers[layer].instance
    }
}

fn mismatch(net: &Network, code: &StyleCode) -> Error {
    let wants = net.layers.iter().find_map(|l| match &l.norm {
        Norm::Conditional { styles, .. } => {
            Some(format!("a style index or blend of its {styles} styles"))
        }
        Norm::Predicted { dim, .. } => Some(format!("a {dim}-value style vector (--style-image)")),
        _ => None,
    });
    let given = match code {
        StyleCode::Mix(w) => format!("a blend of {} styles", w.len()),
        StyleCode::Vector(v) => format!("a {}-value style vector", v.len()),
        StyleCode::Fixed => "no style".into(),
    };
    Error::InvalidOption(format!(
        "the {} network takes {}, not {given}",
        net.family,
        wants.unwrap_or_else(|| "no style (it is trained for one)".into())
    ))
}

fn widen(values: &[f32]) -> Vec<f64> {
    values.iter().map(|v| f64::from(*v)).collect()
}

/// Rows `[style][channel]` mixed with `weights`.
fn mix(rows: &[f32], weights: &[f32], channels: usize) -> Vec<f64> {
    (0..channels)
        .map(|c| {
            weights
                .iter()
                .enumerate()
                .map(|(s, w)| f64::from(*w) * f64::from(rows[s * channels + c]))
                .sum()
        })
        .collect()
}

/// `w · v + b` for `w` of `[channel][dim]`.
fn linear(w: &[f32], b: &[f32], v: &[f32]) -> Vec<f64> {
    b.iter()
        .enumerate()
        .map(|(c, bias)| {
            let row = &w[c * v.len()..][..v.len()];
            f64::from(*bias)
                + row
                    .iter()
                    .zip(v)
                    .map(|(a, x)| f64::from(*a) * f64::from(*x))
                    .sum::<f64>()
        })
        .collect()
}
