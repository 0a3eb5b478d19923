//! Parser of the `BSW1` weight format written by the converters in `tools/` (built-in weights).

use crate::error::{Error, Result};

/// One named tensor of a weight file.
#[derive(Debug, Clone)]
pub struct NamedTensor {
    /// ONNX initializer name, e.g. `res.3.1.w`.
    pub name: String,
    /// Shape, outermost first.
    pub dims: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| Error::Weights(format!("truncated at byte {}", self.at)))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<usize> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
}

/// Parses a `BSW1` file into its tensors, checking every length against the buffer.
pub fn parse(bytes: &[u8]) -> Result<Vec<NamedTensor>> {
    let mut cur = Cursor { bytes, at: 0 };
    if cur.take(4)? != b"BSW1" {
        return Err(Error::Weights("not a BSW1 weight file".into()));
    }
    let count = cur.u32()?;
    let mut tensors = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let name_len = cur.u32()?;
        let name = String::from_utf8(cur.take(name_len)?.to_vec())
            .map_err(|_| Error::Weights("tensor name is not UTF-8".into()))?;
        let rank = cur.u32()?;
        let dims = (0..rank).map(|_| cur.u32()).collect::<Result<Vec<_>>>()?;
        let len = dims
            .iter()
            .try_fold(1usize, |acc, d| acc.checked_mul(*d))
            .ok_or_else(|| Error::Weights(format!("tensor {name} is too large")))?;
        let raw = cur.take(
            len.checked_mul(4)
                .ok_or_else(|| Error::Weights(format!("tensor {name} is too large")))?,
        )?;
        let data = raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.push(NamedTensor { name, dims, data });
    }
    if cur.at != bytes.len() {
        return Err(Error::Weights(format!(
            "{} trailing bytes",
            bytes.len() - cur.at
        )));
    }
    Ok(tensors)
}
