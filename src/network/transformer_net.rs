//! User-trained models: PyTorch `fast_neural_style` TransformerNet checkpoints (pytorch/examples;
//! Johnson et al. 2016 with instance norm), read with burn-store's PyTorch reader, zip and
//! legacy formats alike.
//!
//! The architecture: a 9×9 conv 3→32, two stride-2 3×3 convs to 128 channels, five residual
//! blocks, two nearest-2×-upsample + 3×3 convs, a 9×9 conv to 3; reflection padding, biases,
//! instance norms with a learned affine, ReLU. Its input and output are in 0..255: the ×255 on
//! the input and the ÷255 on the output are folded into the first and last convolutions, so that
//! the network, like every other here, maps 0..1 to 0..1.

use std::collections::BTreeSet;
use std::path::Path;

use burn_store::pytorch::PytorchReader;

use super::{Activation, Layer, Network, Norm};
use crate::error::{Error, Result};

/// Family name in statistics files.
pub const FAMILY: &str = "transformer_net";

use Activation::{Identity, Relu};

/// One convolution of the table: conv module, norm module (`None`: not normalised), input and
/// output channels, kernel, stride, upsample, activation, skip source.
type Row = (
    &'static str,
    Option<&'static str>,
    usize,
    usize,
    usize,
    usize,
    bool,
    Activation,
    Option<usize>,
);

#[rustfmt::skip]
const TABLE: [Row; 16] = [
    ("conv1", Some("in1"), 3, 32, 9, 1, false, Relu, None),
    ("conv2", Some("in2"), 32, 64, 3, 2, false, Relu, None),
    ("conv3", Some("in3"), 64, 128, 3, 2, false, Relu, None),
    ("res1.conv1", Some("res1.in1"), 128, 128, 3, 1, false, Relu, None),
    ("res1.conv2", Some("res1.in2"), 128, 128, 3, 1, false, Identity, Some(3)),
    ("res2.conv1", Some("res2.in1"), 128, 128, 3, 1, false, Relu, None),
    ("res2.conv2", Some("res2.in2"), 128, 128, 3, 1, false, Identity, Some(5)),
    ("res3.conv1", Some("res3.in1"), 128, 128, 3, 1, false, Relu, None),
    ("res3.conv2", Some("res3.in2"), 128, 128, 3, 1, false, Identity, Some(7)),
    ("res4.conv1", Some("res4.in1"), 128, 128, 3, 1, false, Relu, None),
    ("res4.conv2", Some("res4.in2"), 128, 128, 3, 1, false, Identity, Some(9)),
    ("res5.conv1", Some("res5.in1"), 128, 128, 3, 1, false, Relu, None),
    ("res5.conv2", Some("res5.in2"), 128, 128, 3, 1, false, Identity, Some(11)),
    ("deconv1", Some("in4"), 128, 64, 3, 1, true, Relu, None),
    ("deconv2", Some("in5"), 64, 32, 3, 1, true, Relu, None),
    ("deconv3", None, 32, 3, 9, 1, false, Identity, None),
];

/// Loads a TransformerNet checkpoint, refusing one of another architecture with the first key or
/// shape that does not fit.
pub fn load(path: &Path) -> Result<Network> {
    let bad = |reason: String| Error::Model {
        path: path.into(),
        reason,
    };
    if !path.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    let reader =
        PytorchReader::new(path).map_err(|e| bad(format!("not a readable PyTorch file: {e}")))?;
    let mut unused: BTreeSet<String> = reader
        .keys()
        .into_iter()
        // Checkpoints saved with older PyTorch carry instance-norm running statistics, unused
        // with `track_running_stats` off (pytorch/examples drops them the same way).
        .filter(|k| {
            !(k.ends_with(".running_mean")
                || k.ends_with(".running_var")
                || k.ends_with(".num_batches_tracked"))
        })
        .collect();
    let mut take = |key: String, shape: &[usize]| -> Result<Vec<f32>> {
        let snapshot = reader.get(&key).ok_or_else(|| {
            bad(format!(
                "missing {key}: not a fast_neural_style TransformerNet"
            ))
        })?;
        if snapshot.shape.as_slice() != shape {
            return Err(bad(format!(
                "{key} has shape {:?}, a TransformerNet has {shape:?}",
                snapshot.shape.as_slice()
            )));
        }
        unused.remove(&key);
        let data = snapshot
            .to_data()
            .map_err(|e| bad(format!("{key}: {e:?}")))?;
        data.convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| bad(format!("{key}: {e:?}")))
    };
    let mut layers = Vec::with_capacity(TABLE.len());
    for (conv, norm, cin, cout, k, stride, upsample, activation, skip_from) in TABLE {
        let weight = take(format!("{conv}.conv2d.weight"), &[cout, cin, k, k])?;
        let bias = take(format!("{conv}.conv2d.bias"), &[cout])?;
        let norm = match norm {
            Some(n) => Norm::Affine {
                gamma: take(format!("{n}.weight"), &[cout])?,
                beta: take(format!("{n}.bias"), &[cout])?,
            },
            None => Norm::None,
        };
        layers.push(Layer {
            name: conv.into(),
            kernel: k,
            stride,
            upsample,
            in_channels: cin,
            out_channels: cout,
            weight,
            bias: Some(bias),
            norm,
            activation,
            skip_from,
        });
    }
    if let Some(extra) = unused.into_iter().next() {
        return Err(bad(format!(
            "unexpected {extra}: not a fast_neural_style TransformerNet"
        )));
    }
    fold_value_range(&mut layers);
    Network::new(FAMILY, layers, 1e-5)
}

/// Folds the network's 0..255 input and output into the first and last convolutions.
fn fold_value_range(layers: &mut [Layer]) {
    if let Some(first) = layers.first_mut() {
        first.weight.iter_mut().for_each(|w| *w *= 255.0);
    }
    if let Some(last) = layers.last_mut() {
        last.weight.iter_mut().for_each(|w| *w /= 255.0);
        if let Some(bias) = last.bias.as_mut() {
            bias.iter_mut().for_each(|b| *b /= 255.0);
        }
    }
}
