//! bigstyle: neural style transfer for huge images.
//!
//! The layers, each importing only those above it in this list:
//!
//! - shared types: [`geom`] (rectangles, reflection), [`network`] (the generator described as
//!   data, and its families), [`norm`] (moments and statistics), [`progress`], [`error`];
//! - [`engine`]: runs a network's layers on the CPU or through burn (CPU, CUDA);
//! - [`stats`]: whole-image normalisation statistics (exact sweeps, thumbnail, files), with
//!   [`tiling`] and [`scratch`] below it;
//! - image I/O and blending: [`io`] (readers, writers), [`colour`] (ICC), [`blend`], [`look`]
//!   (strength, preserved colour), [`memory`];
//! - [`style_image`]: style vectors from image files (arbitrary stylization);
//! - [`pipeline`]: one file from input to output, with one render path; [`batch`]: many;
//! - [`sheet`]: the contact sheet of styles on the user's image;
//! - [`stroke`]: stroke size for the print size (the pipeline at a smaller scale, then guided
//!   upsampling).
//!
//! The command line lives in the binary (`src/main.rs`).

pub mod batch;
pub mod blend;
pub mod colour;
pub mod engine;
pub mod error;
pub mod geom;
pub mod io;
pub mod look;
pub mod memory;
pub mod merge;
#[cfg(feature = "mpi")]
pub mod mpi_team;
pub mod network;
pub mod norm;
pub mod pipeline;
pub mod progress;
pub mod scratch;
pub mod sheet;
pub mod stats;
pub mod stroke;
pub mod style_image;
pub mod tiling;
pub mod transpose;

pub use error::{Error, Result};
pub use network::multistyle26::parse_style;
pub use pipeline::{stylize_file, stylize_whole, Options, Summary};

/// burn's CPU backend, on which the reference model runs.
pub type CpuBackend = burn::backend::Flex;
