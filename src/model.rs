//! The built-in generator: the 26-style conditional-instance-norm network of Dumoulin et al.
//! (ICLR 2017), hand-written as a burn [`Module`] and generic over the backend.
//!
//! The network's layers are exposed one by one (raw convolution, normalisation, activation) so
//! that the statistics stage can run it piecewise over a huge image; [`Generator::forward`] runs
//! it whole on one window, with its normalisation statistics either computed from the window
//! itself ([`NormSource::Instance`], what the original model does) or given from outside
//! ([`NormSource::Given`], what the tiler does so that every tile uses the whole image's numbers).

use burn::module::{Module, Param};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Tensor, TensorData};

use crate::error::{Error, Result};
use crate::stats::{LayerStats, NetworkStats};

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
const EMBEDDED_WEIGHTS: &[u8] = include_bytes!("models/multistyle26.bsw");

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

/// Where a layer sits in the network: its resolution level and what comes around it.
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
    /// Output resolution as a divisor of the input resolution (1, 2 or 4).
    pub level: usize,
}

const fn shape(
    name: &'static str,
    kernel: usize,
    stride: usize,
    upsample: bool,
    activation: Activation,
    level: usize,
) -> LayerShape {
    LayerShape {
        name,
        kernel,
        stride,
        upsample,
        activation,
        level,
    }
}

use Activation::{Identity, Relu, Sigmoid};

/// The 18 normalised convolutions in network order.
pub const LAYERS: [LayerShape; NUM_LAYERS] = [
    shape("contract.0", 9, 1, false, Relu, 1),
    shape("contract.1", 3, 2, false, Relu, 2),
    shape("contract.2", 3, 2, false, Relu, 4),
    shape("res.0.0", 3, 1, false, Relu, 4),
    shape("res.0.1", 3, 1, false, Identity, 4),
    shape("res.1.0", 3, 1, false, Relu, 4),
    shape("res.1.1", 3, 1, false, Identity, 4),
    shape("res.2.0", 3, 1, false, Relu, 4),
    shape("res.2.1", 3, 1, false, Identity, 4),
    shape("res.3.0", 3, 1, false, Relu, 4),
    shape("res.3.1", 3, 1, false, Identity, 4),
    shape("res.4.0", 3, 1, false, Relu, 4),
    shape("res.4.1", 3, 1, false, Identity, 4),
    shape("res.5.0", 3, 1, false, Relu, 4),
    shape("res.5.1", 3, 1, false, Identity, 4),
    shape("expand.0", 3, 1, true, Relu, 2),
    shape("expand.1", 3, 1, true, Relu, 1),
    shape("expand.2", 9, 1, false, Sigmoid, 1),
];

/// Index of the first residual layer; residual blocks are pairs from here on.
pub const FIRST_RES_LAYER: usize = 3;
/// Number of residual blocks.
pub const RES_BLOCKS: usize = 6;

/// One convolution with its conditional instance norm (one gamma/beta row per style).
#[derive(Module, Debug)]
pub struct CinConv<B: Backend> {
    weight: Param<Tensor<B, 4>>,
    gamma: Param<Tensor<B, 2>>,
    beta: Param<Tensor<B, 2>>,
    stride: usize,
}

/// The 26-style generator network.
#[derive(Module, Debug)]
pub struct Generator<B: Backend> {
    layers: Vec<CinConv<B>>,
}

/// Per-layer affine coefficients of a chosen style (or blend): `gamma` and `beta` per channel.
#[derive(Debug, Clone)]
pub struct StyleAffine {
    layers: Vec<(Vec<f64>, Vec<f64>)>,
}

/// Where a forward pass takes each layer's normalisation statistics from.
pub enum NormSource<'a> {
    /// From the tensor being normalised, as the original network does; the statistics used are
    /// recorded into the given collection.
    Instance(&'a mut NetworkStats),
    /// From statistics computed elsewhere (the whole image, a thumbnail, a file).
    Given(&'a NetworkStats),
}

impl<B: Backend> Generator<B> {
    /// The built-in network with its embedded weights.
    pub fn builtin(device: &B::Device) -> Self {
        // The embedded file is produced by tools/convert_weights.py and checked by the tests;
        // a malformed one is a build defect, not an input error.
        Self::from_bytes(EMBEDDED_WEIGHTS, device).expect("embedded weights are well-formed")
    }

    /// Loads a network from the `BSW1` weight format written by `tools/convert_weights.py`.
    pub fn from_bytes(bytes: &[u8], device: &B::Device) -> Result<Self> {
        let tensors = crate::weights::parse(bytes)?;
        let mut layers = Vec::with_capacity(NUM_LAYERS);
        for layer in LAYERS.iter() {
            let get = |suffix: &str, dims: &[usize]| -> Result<Vec<f32>> {
                let name = format!("{}.{}", layer.name, suffix);
                let t = tensors
                    .iter()
                    .find(|t| t.name == name)
                    .ok_or_else(|| Error::Weights(format!("missing tensor {name}")))?;
                if t.dims != dims {
                    return Err(Error::Weights(format!(
                        "tensor {name} has shape {:?}, expected {:?}",
                        t.dims, dims
                    )));
                }
                Ok(t.data.clone())
            };
            let weight_tensor = tensors
                .iter()
                .find(|t| t.name == format!("{}.w", layer.name))
                .ok_or_else(|| Error::Weights(format!("missing tensor {}.w", layer.name)))?;
            let dims = weight_tensor.dims.clone();
            if dims.len() != 4 || dims[2] != layer.kernel || dims[3] != layer.kernel {
                return Err(Error::Weights(format!(
                    "tensor {}.w has shape {dims:?}",
                    layer.name
                )));
            }
            let out_ch = dims[0];
            let weight = get("w", &dims)?;
            let gamma = get("norm.gamma", &[NUM_STYLES, out_ch])?;
            let beta = get("norm.beta", &[NUM_STYLES, out_ch])?;
            layers.push(CinConv {
                weight: Param::from_data(TensorData::new(weight, dims.clone()), device),
                gamma: Param::from_data(TensorData::new(gamma, [NUM_STYLES, out_ch]), device),
                beta: Param::from_data(TensorData::new(beta, [NUM_STYLES, out_ch]), device),
                stride: layer.stride,
            });
        }
        check_channel_chain(&layers)?;
        Ok(Self { layers })
    }

    /// Output channels of layer `index`.
    pub fn channels(&self, index: usize) -> usize {
        self.layers[index].weight.val().dims()[0]
    }

    /// Mixes the per-style gamma/beta rows with `weights` (already normalised to sum 1).
    pub fn style_affine(&self, weights: &[f32; NUM_STYLES]) -> StyleAffine {
        let mix = |rows: Tensor<B, 2>| -> Vec<f64> {
            let data = rows.into_data().to_vec::<f32>().unwrap_or_default();
            let channels = data.len() / NUM_STYLES;
            (0..channels)
                .map(|c| {
                    weights
                        .iter()
                        .enumerate()
                        .map(|(s, w)| f64::from(*w) * f64::from(data[s * channels + c]))
                        .sum()
                })
                .collect()
        };
        StyleAffine {
            layers: self
                .layers
                .iter()
                .map(|l| (mix(l.gamma.val()), mix(l.beta.val())))
                .collect(),
        }
    }

    /// Reflect-pads `x` as the layer does, upsamples first where the layer does, and convolves.
    /// The result is the raw (not yet normalised) layer output.
    pub fn conv_raw(&self, index: usize, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let layer = &self.layers[index];
        let x = if LAYERS[index].upsample {
            upsample2(x)
        } else {
            x
        };
        let pad = LAYERS[index].kernel / 2;
        let x = x.pad((pad, pad, pad, pad), PadMode::Reflect);
        conv2d(
            x,
            layer.weight.val(),
            None,
            ConvOptions::new([layer.stride, layer.stride], [0, 0], [1, 1], 1),
        )
    }

    /// Applies layer `index`'s normalisation with the given statistics and style, then its
    /// activation (the residual add is the caller's).
    pub fn normalize(
        &self,
        index: usize,
        raw: Tensor<B, 4>,
        stats: &LayerStats,
        style: &StyleAffine,
    ) -> Tensor<B, 4> {
        let (gamma, beta) = &style.layers[index];
        let channels = gamma.len();
        let mut scale = Vec::with_capacity(channels);
        let mut shift = Vec::with_capacity(channels);
        for c in 0..channels {
            let a = gamma[c] / (stats.var[c] + EPSILON).sqrt();
            scale.push(a as f32);
            shift.push((beta[c] - stats.mean[c] * a) as f32);
        }
        let device = raw.device();
        let scale = Tensor::<B, 4>::from_data(TensorData::new(scale, [1, channels, 1, 1]), &device);
        let shift = Tensor::<B, 4>::from_data(TensorData::new(shift, [1, channels, 1, 1]), &device);
        let y = raw.mul(scale).add(shift);
        match LAYERS[index].activation {
            Activation::Relu => relu(y),
            Activation::Identity => y,
            Activation::Sigmoid => sigmoid(y),
        }
    }

    /// Runs the whole network on one window `[1, 3, h, w]` (h, w multiples of 4) and returns
    /// the stylized window `[1, 3, h, w]` in 0..1.
    pub fn forward(
        &self,
        x: Tensor<B, 4>,
        style: &StyleAffine,
        mut norm: NormSource<'_>,
    ) -> Tensor<B, 4> {
        let mut step = |index: usize, x: Tensor<B, 4>| -> Tensor<B, 4> {
            let raw = self.conv_raw(index, x);
            let stats = match &mut norm {
                NormSource::Instance(record) => {
                    let stats = LayerStats::of_tensor(&raw);
                    record.set(index, stats.clone());
                    stats
                }
                NormSource::Given(stats) => stats.layer(index).clone(),
            };
            self.normalize(index, raw, &stats, style)
        };
        let mut x = x;
        for index in 0..FIRST_RES_LAYER {
            x = step(index, x);
        }
        for block in 0..RES_BLOCKS {
            let first = FIRST_RES_LAYER + 2 * block;
            let inner = step(first, x.clone());
            x = x + step(first + 1, inner);
        }
        for index in FIRST_RES_LAYER + 2 * RES_BLOCKS..NUM_LAYERS {
            x = step(index, x);
        }
        x
    }
}

/// Nearest-neighbour 2× upsampling (each pixel becomes a 2×2 block), as the ONNX `Resize`.
pub fn upsample2<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1])
        .expand([n, c, h, 2, w, 2])
        .reshape([n, c, 2 * h, 2 * w])
}

fn check_channel_chain<B: Backend>(layers: &[CinConv<B>]) -> Result<()> {
    let mut channels = 3;
    for (layer, shape) in layers.iter().zip(LAYERS.iter()) {
        let dims = layer.weight.val().dims();
        if dims[1] != channels {
            return Err(Error::Weights(format!(
                "{} takes {} channels, the previous layer gives {channels}",
                shape.name, dims[1]
            )));
        }
        channels = dims[0];
    }
    if channels != 3 {
        return Err(Error::Weights(format!(
            "the network ends with {channels} channels, not 3"
        )));
    }
    Ok(())
}

/// Wraps planar `[channel][row][col]` values as a `[1, channels, height, width]` tensor.
pub fn planar_to_tensor<B: Backend>(
    planar: Vec<f32>,
    channels: usize,
    height: usize,
    width: usize,
    device: &B::Device,
) -> Tensor<B, 4> {
    Tensor::from_data(
        TensorData::new(planar, [1, channels, height, width]),
        device,
    )
}

/// Copies a `[1, C, h, w]` tensor back to planar host values.
pub fn tensor_to_planar<B: Backend>(t: Tensor<B, 4>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap_or_default()
}

/// The part of `t` (whose origin is at `origin` = (x, y)) covering `rect`, both in the same
/// coordinates.
pub fn crop<B: Backend>(
    t: Tensor<B, 4>,
    origin: (usize, usize),
    rect: crate::tiling::Rect,
) -> Tensor<B, 4> {
    let [n, c, _, _] = t.dims();
    let (ox, oy) = origin;
    t.slice([
        0..n,
        0..c,
        rect.y0 - oy..rect.y1 - oy,
        rect.x0 - ox..rect.x1 - ox,
    ])
}
