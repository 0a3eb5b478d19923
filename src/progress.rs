//! Progress reporting, passed down by the caller: the stages report work done, the command line
//! draws it. A leaf module, so that no stage imports its caller to report progress.

/// Receives progress: the whole run's number of steps, named stages, one call per step; and
/// notes on decisions taken (colour handling, plan) for a verbose log. One bar can then show the
/// whole run, its estimate of the time left computed from all the work left, not a stage's.
///
/// Steps are units of work: the stages weigh each tile by the arithmetic and traffic it costs
/// ([`work_units`]), so that a tile of a full-resolution sweep counts several times one of a
/// quarter-resolution sweep, as it takes several times as long.
pub trait Progress {
    /// Whether a person watches this progress: then the stages' weights are worth timing on
    /// this machine (a few tenths of a second) rather than counted.
    fn shown(&self) -> bool {
        false
    }
    /// The run will take `steps` steps in all (every stage's together).
    fn total(&mut self, _steps: usize) {}
    /// A new stage of `steps` steps begins.
    fn stage(&mut self, name: &str, steps: usize);
    /// `steps` steps of the current stage are done.
    fn advance(&mut self, steps: usize);
    /// One step of the current stage is done.
    fn step(&mut self) {
        self.advance(1);
    }
    /// A decision worth telling a user who asked for details.
    fn note(&mut self, _text: &str) {}
    /// Something the user must know about the result (a conversion the output format forces).
    fn warn(&mut self, _text: &str) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&mut self, _name: &str, _steps: usize) {}
    fn advance(&mut self, _steps: usize) {}
}

/// Multiply-add equivalents in one unit of progress.
const MACS_PER_UNIT: f64 = 1e6;

/// The progress units of `pixels` pixels of work that costs `per_pixel` multiply-add
/// equivalents each (at least one unit, so that every tile moves the bar).
pub fn work_units(per_pixel: f64, pixels: usize) -> usize {
    ((per_pixel * pixels as f64) / MACS_PER_UNIT)
        .round()
        .max(1.0) as usize
}
