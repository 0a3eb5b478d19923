//! How long a run should take, said before it starts (`bigstyle info`): its plan's work priced
//! with the layers' costs timed on the engine ([`LayerCosts::timed`]), the same costs from
//! which the progress bar weighs the exact run's stages.

use crate::network::Network;
use crate::scratch::ScratchPrecision;
use crate::stats::exact::{LayerCosts, Work, FRESH_NS_PER_BYTE};
use crate::stats::StatsMode;
use crate::tiling::TilePlan;

/// The fixed cost of one tile in one stage (a sweep, or the render): the calls into the engine
/// per layer, the map rows' reads and writes, the hand-over between the stages' threads. Fitted
/// to 2048² runs with tiles of 128 to 1024 px on the 2-core AVX2 development machine
/// (`benches/info_vs_real.sh`, docs/BENCHMARKS.md), where 128 px tiles took 45 % longer than
/// their pixels' cost.
const SECONDS_PER_TILE_STAGE: f64 = 0.5e-3;

/// The seconds a run of `net` over `plan` with statistics `mode` (and exact maps stored at
/// `precision`) should take when its layers cost `costs`: one pass where one window holds the
/// image, the exact sweeps and render otherwise; every window once, after the thumbnail's pass
/// for thumbnail statistics; every window once with a statistics file. Each stage adds a fixed
/// cost per tile, and the engine's working memory for the largest window (`bytes_per_pixel`
/// of it) costs fresh pages once.
pub fn run_seconds(
    net: &Network,
    costs: &LayerCosts,
    bytes_per_pixel: u64,
    plan: &TilePlan,
    mode: &StatsMode,
    precision: ScratchPrecision,
) -> f64 {
    let windows = plan.tiles().map(|t| t.window.area()).sum::<usize>() as f64;
    let largest = plan.tiles().map(|t| t.window.area()).max().unwrap_or(0);
    let working_memory = (largest as u64 * bytes_per_pixel) as f64 * FRESH_NS_PER_BYTE * 1e-9;
    let output = (plan.width * plan.height) as f64;
    let (stages, seconds) = match mode {
        StatsMode::Exact if plan.is_one_window() => {
            (1, costs.one_pass_seconds(windows, output, true))
        }
        StatsMode::Exact => {
            let image = (plan.padded_width * plan.padded_height) as f64;
            let work = Work::of(net, precision, costs);
            (work.sweeps.len() + 1, image * work.seconds_per_pixel())
        }
        StatsMode::Thumbnail(side) => {
            let thumbnail = (side * side) as f64;
            (
                1,
                costs.one_pass_seconds(windows + thumbnail, output, false),
            )
        }
        StatsMode::File(_) => (1, costs.one_pass_seconds(windows, output, false)),
    };
    seconds + working_memory + (stages * plan.len()) as f64 * SECONDS_PER_TILE_STAGE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::multistyle26;

    fn plan(side: usize, tile: usize, overlap: usize) -> TilePlan {
        let net = multistyle26::builtin();
        TilePlan::new(side, side, tile, overlap, net.geometry()).unwrap()
    }

    fn seconds(plan: &TilePlan, mode: StatsMode) -> f64 {
        let net = multistyle26::builtin();
        let costs = LayerCosts::counted(&net);
        run_seconds(&net, &costs, 0, plan, &mode, ScratchPrecision::F32)
    }

    #[test]
    fn the_estimate_counts_what_each_mode_runs() {
        let file = || StatsMode::File("stats.json".into());
        // One window: one pass, what a statistics file's run over the same window costs.
        let whole = plan(512, 512, 0);
        assert_eq!(whole.len(), 1);
        assert_eq!(seconds(&whole, StatsMode::Exact), seconds(&whole, file()));
        // Tiles with context run more pixels than the image; the exact sweeps cost more than
        // one pass; the thumbnail adds its own pass.
        let (tiled, abutting) = (plan(1024, 256, 64), plan(1024, 256, 0));
        let with_context = seconds(&tiled, file());
        assert!(with_context > 1.2 * seconds(&abutting, file()));
        assert!(seconds(&tiled, StatsMode::Exact) > 1.2 * seconds(&abutting, file()));
        let thumbnail = seconds(&tiled, StatsMode::Thumbnail(256));
        let costs = LayerCosts::counted(&multistyle26::builtin());
        let thumbnail_pass = costs.one_pass_seconds(256.0 * 256.0, 0.0, false);
        assert!(thumbnail_pass > 0.0);
        assert!((thumbnail - with_context - thumbnail_pass).abs() < 1e-9 * thumbnail);
        // Each tile of each stage has a fixed cost: smaller tiles over the same image cost more.
        let small = plan(1024, 64, 0);
        let extra = (small.len() - abutting.len()) as f64 * SECONDS_PER_TILE_STAGE;
        let more = seconds(&small, file()) - seconds(&abutting, file());
        assert!((more - extra).abs() < 1e-9, "{more} {extra}");
        // The engine's working memory over the largest window costs its fresh pages once.
        let net = multistyle26::builtin();
        let costs = LayerCosts::counted(&net);
        let with_memory = run_seconds(&net, &costs, 200, &small, &file(), ScratchPrecision::F32);
        let window = small.tiles().map(|t| t.window.area()).max().unwrap() as f64;
        let fresh = 200.0 * window * FRESH_NS_PER_BYTE * 1e-9;
        assert!((with_memory - seconds(&small, file()) - fresh).abs() < 1e-9);
    }
}
