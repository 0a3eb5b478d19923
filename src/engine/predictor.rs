//! The style predictor of arbitrary stylization (a MobileNet-v2, described as data by
//! [`crate::network::arbitrary::predictor`]) as a burn module, generic over the backend. It runs
//! once per style image on a 256×256 copy, so burn's own kernels are fast enough.

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Tensor, TensorData};

use crate::network::arbitrary::{PredictOp, PREDICT_SIDE};

/// One convolution of the predictor with its bias.
#[derive(Module, Debug)]
pub struct PredictConv<B: Backend> {
    weight: Param<Tensor<B, 4>>,
    bias: Param<Tensor<B, 1>>,
}

/// The predictor network on a device.
#[derive(Debug)]
pub struct Predictor<B: Backend> {
    convs: Vec<PredictConv<B>>,
    ops: Vec<PredictOp>,
    device: B::Device,
}

impl<B: Backend> Predictor<B> {
    /// The predictor described by `ops`, on `device`.
    pub fn new(ops: Vec<PredictOp>, device: &B::Device) -> Self {
        let convs = ops
            .iter()
            .map(|op| PredictConv {
                weight: Param::from_data(
                    TensorData::new(
                        op.weight.clone(),
                        [
                            op.out_channels,
                            op.in_channels / op.groups,
                            op.kernel,
                            op.kernel,
                        ],
                    ),
                    device,
                ),
                bias: Param::from_data(TensorData::new(op.bias.clone(), [op.out_channels]), device),
            })
            .collect();
        Self {
            convs,
            ops,
            device: device.clone(),
        }
    }

    /// The style vector of a planar RGB image of `PREDICT_SIDE`² pixels in 0..1.
    pub fn predict(&self, rgb: &[f32]) -> Vec<f32> {
        let side = PREDICT_SIDE;
        let mut x = Tensor::<B, 4>::from_data(
            TensorData::new(rgb.to_vec(), [1, 3, side, side]),
            &self.device,
        );
        let mut inputs: Vec<Option<Tensor<B, 4>>> = vec![None; self.ops.len()];
        let is_skip_source = |i: usize| self.ops.iter().any(|o| o.skip_from == Some(i));
        for (i, (op, conv)) in self.ops.iter().zip(&self.convs).enumerate() {
            if op.pooled {
                x = x.mean_dim(2).mean_dim(3);
            }
            if is_skip_source(i) {
                inputs[i] = Some(x.clone());
            }
            let [top, left, bottom, right] = op.pads;
            let padded = x.pad((left, right, top, bottom), PadMode::Constant(0.0));
            let options = ConvOptions::new([op.stride, op.stride], [0, 0], [1, 1], op.groups);
            x = conv2d(padded, conv.weight.val(), Some(conv.bias.val()), options);
            if op.relu6 {
                x = x.clamp(0.0, 6.0);
            }
            if let Some(skip) = op.skip_from.and_then(|j| inputs[j].take()) {
                x = x + skip;
            }
        }
        x.into_data().to_vec::<f32>().unwrap_or_default()
    }
}
