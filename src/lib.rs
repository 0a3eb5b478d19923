//! bigstyle: neural style transfer for huge images.
//!
//! The image is read in sRGB ([`colour`] converts from its profile and back), cut into
//! stride-aligned overlapping tiles ([`tiling`]), normalised with statistics of the whole image
//! ([`stats`]), run tile by tile through the generator ([`model`]), blended with feathered seams
//! ([`blend`]) and streamed to a memory-mapped output ([`io`]); [`pipeline`] connects the stages
//! and [`cli`] is the command line on top.

pub mod blend;
pub mod cli;
pub mod colour;
pub mod error;
pub mod io;
pub mod memory;
pub mod model;
pub mod pipeline;
pub mod scratch;
pub mod stats;
pub mod tiling;
pub mod weights;

pub use error::{Error, Result};
pub use pipeline::{parse_style, stylize_file, stylize_whole, Options, Summary};

/// burn's CPU backend, on which the reference model runs.
pub type CpuBackend = burn::backend::Flex;
