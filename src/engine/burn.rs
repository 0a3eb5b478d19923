//! Any [`Network`] as a burn [`Module`], generic over the backend: the reference implementation
//! (tested against onnxruntime's and PyTorch's outputs) and the path for GPU backends.

use burn::module::{Module, Param};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Tensor, TensorData};

use super::Engine;
use crate::geom::Rect;
use crate::network::{multistyle26, Activation, Network};
use crate::norm::Moments;

/// One convolution of the generator (its normalisation coefficients are computed on the host
/// from the statistics and the style, see [`crate::network::StyleAffine`]).
#[derive(Module, Debug)]
pub struct Conv<B: Backend> {
    weight: Param<Tensor<B, 4>>,
    stride: usize,
    upsample: bool,
}

/// The generator's convolutions as a burn module.
#[derive(Module, Debug)]
pub struct Generator<B: Backend> {
    convs: Vec<Conv<B>>,
}

impl<B: Backend> Generator<B> {
    /// Builds the module from a checked network.
    pub fn new(net: &Network, device: &B::Device) -> Self {
        let convs = net
            .layers
            .iter()
            .map(|l| Conv {
                weight: Param::from_data(
                    TensorData::new(
                        l.weight.clone(),
                        [l.out_channels, l.in_channels, l.kernel, l.kernel],
                    ),
                    device,
                ),
                stride: l.stride,
                upsample: l.upsample,
            })
            .collect();
        Self { convs }
    }

    /// Upsamples where the layer does, reflect-pads and convolves: the raw layer output.
    pub fn conv_raw(&self, index: usize, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let conv = &self.convs[index];
        let x = if conv.upsample { upsample2(x) } else { x };
        let [_, _, k, _] = conv.weight.dims();
        let pad = k / 2;
        let x = x.pad((pad, pad, pad, pad), PadMode::Reflect);
        conv2d(
            x,
            conv.weight.val(),
            None,
            ConvOptions::new([conv.stride, conv.stride], [0, 0], [1, 1], 1),
        )
    }
}

/// Nearest-neighbour 2× upsampling (each pixel becomes a 2×2 block), as the ONNX `Resize`.
pub fn upsample2<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1])
        .expand([n, c, h, 2, w, 2])
        .reshape([n, c, 2 * h, 2 * w])
}

/// The burn module and its device, as an [`Engine`].
pub struct BurnEngine<B: Backend> {
    net: Network,
    model: Generator<B>,
    device: B::Device,
}

impl<B: Backend> BurnEngine<B> {
    /// The engine for `net` on `device`.
    pub fn new(net: Network, device: &B::Device) -> Self {
        Self {
            model: Generator::new(&net, device),
            net,
            device: device.clone(),
        }
    }

    /// The built-in 26-style network on `device`.
    pub fn builtin(device: &B::Device) -> Self {
        Self::new(multistyle26::builtin(), device)
    }

    fn per_channel(&self, values: &[f32], channels: usize) -> Tensor<B, 4> {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [1, channels, 1, 1]),
            &self.device,
        )
    }
}

impl<B: Backend> Engine for BurnEngine<B> {
    type Act = Tensor<B, 4>;

    fn name(&self) -> String {
        format!("burn-{}", B::name(&self.device))
    }

    fn finish(&self) {
        // Only timing waits here; a failed execution shows again at the next download, which
        // reports it.
        B::sync(&self.device).ok();
    }

    fn network(&self) -> &Network {
        &self.net
    }

    fn upload(&self, planar: Vec<f32>, channels: usize, height: usize, width: usize) -> Self::Act {
        Tensor::from_data(
            TensorData::new(planar, [1, channels, height, width]),
            &self.device,
        )
    }

    /// burn keeps more intermediates alive (separate pad, conv and norm tensors): twice the CPU
    /// engine's figure, a deliberately safe bound.
    fn bytes_per_pixel(&self) -> u64 {
        (8.8 * self.net.peak_floats_per_pixel()).ceil() as u64
    }

    fn download(&self, x: Self::Act) -> Vec<f32> {
        x.into_data().to_vec::<f32>().unwrap_or_default()
    }

    fn conv_raw(&self, layer: usize, x: Self::Act) -> Self::Act {
        self.model.conv_raw(layer, x)
    }

    fn scale_shift(&self, layer: usize, raw: Self::Act, scale: &[f32], shift: &[f32]) -> Self::Act {
        let channels = scale.len();
        let y = raw
            .mul(self.per_channel(scale, channels))
            .add(self.per_channel(shift, channels));
        match self.net.layers[layer].activation {
            Activation::Relu => relu(y),
            Activation::Identity => y,
            Activation::Sigmoid => sigmoid(y),
        }
    }

    fn add(&self, a: Self::Act, b: Self::Act) -> Self::Act {
        a + b
    }

    fn crop(&self, x: Self::Act, origin: (usize, usize), rect: Rect) -> Self::Act {
        let [n, c, _, _] = x.dims();
        let (ox, oy) = origin;
        x.slice([
            0..n,
            0..c,
            rect.y0 - oy..rect.y1 - oy,
            rect.x0 - ox..rect.x1 - ox,
        ])
    }

    /// Row sums are reduced on the device (short f32 sums), then summed in f64 on the host:
    /// only `channels × rows` values cross to the host.
    fn moments(&self, x: &Self::Act) -> Moments {
        let [_, channels, h, w] = x.dims();
        let n = (h * w) as f64;
        let row_sums = |t: Tensor<B, 4>| -> Vec<f64> {
            let sums = t.sum_dim(3).into_data().to_vec::<f32>().unwrap_or_default();
            (0..channels)
                .map(|c| sums[c * h..(c + 1) * h].iter().map(|v| f64::from(*v)).sum())
                .collect()
        };
        let mean: Vec<f64> = row_sums(x.clone()).into_iter().map(|s| s / n).collect();
        let centre: Vec<f32> = mean.iter().map(|m| *m as f32).collect();
        let deviation = x.clone().sub(self.per_channel(&centre, channels));
        let m2_about_centre = row_sums(deviation.clone() * deviation);
        // Shift the sum of squares from the f32-rounded centre to the exact mean.
        let m2 = m2_about_centre
            .iter()
            .zip(mean.iter().zip(&centre))
            .map(|(s, (m, c))| {
                let d = m - f64::from(*c);
                (s - n * d * d).max(0.0)
            })
            .collect();
        Moments { count: n, mean, m2 }
    }
}
