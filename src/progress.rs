//! Progress reporting, passed down by the caller: the stages report work done, the command line
//! draws it. A leaf module, so that no stage imports its caller to report progress.

/// Receives progress: a named stage of a known number of steps, then one call per step; and
/// notes on decisions taken (colour handling, plan) for a verbose log.
pub trait Progress {
    /// A new stage begins.
    fn stage(&mut self, name: &str, steps: usize);
    /// One step of the current stage is done.
    fn step(&mut self);
    /// A decision worth telling a user who asked for details.
    fn note(&mut self, _text: &str) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&mut self, _name: &str, _steps: usize) {}
    fn step(&mut self) {}
}
