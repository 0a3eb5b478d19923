//! Progress reporting, passed down by the caller: the stages report work done, the command line
//! draws it. A leaf module, so that no stage imports its caller to report progress.

/// Receives progress: the whole run's number of steps, named stages, one call per step; and
/// notes on decisions taken (colour handling, plan) for a verbose log. One bar can then show the
/// whole run, its estimate of the time left computed from all the work left, not a stage's.
pub trait Progress {
    /// The run will take `steps` steps in all (every stage's together).
    fn total(&mut self, _steps: usize) {}
    /// A new stage of `steps` steps begins.
    fn stage(&mut self, name: &str, steps: usize);
    /// One step of the current stage is done.
    fn step(&mut self);
    /// A decision worth telling a user who asked for details.
    fn note(&mut self, _text: &str) {}
    /// Something the user must know about the result (a conversion the output format forces).
    fn warn(&mut self, _text: &str) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&mut self, _name: &str, _steps: usize) {}
    fn step(&mut self) {}
}
