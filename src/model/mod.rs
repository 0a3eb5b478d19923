//! The built-in generator: the 26-style conditional-instance-norm network of Dumoulin et al.
//! (ICLR 2017), with its weights embedded in the binary.
//!
//! The network is exposed layer by layer through the [`Engine`] trait (raw convolution,
//! normalisation with given statistics, residual add, crop, moments), so that the statistics
//! stage can run it piecewise over a huge image and the tiler can run it whole on one window with
//! whole-image statistics. Two engines implement it: [`burn::BurnEngine`], the burn `Module`
//! generic over the backend (the reference, and the GPU path), and [`cpu::CpuEngine`], direct
//! im2col + GEMM kernels for the CPU, tested against the burn model.

pub mod burn;
pub mod cpu;
pub mod gpu;

use crate::error::{Error, Result};
use crate::stats::{LayerStats, NetworkStats};
use crate::tiling::Rect;

/// Number of styles the built-in network was trained on.
pub const NUM_STYLES: usize = 26;
/// Number of normalised convolutions, in network order.
pub const NUM_LAYERS: usize = 18;
/// Total stride of the network: tile origins must be multiples of it.
pub const STRIDE: usize = 4;
/// Largest distance (px) at which an input pixel still influences an output pixel.
pub const RECEPTIVE_RADIUS: usize = 65;
/// Smallest image side the network accepts (reflect padding needs a few rows at every level).
pub const MIN_SIDE: usize = 5;
/// Instance-norm epsilon of the original graph.
pub const EPSILON: f64 = 1e-5;

/// The converted weights, embedded so that the first run needs no download.
const EMBEDDED_WEIGHTS: &[u8] = include_bytes!("multistyle26.bsw");

/// What follows a layer's normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// Nothing: the second convolution of a residual block, added to the block's input.
    Identity,
    /// The output layer's `1 / (1 + e^-x)`.
    Sigmoid,
}

/// Where a layer sits in the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerShape {
    /// ONNX name prefix of the layer (`contract.0`, `res.3.1`, …).
    pub name: &'static str,
    /// Kernel side.
    pub kernel: usize,
    /// Convolution stride.
    pub stride: usize,
    /// Whether a nearest 2× upsample precedes the convolution.
    pub upsample: bool,
    /// Activation after the normalisation.
    pub activation: Activation,
}

const fn shape(
    name: &'static str,
    kernel: usize,
    stride: usize,
    upsample: bool,
    activation: Activation,
) -> LayerShape {
    LayerShape {
        name,
        kernel,
        stride,
        upsample,
        activation,
    }
}

use Activation::{Identity, Relu, Sigmoid};

/// The 18 normalised convolutions in network order.
pub const LAYERS: [LayerShape; NUM_LAYERS] = [
    shape("contract.0", 9, 1, false, Relu),
    shape("contract.1", 3, 2, false, Relu),
    shape("contract.2", 3, 2, false, Relu),
    shape("res.0.0", 3, 1, false, Relu),
    shape("res.0.1", 3, 1, false, Identity),
    shape("res.1.0", 3, 1, false, Relu),
    shape("res.1.1", 3, 1, false, Identity),
    shape("res.2.0", 3, 1, false, Relu),
    shape("res.2.1", 3, 1, false, Identity),
    shape("res.3.0", 3, 1, false, Relu),
    shape("res.3.1", 3, 1, false, Identity),
    shape("res.4.0", 3, 1, false, Relu),
    shape("res.4.1", 3, 1, false, Identity),
    shape("res.5.0", 3, 1, false, Relu),
    shape("res.5.1", 3, 1, false, Identity),
    shape("expand.0", 3, 1, true, Relu),
    shape("expand.1", 3, 1, true, Relu),
    shape("expand.2", 9, 1, false, Sigmoid),
];

/// Index of the first residual layer; residual blocks are pairs from here on.
pub const FIRST_RES_LAYER: usize = 3;
/// Number of residual blocks.
pub const RES_BLOCKS: usize = 6;

/// Host copy of one layer's parameters.
#[derive(Debug, Clone)]
pub struct LayerWeights {
    /// Convolution weights `[out][in][k][k]`, row-major.
    pub weight: Vec<f32>,
    /// Output channels.
    pub out_channels: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Per-style gamma rows `[style][out]`.
    pub gamma: Vec<f32>,
    /// Per-style beta rows `[style][out]`.
    pub beta: Vec<f32>,
}

/// Host copy of the whole network's parameters, checked against [`LAYERS`].
#[derive(Debug, Clone)]
pub struct NetworkWeights {
    /// One entry per layer in network order.
    pub layers: Vec<LayerWeights>,
}

impl NetworkWeights {
    /// The weights embedded in the binary.
    pub fn builtin() -> Self {
        // The embedded file is produced by tools/convert_weights.py and checked by the tests;
        // a malformed one is a build defect, not an input error.
        Self::from_bytes(EMBEDDED_WEIGHTS).expect("embedded weights are well-formed")
    }

    /// Loads and checks weights in the `BSW1` format written by `tools/convert_weights.py`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let tensors = crate::weights::parse(bytes)?;
        let find = |name: String| {
            tensors
                .iter()
                .find(|t| t.name == name)
                .ok_or_else(|| Error::Weights(format!("missing tensor {name}")))
        };
        let mut layers = Vec::with_capacity(NUM_LAYERS);
        let mut channels = 3;
        for shape in LAYERS.iter() {
            let w = find(format!("{}.w", shape.name))?;
            let (k, name) = (shape.kernel, shape.name);
            if w.dims.len() != 4 || w.dims[1] != channels || w.dims[2] != k || w.dims[3] != k {
                return Err(Error::Weights(format!(
                    "{name}.w has shape {:?}, expected [_, {channels}, {k}, {k}]",
                    w.dims
                )));
            }
            let out = w.dims[0];
            let gamma = find(format!("{name}.norm.gamma"))?;
            let beta = find(format!("{name}.norm.beta"))?;
            for t in [gamma, beta] {
                if t.dims != [NUM_STYLES, out] {
                    return Err(Error::Weights(format!("{} has shape {:?}", t.name, t.dims)));
                }
            }
            layers.push(LayerWeights {
                weight: w.data.clone(),
                out_channels: out,
                in_channels: channels,
                gamma: gamma.data.clone(),
                beta: beta.data.clone(),
            });
            channels = out;
        }
        if channels != 3 {
            return Err(Error::Weights(format!(
                "the network ends with {channels} channels"
            )));
        }
        Ok(Self { layers })
    }

    /// Mixes the per-style gamma/beta rows with `weights` (normalised to sum 1).
    pub fn style_affine(&self, weights: &[f32; NUM_STYLES]) -> StyleAffine {
        let mix = |rows: &[f32], channels: usize| -> Vec<f64> {
            (0..channels)
                .map(|c| {
                    weights
                        .iter()
                        .enumerate()
                        .map(|(s, w)| f64::from(*w) * f64::from(rows[s * channels + c]))
                        .sum()
                })
                .collect()
        };
        StyleAffine {
            layers: self
                .layers
                .iter()
                .map(|l| (mix(&l.gamma, l.out_channels), mix(&l.beta, l.out_channels)))
                .collect(),
        }
    }
}

/// Per-layer affine coefficients of a chosen style (or blend): `gamma` and `beta` per channel.
#[derive(Debug, Clone)]
pub struct StyleAffine {
    layers: Vec<(Vec<f64>, Vec<f64>)>,
}

impl StyleAffine {
    /// Folds statistics and style into per-channel `scale` and `shift`, so that normalising is
    /// one multiply-add: `y = x * scale + shift`.
    pub fn coefficients(&self, layer: usize, stats: &LayerStats) -> (Vec<f32>, Vec<f32>) {
        let (gamma, beta) = &self.layers[layer];
        gamma
            .iter()
            .zip(beta)
            .zip(stats.mean.iter().zip(&stats.var))
            .map(|((g, b), (mean, var))| {
                let a = g / (var + EPSILON).sqrt();
                (a as f32, (b - mean * a) as f32)
            })
            .unzip()
    }
}

/// Per-channel pixel count, mean and sum of squared deviations of a region.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    /// Pixels per channel.
    pub count: f64,
    /// Per-channel mean.
    pub mean: Vec<f64>,
    /// Per-channel sum of squared deviations from the mean.
    pub m2: Vec<f64>,
}

/// Runs the network's layers on activations of some device; see the module documentation.
pub trait Engine {
    /// An activation `[channels, height, width]` on the engine's device.
    type Act: Clone;

    /// A short name for logs and `--json` (`cpu`, `burn-cuda`, …).
    fn name(&self) -> String;
    /// The host copy of the weights.
    fn weights(&self) -> &NetworkWeights;
    /// Moves planar `[channel][row][col]` values to the device.
    fn upload(&self, planar: Vec<f32>, channels: usize, height: usize, width: usize) -> Self::Act;
    /// Moves an activation back to planar host values.
    fn download(&self, x: Self::Act) -> Vec<f32>;
    /// Upsamples where the layer does, reflect-pads as the layer does and convolves: the raw
    /// (not yet normalised) output of layer `layer`.
    fn conv_raw(&self, layer: usize, x: Self::Act) -> Self::Act;
    /// `x * scale + shift` per channel, then the layer's activation.
    fn scale_shift(&self, layer: usize, raw: Self::Act, scale: &[f32], shift: &[f32]) -> Self::Act;
    /// Element-wise sum (the residual add).
    fn add(&self, a: Self::Act, b: Self::Act) -> Self::Act;
    /// The part of `x` (whose origin is at `origin` = (x, y)) covering `rect`.
    fn crop(&self, x: Self::Act, origin: (usize, usize), rect: Rect) -> Self::Act;
    /// Per-channel moments of `x`, reduced accurately (f64 on the host).
    fn moments(&self, x: &Self::Act) -> Moments;
    /// Peak bytes of activations per pixel of a window run through [`forward`] (measured; see
    /// docs/MEMORY.md), for the memory budget.
    fn bytes_per_pixel(&self) -> u64;

    /// Output channels of layer `layer`.
    fn channels(&self, layer: usize) -> usize {
        self.weights().layers[layer].out_channels
    }

    /// Layer `layer`'s normalisation with the given statistics and style, then its activation.
    fn normalize(
        &self,
        layer: usize,
        raw: Self::Act,
        stats: &LayerStats,
        style: &StyleAffine,
    ) -> Self::Act {
        let (scale, shift) = style.coefficients(layer, stats);
        self.scale_shift(layer, raw, &scale, &shift)
    }
}

/// Where a forward pass takes each layer's normalisation statistics from.
pub enum NormSource<'a> {
    /// From the activation being normalised, as the original network does; the statistics used
    /// are recorded into the given collection.
    Instance(&'a mut NetworkStats),
    /// From statistics computed elsewhere (the whole image, a thumbnail, a file).
    Given(&'a NetworkStats),
}

/// Runs the whole network on one window `[3, h, w]` (h, w multiples of 4) and returns the
/// stylized window `[3, h, w]` in 0..1.
pub fn forward<E: Engine>(
    engine: &E,
    x: E::Act,
    style: &StyleAffine,
    mut norm: NormSource<'_>,
) -> E::Act {
    let mut step = |layer: usize, x: E::Act| -> E::Act {
        let raw = engine.conv_raw(layer, x);
        let stats = match &mut norm {
            NormSource::Instance(record) => {
                let mut acc = crate::stats::Accumulator::default();
                acc.merge(&engine.moments(&raw));
                let stats = acc.finish();
                record.set(layer, stats.clone());
                stats
            }
            NormSource::Given(stats) => stats.layer(layer).clone(),
        };
        engine.normalize(layer, raw, &stats, style)
    };
    run_layers(engine, x, &mut step)
}

/// The network's topology: `step(layer, x)` runs one normalised layer (convolution,
/// normalisation, activation); this chains the 18 in order with the six residual adds. Shared by
/// [`forward`] and by benchmarks that time each layer.
pub fn run_layers<E: Engine>(
    engine: &E,
    x: E::Act,
    step: &mut impl FnMut(usize, E::Act) -> E::Act,
) -> E::Act {
    let mut x = x;
    for layer in 0..FIRST_RES_LAYER {
        x = step(layer, x);
    }
    for block in 0..RES_BLOCKS {
        let first = FIRST_RES_LAYER + 2 * block;
        let inner = step(first, x.clone());
        x = engine.add(x, step(first + 1, inner));
    }
    for layer in FIRST_RES_LAYER + 2 * RES_BLOCKS..NUM_LAYERS {
        x = step(layer, x);
    }
    x
}
