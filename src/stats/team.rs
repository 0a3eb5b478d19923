//! Processes that compute one image's exact statistics together (MPI ranks, `--mpi`): each
//! sweeps the tile rows of its own band, the per-layer moments of all are merged in rank order
//! (so every process holds the same statistics), and after every sweep each process sends the
//! edge rows of the maps it wrote to its neighbours, which need them as halos.
//!
//! The transport is behind this trait, so that the exact computation does not depend on MPI.

use crate::norm::{Accumulator, Moments};

/// A group of processes working on one image, numbered `0 .. size`.
pub trait Team: std::fmt::Debug + Send + Sync {
    /// This process's number.
    fn rank(&self) -> usize;
    /// Number of processes.
    fn size(&self) -> usize;
    /// Every process's `values` (all of the same length), concatenated in rank order.
    fn all_gather(&self, values: &[f64]) -> Vec<f64>;
    /// Sends `values` to process `to` (blocking until it is received or buffered).
    fn send(&self, to: usize, values: &[f32]);
    /// Receives `len` values sent by process `from`.
    fn receive(&self, from: usize, len: usize) -> Vec<f32>;
    /// Waits until every process has reached this point.
    fn barrier(&self);
    /// Ends every process of the job with `code`: after an error on this one, the others would
    /// otherwise wait for it forever.
    fn abort(&self, code: i32) -> !;
}

/// The moments of every process merged in rank order: the same on every process.
pub fn merge_moments(team: &dyn Team, local: &Accumulator, channels: usize) -> Accumulator {
    let mine = local.moments(channels);
    let mut packed = Vec::with_capacity(1 + 2 * channels);
    packed.push(mine.count);
    packed.extend(&mine.mean);
    packed.extend(&mine.m2);
    let all = team.all_gather(&packed);
    let mut merged = Accumulator::default();
    for rank in all.chunks_exact(packed.len()) {
        merged.merge(&Moments {
            count: rank[0],
            mean: rank[1..1 + channels].to_vec(),
            m2: rank[1 + channels..].to_vec(),
        });
    }
    merged
}

/// One step of a shift along the chain of processes: `send` goes to its process, `receive`
/// (process, length) comes from its process; processes of even rank receive first and those
/// of odd rank send first, so that a chain of blocking sends never waits on itself.
pub fn shift(
    team: &dyn Team,
    send: Option<(usize, &[f32])>,
    receive: Option<(usize, usize)>,
) -> Option<Vec<f32>> {
    let recv = || receive.map(|(from, len)| team.receive(from, len));
    let post = || {
        if let Some((to, values)) = send {
            team.send(to, values);
        }
    };
    if team.rank().is_multiple_of(2) {
        let got = recv();
        post();
        got
    } else {
        post();
        recv()
    }
}
