//! The generator network described once, as data.
//!
//! A feed-forward style network is a chain of layers; each layer upsamples (nearest 2×) if it
//! says so, reflect-pads and convolves, normalises, applies its activation and may add the input
//! of an earlier layer (a residual block's skip). Everything else is *derived* from this
//! description: the engines run any [`Network`]; the exact-statistics sweeps, the receptive
//! field, the stride that tile origins must respect, the smallest image the network accepts and
//! the memory per pixel all come from the methods below. The families bigstyle knows are
//! instances: [`multistyle26`] (built in), [`transformer_net`] (PyTorch `fast_neural_style`
//! checkpoints) and [`arbitrary`] (Magenta arbitrary stylization, built in).

pub mod arbitrary;
pub mod bsw;
pub mod multistyle26;
pub mod style;
pub mod transformer_net;

use crate::error::{Error, Result};

pub use style::{StyleAffine, StyleCode};

/// What follows a layer's normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// Nothing (the second convolution of a residual block, a raw output layer).
    Identity,
    /// `1 / (1 + e^-x)` (an output layer in 0..1).
    Sigmoid,
}

/// How a layer's convolution output is normalised, with the parameters that need.
#[derive(Debug, Clone, PartialEq)]
pub enum Norm {
    /// Instance norm; one gamma/beta row per style (`[styles][channels]`), mixed by the style
    /// weights (Dumoulin et al.'s conditional instance norm).
    Conditional {
        /// Number of styles.
        styles: usize,
        /// `[styles][channels]`.
        gamma: Vec<f32>,
        /// `[styles][channels]`.
        beta: Vec<f32>,
    },
    /// Instance norm with a learned per-channel affine (PyTorch `InstanceNorm2d(affine=True)`).
    Affine {
        /// `[channels]`.
        gamma: Vec<f32>,
        /// `[channels]`.
        beta: Vec<f32>,
    },
    /// Instance norm whose gamma and beta are predicted from a style vector by a linear map
    /// (`gamma = Wg·v + bg`), as in Ghiasi et al.'s arbitrary stylization.
    Predicted {
        /// Length of the style vector.
        dim: usize,
        /// `[channels][dim]`.
        gamma_w: Vec<f32>,
        /// `[channels]`.
        gamma_b: Vec<f32>,
        /// `[channels][dim]`.
        beta_w: Vec<f32>,
        /// `[channels]`.
        beta_b: Vec<f32>,
    },
    /// No normalisation: only the convolution's bias (a batch norm folded into the conv).
    None,
}

impl Norm {
    /// Whether the layer is normalised with statistics of the image (every kind but `None`).
    pub fn is_instance(&self) -> bool {
        !matches!(self, Norm::None)
    }
}

/// One layer: optional upsampling, reflect padding, convolution, normalisation, activation and
/// an optional residual add.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Name, for messages and per-layer benchmarks (`contract.0`, `res1.conv2`, …).
    pub name: String,
    /// Kernel side (odd); the input is reflect-padded by `kernel / 2` on every side.
    pub kernel: usize,
    /// Convolution stride (1 or 2).
    pub stride: usize,
    /// Whether a nearest 2× upsample precedes the convolution.
    pub upsample: bool,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Convolution weights `[out][in][k][k]`, row-major.
    pub weight: Vec<f32>,
    /// Convolution bias `[out]`. Before an instance norm a bias cancels out, so engines add it
    /// only where the layer is not normalised (see [`StyleAffine`]).
    pub bias: Option<Vec<f32>>,
    /// Normalisation.
    pub norm: Norm,
    /// Activation after the normalisation.
    pub activation: Activation,
    /// Index of an earlier layer whose *input* is added after the activation.
    pub skip_from: Option<usize>,
}

/// A whole generator: its layers in order, as loaded and checked by one of the families.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Family name, recorded in statistics files (`multistyle26`, `transformer_net`, …).
    pub family: String,
    /// The layers in order.
    pub layers: Vec<Layer>,
    /// Instance-norm epsilon.
    pub epsilon: f64,
    /// Resolution divisor of each layer's input (1 = full resolution), then of the output.
    levels: Vec<usize>,
    /// Fingerprint of the architecture and weights (FNV-1a, hex), recorded in statistics files.
    id: String,
}

/// Where the network's geometry puts constraints on tiling: derived, never written by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Total downscale inside the network: images are padded to, and tile origins placed on,
    /// multiples of it, since strided layers compute a different function on other origins.
    pub stride: usize,
    /// Largest distance (px) at which an input pixel still influences an output pixel.
    pub receptive_radius: usize,
    /// Smallest image side the network accepts (reflect padding needs a few pixels at every
    /// level).
    pub min_side: usize,
}

impl Network {
    /// Checks a chain of layers (channels, strides, kernels, skips, parameter sizes) and
    /// derives its resolution levels and fingerprint.
    pub fn new(family: &str, layers: Vec<Layer>, epsilon: f64) -> Result<Self> {
        let bad = |msg: String| Error::Weights(format!("{family}: {msg}"));
        let first = layers.first().ok_or_else(|| bad("no layers".into()))?;
        if first.in_channels != 3 {
            return Err(bad(format!(
                "{} takes {} channels, not 3",
                first.name, first.in_channels
            )));
        }
        let mut levels = vec![1usize];
        for (i, layer) in layers.iter().enumerate() {
            check_layer(layer).map_err(|m| bad(format!("{}: {m}", layer.name)))?;
            if i > 0 && layers[i - 1].out_channels != layer.in_channels {
                return Err(bad(format!(
                    "{} takes {} channels but {} gives {}",
                    layer.name,
                    layer.in_channels,
                    layers[i - 1].name,
                    layers[i - 1].out_channels
                )));
            }
            let mut level = levels[i];
            if layer.upsample {
                if level < 2 {
                    return Err(bad(format!(
                        "{} upsamples past full resolution",
                        layer.name
                    )));
                }
                level /= 2;
            }
            levels.push(level * layer.stride);
            if let Some(j) = layer.skip_from {
                let ok = j <= i
                    && levels[j] == levels[i + 1]
                    && layers[j].in_channels == layer.out_channels;
                if !ok {
                    return Err(bad(format!("{} adds a skip of another shape", layer.name)));
                }
            }
        }
        let last = layers.last().ok_or_else(|| bad("no layers".into()))?;
        if last.out_channels != 3 || levels[layers.len()] != 1 {
            return Err(bad(
                "the network must end with 3 channels at full resolution".into(),
            ));
        }
        let id = fingerprint(&layers);
        Ok(Self {
            family: family.into(),
            layers,
            epsilon,
            levels,
            id,
        })
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the network has no layers (never true for a checked network).
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Fingerprint of the architecture and weights.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Resolution divisor of layer `i`'s input (`i == len()`: of the network's output).
    pub fn level_in(&self, i: usize) -> usize {
        self.levels[i]
    }

    /// Resolution divisor of layer `i`'s output.
    pub fn level_out(&self, i: usize) -> usize {
        self.levels[i + 1]
    }

    /// Resolution divisor at which layer `i`'s kernel taps are spaced (after any upsampling).
    fn level_of_taps(&self, i: usize) -> usize {
        let level = self.levels[i];
        if self.layers[i].upsample {
            level / 2
        } else {
            level
        }
    }

    /// Whether some later layer adds the input of layer `i` (a residual block's start).
    pub fn is_skip_source(&self, i: usize) -> bool {
        self.layers.iter().any(|l| l.skip_from == Some(i))
    }

    /// The network's tiling constraints, derived from its layers.
    pub fn geometry(&self) -> Geometry {
        let stride = self.levels.iter().copied().max().unwrap_or(1);
        let taps: usize = (0..self.len())
            .map(|i| self.layers[i].kernel / 2 * self.level_of_taps(i))
            .sum();
        Geometry {
            stride,
            // A strided layer sees its input on a grid: up to `stride - 1` px more on one side.
            receptive_radius: taps + stride - 1,
            min_side: self.min_side(stride),
        }
    }

    /// The smallest side whose stride-padded extent leaves every layer more pixels than its
    /// reflect padding at that layer's level.
    fn min_side(&self, stride: usize) -> usize {
        (1..)
            .find(|side: &usize| {
                let padded = side.next_multiple_of(stride);
                (0..self.len()).all(|i| {
                    let pad = self.layers[i].kernel / 2;
                    let at_taps = padded / self.level_of_taps(i);
                    at_taps > pad && (i > 0 || *side > pad)
                })
            })
            .unwrap_or(1)
    }

    /// Multiply-adds of layer `i` per input pixel (its output is smaller or larger by its level).
    pub fn layer_macs_per_pixel(&self, i: usize) -> f64 {
        let l = &self.layers[i];
        let level = self.level_out(i) as f64;
        (l.out_channels * l.in_channels * l.kernel * l.kernel) as f64 / (level * level)
    }

    /// Multiply-adds of the whole network per input pixel.
    pub fn macs_per_pixel(&self) -> f64 {
        (0..self.len()).map(|i| self.layer_macs_per_pixel(i)).sum()
    }

    /// Peak floats per input pixel that one layer of a forward pass holds at once: its input
    /// and a padded copy of it, its output and a buffer kept for reuse, plus the skip tensors that
    /// are alive across it. The engines scale this into their bytes per pixel.
    pub fn peak_floats_per_pixel(&self) -> f64 {
        let per_px = |channels: usize, level: usize| channels as f64 / (level * level) as f64;
        (0..self.len())
            .map(|i| {
                let layer = &self.layers[i];
                let input = per_px(layer.in_channels, self.level_in(i));
                let output = per_px(layer.out_channels, self.level_out(i));
                let skips: f64 = (0..=i)
                    .filter(|j| self.skip_alive_across(*j, i))
                    .map(|j| per_px(self.layers[j].in_channels, self.level_in(j)))
                    .sum();
                2.0 * input + 2.0 * output + skips
            })
            .fold(0.0, f64::max)
    }

    /// Whether the input of layer `j` is still needed (by a skip) while layer `i` runs.
    fn skip_alive_across(&self, j: usize, i: usize) -> bool {
        self.layers
            .iter()
            .enumerate()
            .any(|(r, l)| l.skip_from == Some(j) && j <= i && i <= r)
    }
}

/// Checks one layer's parameter sizes against its shape.
fn check_layer(layer: &Layer) -> std::result::Result<(), String> {
    let (k, cin, cout) = (layer.kernel, layer.in_channels, layer.out_channels);
    if k == 0
        || k % 2 == 0
        || !(1..=2).contains(&layer.stride)
        || (layer.upsample && layer.stride != 1)
    {
        return Err(format!("unsupported kernel {k} / stride {}", layer.stride));
    }
    if layer.weight.len() != cout * cin * k * k {
        return Err(format!(
            "weight has {} values, expected {cout}x{cin}x{k}x{k}",
            layer.weight.len()
        ));
    }
    if layer.bias.as_ref().is_some_and(|b| b.len() != cout) {
        return Err("bias length differs from the output channels".into());
    }
    let rows_ok = match &layer.norm {
        Norm::Conditional {
            styles,
            gamma,
            beta,
        } => gamma.len() == styles * cout && beta.len() == styles * cout && *styles > 0,
        Norm::Affine { gamma, beta } => gamma.len() == cout && beta.len() == cout,
        Norm::Predicted {
            dim,
            gamma_w,
            gamma_b,
            beta_w,
            beta_b,
        } => {
            gamma_w.len() == cout * dim
                && beta_w.len() == cout * dim
                && gamma_b.len() == cout
                && beta_b.len() == cout
        }
        Norm::None => true,
    };
    if !rows_ok {
        return Err("normalisation parameters do not match the output channels".into());
    }
    Ok(())
}

/// FNV-1a over the layer shapes and every parameter's bits: stable across builds and machines.
fn fingerprint(layers: &[Layer]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for l in layers {
        for n in [
            l.kernel,
            l.stride,
            usize::from(l.upsample),
            l.in_channels,
            l.out_channels,
        ] {
            feed(&(n as u64).to_le_bytes());
        }
        feed(&[l.activation as u8, u8::from(l.norm.is_instance())]);
        feed(&(l.skip_from.map_or(u64::MAX, |j| j as u64)).to_le_bytes());
        let params: Vec<&[f32]> = match &l.norm {
            Norm::Conditional { gamma, beta, .. } | Norm::Affine { gamma, beta } => {
                vec![gamma, beta]
            }
            Norm::Predicted {
                gamma_w,
                gamma_b,
                beta_w,
                beta_b,
                ..
            } => vec![gamma_w, gamma_b, beta_w, beta_b],
            Norm::None => vec![],
        };
        let bias: &[f32] = l.bias.as_deref().unwrap_or(&[]);
        for values in params.into_iter().chain([l.weight.as_slice(), bias]) {
            for v in values {
                feed(&v.to_bits().to_le_bytes());
            }
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multistyle26_geometry_is_derived_as_measured() {
        // Measured on the ONNX model (shared/models/README.md): influence reaches 62–65 px
        // depending on the position mod 4; the network's stride is 4.
        let net = multistyle26::builtin();
        let g = net.geometry();
        assert_eq!((g.stride, g.receptive_radius, g.min_side), (4, 65, 5));
        assert_eq!(net.level_out(2), 4);
        assert_eq!(net.level_out(15), 2);
    }

    #[test]
    fn a_mismatched_chain_is_refused() {
        let mut layers = multistyle26::builtin().layers;
        layers[3].in_channels = 16;
        let err = Network::new("test", layers, 1e-5).unwrap_err();
        assert!(err.to_string().contains("res.0.0"), "{err}");
    }
}
