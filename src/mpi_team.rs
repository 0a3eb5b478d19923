//! The MPI transport of a [`Team`] (`--features mpi`, `mpirun -n R bigstyle --mpi …`): the ranks
//! of `MPI_COMM_WORLD`. bigstyle calls MPI from its main thread only, but a `Team` may be shared
//! like the rest of the options, so MPI is initialised for full thread support
//! (`MPI_THREAD_MULTIPLE`) and refused where the library cannot give it.

use mpi::environment::{Threading, Universe};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Destination, Source};

use crate::error::{Error, Result};
use crate::stats::team::Team;

/// The processes of `MPI_COMM_WORLD`.
pub struct MpiTeam {
    world: SimpleCommunicator,
    /// Finalises MPI when dropped.
    _universe: Universe,
}

impl MpiTeam {
    /// Initialises MPI (once per process).
    pub fn init() -> Result<Self> {
        let (universe, _) =
            mpi::initialize_with_threading(Threading::Funneled).ok_or_else(|| {
                Error::InvalidOption(
                    "--mpi: MPI could not be initialised (already initialised?)".into(),
                )
            })?;
        Ok(Self {
            world: universe.world(),
            _universe: universe,
        })
    }
}

// SAFETY: MPI was initialised with MPI_THREAD_MULTIPLE (checked in `init`), under which any
// thread may call MPI on a communicator; the handles are only read after initialisation.
unsafe impl Send for MpiTeam {}
// SAFETY: as above.
unsafe impl Sync for MpiTeam {}

impl std::fmt::Debug for MpiTeam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MPI rank {} of {}", self.rank(), self.size())
    }
}

impl Team for MpiTeam {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_gather(&self, values: &[f64]) -> Vec<f64> {
        let mut all = vec![0.0f64; values.len() * self.size()];
        self.world.all_gather_into(values, &mut all[..]);
        all
    }

    fn send(&self, to: usize, values: &[f32]) {
        self.world.process_at_rank(to as i32).send(values);
    }

    fn receive(&self, from: usize, len: usize) -> Vec<f32> {
        let mut values = vec![0.0f32; len];
        self.world
            .process_at_rank(from as i32)
            .receive_into(&mut values[..]);
        values
    }

    fn barrier(&self) {
        self.world.barrier();
    }

    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
