//! Typed errors of the library. Every message reads well after `error: <file>: `.

use std::path::PathBuf;

/// Anything that can go wrong while stylizing an image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed at the operating-system level.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The input could not be decoded (truncated, corrupted, lying header).
    #[error("{path}: cannot decode image ({reason})")]
    Decode {
        /// The file involved.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The input is a valid image of a kind bigstyle does not handle.
    #[error("{path}: unsupported image ({reason})")]
    Unsupported {
        /// The file involved.
        path: PathBuf,
        /// Which property is unsupported.
        reason: String,
    },
    /// The image is smaller than the network can process.
    #[error("image is {width}x{height} px; the network needs at least {min}x{min} px")]
    TooSmall {
        /// Image width.
        width: usize,
        /// Image height.
        height: usize,
        /// Minimum side.
        min: usize,
    },
    /// A command-line or API option is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The embedded or given weight file is malformed.
    #[error("bad weights: {0}")]
    Weights(String),
    /// A model file is unreadable or not of the architecture it claims.
    #[error("{path}: bad model ({reason})")]
    Model {
        /// The file involved.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// The requested compute device cannot be used.
    #[error("--device {0}")]
    Device(String),
    /// A statistics file is malformed or belongs to another style or network.
    #[error("{path}: bad statistics file ({reason})")]
    Stats {
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the file it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
