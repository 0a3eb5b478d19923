//! bigstyle's test suite, in one binary so that burn is linked once.

mod arbitrary;
mod cli;
mod cluster;
mod colour;
mod common;
mod formats;
mod golden;
mod io;
mod memory;
mod models;
mod poster;
mod resume;
mod tiling;
