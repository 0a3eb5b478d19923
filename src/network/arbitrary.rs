//! Magenta arbitrary image stylization (Ghiasi, Lee, Kudlur, Dumoulin, Shlens, BMVC 2017), the
//! TFLite version: a style predictor (MobileNet-v2) maps any image to a 100-value style vector,
//! and a transformer network stylizes with that vector, whose instance norms take their gamma
//! and beta from it through 1×1 convolutions. Both are converted from the int8 ONNX exports in
//! `shared/models` by `tools/convert_arbitrary.py` (weights dequantized, run in float) and
//! embedded.

use std::sync::OnceLock;

use super::bsw::{self, NamedTensor};
use super::{Activation, Layer, Network, Norm};
use crate::error::{Error, Result};

/// Family name in statistics files.
pub const FAMILY: &str = "arbitrary";
/// Length of the style vector.
pub const STYLE_DIM: usize = 100;
/// Side of the square image the predictor sees.
pub const PREDICT_SIDE: usize = 256;

const EMBEDDED_WEIGHTS: &[u8] = include_bytes!("arbitrary.bsw");

use Activation::{Identity, Relu, Sigmoid};

/// One transformer layer of the table: name, kernel, stride, upsample, style-normalised,
/// activation, skip source. The contract layers carry a batch norm folded into their bias.
type Row = (
    &'static str,
    usize,
    usize,
    bool,
    bool,
    Activation,
    Option<usize>,
);

#[rustfmt::skip]
const TABLE: [Row; 16] = [
    ("contract.conv1", 9, 1, false, false, Relu, None),
    ("contract.conv2", 3, 2, false, false, Relu, None),
    ("contract.conv3", 3, 2, false, false, Relu, None),
    ("residual1.conv1", 3, 1, false, true, Relu, None),
    ("residual1.conv2", 3, 1, false, true, Identity, Some(3)),
    ("residual2.conv1", 3, 1, false, true, Relu, None),
    ("residual2.conv2", 3, 1, false, true, Identity, Some(5)),
    ("residual3.conv1", 3, 1, false, true, Relu, None),
    ("residual3.conv2", 3, 1, false, true, Identity, Some(7)),
    ("residual4.conv1", 3, 1, false, true, Relu, None),
    ("residual4.conv2", 3, 1, false, true, Identity, Some(9)),
    ("residual5.conv1", 3, 1, false, true, Relu, None),
    ("residual5.conv2", 3, 1, false, true, Identity, Some(11)),
    ("expand.conv1", 3, 1, true, true, Relu, None),
    ("expand.conv2", 3, 1, true, true, Relu, None),
    ("expand.conv3", 9, 1, false, true, Sigmoid, None),
];

/// The embedded weights' tensors, parsed once.
fn tensors() -> &'static [NamedTensor] {
    static TENSORS: OnceLock<Vec<NamedTensor>> = OnceLock::new();
    // The embedded file is produced by tools/convert_arbitrary.py and checked by the tests; a
    // malformed one is a build defect, not an input error.
    TENSORS.get_or_init(|| {
        bsw::parse(EMBEDDED_WEIGHTS).expect("embedded arbitrary weights are well-formed")
    })
}

fn find<'a>(tensors: &'a [NamedTensor], name: &str) -> Result<&'a NamedTensor> {
    tensors
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| Error::Weights(format!("missing tensor {name}")))
}

/// The transformer network with its embedded weights.
pub fn transformer() -> Network {
    build_transformer(tensors()).expect("embedded arbitrary transformer is well-formed")
}

fn build_transformer(tensors: &[NamedTensor]) -> Result<Network> {
    let mut layers = Vec::with_capacity(TABLE.len());
    for (name, kernel, stride, upsample, styled, activation, skip_from) in TABLE {
        let t = |part: &str| find(tensors, &format!("transform.{name}.{part}"));
        let weight = t("w")?;
        let [out, inp] = [weight.dims.first(), weight.dims.get(1)].map(|d| d.copied().unwrap_or(0));
        let norm = if styled {
            Norm::Predicted {
                dim: STYLE_DIM,
                gamma_w: t("gamma_w")?.data.clone(),
                gamma_b: t("gamma_b")?.data.clone(),
                beta_w: t("beta_w")?.data.clone(),
                beta_b: t("beta_b")?.data.clone(),
            }
        } else {
            Norm::None
        };
        layers.push(Layer {
            name: name.into(),
            kernel,
            stride,
            upsample,
            in_channels: inp,
            out_channels: out,
            weight: weight.data.clone(),
            bias: Some(t("b")?.data.clone()),
            norm,
            activation,
            skip_from,
        });
    }
    Network::new(FAMILY, layers, 1e-5)
}

/// One convolution of the style predictor, as the converter read it from the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictOp {
    /// Weights `[out][in / groups][k][k]`.
    pub weight: Vec<f32>,
    /// Bias `[out]` (batch norm folded in).
    pub bias: Vec<f32>,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Groups (`in_channels` for a depthwise convolution).
    pub groups: usize,
    /// Zero padding: top, left, bottom, right (TensorFlow's `SAME` is asymmetric).
    pub pads: [usize; 4],
    /// Whether `min(max(x, 0), 6)` follows.
    pub relu6: bool,
    /// Index of an earlier op whose input is added to this op's output.
    pub skip_from: Option<usize>,
    /// Whether a global average pool precedes this op.
    pub pooled: bool,
}

/// The style predictor: a chain of convolutions ending in the style vector.
pub fn predictor() -> Vec<PredictOp> {
    build_predictor(tensors()).expect("embedded arbitrary predictor is well-formed")
}

fn build_predictor(tensors: &[NamedTensor]) -> Result<Vec<PredictOp>> {
    let mut ops: Vec<PredictOp> = Vec::new();
    let mut channels = 3;
    while let Ok(meta) = find(tensors, &format!("predict.{}.meta", ops.len())) {
        let i = ops.len();
        let weight = find(tensors, &format!("predict.{i}.w"))?;
        let bias = find(tensors, &format!("predict.{i}.b"))?;
        let m: Vec<usize> = meta.data.iter().map(|v| v.max(0.0) as usize).collect();
        let [k, stride, groups, top, left, bottom, right, relu6, _, pooled] = m[..] else {
            return Err(Error::Weights(format!(
                "predict.{i}.meta has {} values",
                m.len()
            )));
        };
        let out = weight.dims.first().copied().unwrap_or(0);
        let fits = groups > 0
            && channels % groups == 0
            && weight.dims == [out, channels / groups, k, k]
            && bias.dims == [out];
        if !fits {
            return Err(Error::Weights(format!(
                "predict.{i} has shape {:?}",
                weight.dims
            )));
        }
        let skip_from = (meta.data[8] >= 0.0).then_some(m[8]);
        ops.push(PredictOp {
            weight: weight.data.clone(),
            bias: bias.data.clone(),
            in_channels: channels,
            out_channels: out,
            kernel: k,
            stride,
            groups,
            pads: [top, left, bottom, right],
            relu6: relu6 == 1,
            skip_from,
            pooled: pooled == 1,
        });
        channels = out;
    }
    if channels != STYLE_DIM {
        return Err(Error::Weights(format!(
            "the predictor ends with {channels} values, not {STYLE_DIM}"
        )));
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_networks_have_the_published_shapes() {
        let net = transformer();
        assert_eq!(net.len(), 16);
        assert_eq!(net.geometry().stride, 4);
        assert_eq!(
            net.layers.iter().filter(|l| l.norm.is_instance()).count(),
            13
        );
        let ops = predictor();
        assert_eq!(ops.len(), 53);
        assert_eq!(ops.iter().filter(|o| o.skip_from.is_some()).count(), 10);
        assert!(ops.last().is_some_and(|o| o.pooled && !o.relu6));
    }
}
