//! The built-in 26-style network of Dumoulin, Shlens and Kudlur, *A Learned Representation for
//! Artistic Style* (ICLR 2017), as shipped in the TensorFlow Android "stylize" demo: one table
//! of layers, and its weights embedded in the binary (converted by `tools/convert_weights.py`).

use super::bsw::{self, NamedTensor};
use super::{Activation, Layer, Network, Norm, StyleCode};
use crate::error::{Error, Result};

/// Number of styles the network was trained on.
pub const NUM_STYLES: usize = 26;
/// Family name in statistics files.
pub const FAMILY: &str = "multistyle26";

const EMBEDDED_WEIGHTS: &[u8] = include_bytes!("multistyle26.bsw");

use Activation::{Identity, Relu, Sigmoid};

/// One layer of the table: ONNX name prefix, kernel, stride, upsample, activation, skip source.
type Row = (&'static str, usize, usize, bool, Activation, Option<usize>);

/// The layers in order. Residual blocks add the input of their first convolution after their
/// second.
const TABLE: [Row; 18] = [
    ("contract.0", 9, 1, false, Relu, None),
    ("contract.1", 3, 2, false, Relu, None),
    ("contract.2", 3, 2, false, Relu, None),
    ("res.0.0", 3, 1, false, Relu, None),
    ("res.0.1", 3, 1, false, Identity, Some(3)),
    ("res.1.0", 3, 1, false, Relu, None),
    ("res.1.1", 3, 1, false, Identity, Some(5)),
    ("res.2.0", 3, 1, false, Relu, None),
    ("res.2.1", 3, 1, false, Identity, Some(7)),
    ("res.3.0", 3, 1, false, Relu, None),
    ("res.3.1", 3, 1, false, Identity, Some(9)),
    ("res.4.0", 3, 1, false, Relu, None),
    ("res.4.1", 3, 1, false, Identity, Some(11)),
    ("res.5.0", 3, 1, false, Relu, None),
    ("res.5.1", 3, 1, false, Identity, Some(13)),
    ("expand.0", 3, 1, true, Relu, None),
    ("expand.1", 3, 1, true, Relu, None),
    ("expand.2", 9, 1, false, Sigmoid, None),
];

/// The network with its embedded weights.
pub fn builtin() -> Network {
    // The embedded file is produced by tools/convert_weights.py and checked by the tests; a
    // malformed one is a build defect, not an input error.
    from_bytes(EMBEDDED_WEIGHTS).expect("embedded multistyle26 weights are well-formed")
}

/// Builds the network from weights in the `BSW1` format (`<name>.w`, `<name>.norm.gamma`,
/// `<name>.norm.beta` per layer).
pub fn from_bytes(bytes: &[u8]) -> Result<Network> {
    let tensors = bsw::parse(bytes)?;
    let mut layers = Vec::with_capacity(TABLE.len());
    let mut channels = 3;
    for (name, kernel, stride, upsample, activation, skip_from) in TABLE {
        let weight = find(&tensors, &format!("{name}.w"))?;
        let out = weight.dims.first().copied().unwrap_or(0);
        if weight.dims != [out, channels, kernel, kernel] {
            return Err(Error::Weights(format!(
                "{name}.w has shape {:?}, expected [_, {channels}, {kernel}, {kernel}]",
                weight.dims
            )));
        }
        let rows = |part: &str| -> Result<Vec<f32>> {
            let t = find(&tensors, &format!("{name}.norm.{part}"))?;
            if t.dims != [NUM_STYLES, out] {
                return Err(Error::Weights(format!("{} has shape {:?}", t.name, t.dims)));
            }
            Ok(t.data.clone())
        };
        layers.push(Layer {
            name: name.into(),
            kernel,
            stride,
            upsample,
            in_channels: channels,
            out_channels: out,
            weight: weight.data.clone(),
            bias: None,
            norm: Norm::Conditional {
                styles: NUM_STYLES,
                gamma: rows("gamma")?,
                beta: rows("beta")?,
            },
            activation,
            skip_from,
        });
        channels = out;
    }
    Network::new(FAMILY, layers, 1e-5)
}

fn find<'a>(tensors: &'a [NamedTensor], name: &str) -> Result<&'a NamedTensor> {
    tensors
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| Error::Weights(format!("missing tensor {name}")))
}

/// Parses a style spec: `7` picks style 7, `3:0.5,12:0.5` blends; weights are normalised.
pub fn parse_style(spec: &str) -> Result<StyleCode> {
    let bad = |why: &str| Error::InvalidOption(format!("--style {spec:?}: {why}"));
    let mut weights = [0.0f32; NUM_STYLES];
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (index, weight) = match part.split_once(':') {
            Some((i, w)) => (i, w.trim().parse::<f32>().map_err(|_| bad("bad weight"))?),
            None => (part, 1.0),
        };
        let index: usize = index
            .trim()
            .parse()
            .map_err(|_| bad("use e.g. 7 or 3:0.5,12:0.5"))?;
        if index >= NUM_STYLES {
            return Err(bad(&format!("style index must be 0 to {}", NUM_STYLES - 1)));
        }
        if !weight.is_finite() || weight < 0.0 {
            return Err(bad("weights must be non-negative numbers"));
        }
        weights[index] += weight;
    }
    let total: f32 = weights.iter().sum();
    if total <= 0.0 {
        return Err(bad("no style with a positive weight"));
    }
    Ok(StyleCode::Mix(weights.iter().map(|w| w / total).collect()))
}
