//! The tiling plan: where each tile's core lies, how much context it reads around it, and how
//! wide the feathered seam between neighbours is.
//!
//! The image is first extended by reflection to a multiple of the network's stride (as the
//! reference implementation does). Tile cores are `tile` px on a grid that starts at 0, so every
//! origin is a multiple of the stride; each tile reads `overlap` px of context on every side
//! that is not an image edge. Seams sit in the middle of the overlap, feathered over a band in
//! which both neighbours still have the network's full receptive field of context.

use crate::error::{Error, Result};
use crate::geom::Rect;
use crate::network::Geometry;

/// One tile of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    /// Column in the tile grid.
    pub col: usize,
    /// Row in the tile grid.
    pub row: usize,
    /// The pixels this tile owns (before feathering), in padded-image coordinates.
    pub core: Rect,
    /// The pixels the network reads for this tile: the core plus context, clipped to the image.
    pub window: Rect,
}

/// How an image is cut into tiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TilePlan {
    /// Image width (px).
    pub width: usize,
    /// Image height (px).
    pub height: usize,
    /// Width extended to a multiple of the stride.
    pub padded_width: usize,
    /// Height extended to a multiple of the stride.
    pub padded_height: usize,
    /// Core tile side (px).
    pub tile: usize,
    /// Context read around each core (px).
    pub overlap: usize,
    /// Half-width of the feathered seam band (px).
    pub feather: usize,
    /// Core edges along x: `cols + 1` increasing values from 0 to `padded_width`.
    pub x_edges: Vec<usize>,
    /// Core edges along y: `rows + 1` increasing values from 0 to `padded_height`.
    pub y_edges: Vec<usize>,
    /// The network's constraints the plan respects.
    pub geometry: Geometry,
    /// For a periodic plan (`--wrap`), the margin of repeated image around the image on every
    /// side; 0 otherwise.
    pub wrap_margin: usize,
}

/// Smallest tile side accepted.
pub const MIN_TILE: usize = 32;
/// Shortest ragged last core (px); a shorter one joins the core before it.
pub const MIN_LAST_CORE: usize = 16;

impl TilePlan {
    /// Plans tiles of `tile` px with `overlap` px of context for a `width × height` image and a
    /// network of the given geometry.
    pub fn new(
        width: usize,
        height: usize,
        tile: usize,
        overlap: usize,
        geometry: Geometry,
    ) -> Result<Self> {
        let (stride, min) = (geometry.stride, geometry.min_side);
        if width < min || height < min {
            return Err(Error::TooSmall { width, height, min });
        }
        if tile < MIN_TILE || !tile.is_multiple_of(stride) {
            return Err(Error::InvalidOption(format!(
                "--tile {tile}: must be a multiple of {stride} and at least {MIN_TILE}"
            )));
        }
        if !overlap.is_multiple_of(stride) {
            return Err(Error::InvalidOption(format!(
                "--overlap {overlap}: must be a multiple of {stride} (the network's stride)"
            )));
        }
        let padded_width = width.next_multiple_of(stride);
        let padded_height = height.next_multiple_of(stride);
        Ok(Self {
            width,
            height,
            padded_width,
            padded_height,
            tile,
            overlap,
            feather: feather_half_width(tile, overlap, geometry.receptive_radius),
            x_edges: edges(padded_width, tile),
            y_edges: edges(padded_height, tile),
            geometry,
            wrap_margin: 0,
        })
    }

    /// Plans a seamless repeat of a `width × height` image: the network sees the image on a
    /// torus. The plan covers the image extended on every side by a margin of its own periodic
    /// repetition, wide enough that no pixel of the image (nor any pixel blended into it) feels
    /// the outer edge; the image is [`TilePlan::content`]. Both sides must be multiples of the
    /// stride, or the network's downsampling would not repeat with the image.
    pub fn periodic(
        width: usize,
        height: usize,
        tile: usize,
        overlap: usize,
        geometry: Geometry,
    ) -> Result<Self> {
        let stride = geometry.stride;
        if !width.is_multiple_of(stride) || !height.is_multiple_of(stride) {
            return Err(Error::InvalidOption(format!(
                "--wrap needs a width and height that are multiples of {stride} (the network's stride) for the repeat to be seamless; this image is {width}x{height}: crop or resize it"
            )));
        }
        let margin = (geometry.receptive_radius + overlap + stride).next_multiple_of(stride);
        let mut plan = Self::new(
            width + 2 * margin,
            height + 2 * margin,
            tile,
            overlap,
            geometry,
        )?;
        plan.wrap_margin = margin;
        Ok(plan)
    }

    /// The same kind of plan (plain, or periodic with the same margin) over the same extent
    /// with another tile side.
    pub fn with_tile(&self, tile: usize) -> Result<Self> {
        let m = self.wrap_margin;
        let mut plan = Self::new(self.width, self.height, tile, self.overlap, self.geometry)?;
        plan.wrap_margin = m;
        Ok(plan)
    }

    /// Whether one window holds the whole image and nothing repeats it: then one forward pass
    /// with the image's own statistics is the exact answer, and no sweeps or scratch are needed.
    pub fn is_one_window(&self) -> bool {
        self.len() == 1 && !self.is_periodic()
    }

    /// Whether this plan repeats the image periodically (`--wrap`).
    pub fn is_periodic(&self) -> bool {
        self.wrap_margin > 0
    }

    /// The pixels that are the image (and are counted in its statistics and written out): the
    /// whole stride-padded extent, or for a periodic plan the image inside its margins.
    pub fn content(&self) -> Rect {
        let m = self.wrap_margin;
        Rect {
            x0: m,
            y0: m,
            x1: self.padded_width - m,
            y1: self.padded_height - m,
        }
    }

    /// Number of tile columns.
    pub fn cols(&self) -> usize {
        self.x_edges.len() - 1
    }

    /// Number of tile rows.
    pub fn rows(&self) -> usize {
        self.y_edges.len() - 1
    }

    /// The same grid with no context and no feathering: cores that simply abut, for a render
    /// whose every core is exact on its own.
    pub fn abutting(&self) -> TilePlan {
        TilePlan {
            overlap: 0,
            feather: 0,
            ..self.clone()
        }
    }

    /// Total number of tiles.
    pub fn len(&self) -> usize {
        self.cols() * self.rows()
    }

    /// Whether the plan has no tiles (never true for a valid plan).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tile at grid position (`col`, `row`) with `margin` px of context.
    pub fn tile_with_margin(&self, col: usize, row: usize, margin: usize) -> Tile {
        let core = Rect {
            x0: self.x_edges[col],
            x1: self.x_edges[col + 1],
            y0: self.y_edges[row],
            y1: self.y_edges[row + 1],
        };
        Tile {
            col,
            row,
            core,
            window: core.grow_within(margin, self.padded_width, self.padded_height),
        }
    }

    /// The tile at grid position (`col`, `row`) with the plan's overlap as context.
    pub fn tile(&self, col: usize, row: usize) -> Tile {
        self.tile_with_margin(col, row, self.overlap)
    }

    /// All tiles in row-major order.
    pub fn tiles(&self) -> impl Iterator<Item = Tile> + '_ {
        (0..self.rows()).flat_map(move |r| (0..self.cols()).map(move |c| self.tile(c, r)))
    }
}

/// One of `count` row bands of an output, rendered on its own (`--shard I/N`) and assembled
/// with the others by `bigstyle merge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which band, 0-based.
    pub index: usize,
    /// How many bands.
    pub count: usize,
}

impl Shard {
    /// Parses `I/N` (0 ≤ I < N), or `auto/N`, which takes I from the environment of a job
    /// array: `SLURM_ARRAY_TASK_ID` (less `SLURM_ARRAY_TASK_MIN`, so arrays may start at 1) or
    /// Kubernetes' `JOB_COMPLETION_INDEX`. `env` looks a variable up.
    pub fn parse(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> std::result::Result<Self, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("{text}: expected I/N or auto/N, e.g. 0/4"))?;
        let number = |s: &str, what: &str| -> std::result::Result<usize, String> {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("{text}: {what} {s:?} is not a whole number"))
        };
        let count = number(count, "the shard count")?;
        let index = if index == "auto" {
            Self::index_from_env(&env).ok_or_else(|| {
                format!("{text}: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set")
            })??
        } else {
            number(index, "the shard index")?
        };
        if count == 0 || index >= count {
            return Err(format!("{text}: the shard index must be 0 to N-1 and N at least 1 (got shard {index} of {count})"));
        }
        Ok(Self { index, count })
    }

    fn index_from_env(
        env: &impl Fn(&str) -> Option<String>,
    ) -> Option<std::result::Result<usize, String>> {
        let parse = |name: &str, value: String| {
            value
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("{name}={value} is not a whole number"))
        };
        if let Some(id) = env("SLURM_ARRAY_TASK_ID") {
            let min = env("SLURM_ARRAY_TASK_MIN")
                .map(|m| parse("SLURM_ARRAY_TASK_MIN", m))
                .unwrap_or(Ok(0));
            return Some(parse("SLURM_ARRAY_TASK_ID", id).and_then(|id| {
                let min = min?;
                id.checked_sub(min).ok_or_else(|| {
                    format!("SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}")
                })
            }));
        }
        env("JOB_COMPLETION_INDEX").map(|v| parse("JOB_COMPLETION_INDEX", v))
    }
}

impl TilePlan {
    /// The image rows (`first .. end`, image coordinates) of `shard` of a `height`-row image:
    /// the plan's tile rows split into `count` runs as even as possible, so that band edges lie
    /// on the tile grid and every band's tiles are its own but for one row of neighbours.
    pub fn shard_rows(&self, shard: Shard, height: usize) -> (usize, usize) {
        let top = self.content().y0;
        let tile_rows = self.shard_tile_rows(shard);
        let edge = |i: usize, row: usize| -> usize {
            match i {
                0 => 0,
                i if i == shard.count => height,
                _ => self.y_edges[row].saturating_sub(top).min(height),
            }
        };
        (
            edge(shard.index, tile_rows.start),
            edge(shard.index + 1, tile_rows.end),
        )
    }

    /// The tile rows `shard` owns: the plan's rows split into `count` runs as even as possible.
    pub fn shard_tile_rows(&self, shard: Shard) -> std::ops::Range<usize> {
        let split = |i: usize| (i * self.rows()).div_ceil(shard.count);
        split(shard.index)..split(shard.index + 1)
    }
}

/// Feather half-width: as wide as possible while both neighbours keep full context; without
/// enough overlap for that, half the overlap. Never more than half a tile.
fn feather_half_width(tile: usize, overlap: usize, radius: usize) -> usize {
    let f = if overlap >= radius {
        overlap - radius
    } else {
        overlap / 2
    };
    f.min(tile / 2)
}

/// Core edges along one axis. A ragged last core shorter than [`MIN_LAST_CORE`] is merged into
/// its neighbour, so that every window is large enough for the network's reflect padding.
fn edges(extent: usize, tile: usize) -> Vec<usize> {
    let mut e: Vec<usize> = (0..extent).step_by(tile).collect();
    if e.len() > 1 && extent - e[e.len() - 1] < MIN_LAST_CORE {
        e.pop();
    }
    e.push(extent);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Geometry = Geometry {
        stride: 4,
        receptive_radius: 65,
        min_side: 5,
    };
    const RECEPTIVE_RADIUS: usize = 65;
    const STRIDE: usize = 4;

    #[test]
    fn cores_partition_the_padded_image_on_stride_aligned_origins() {
        let plan = TilePlan::new(1001, 517, 256, 128, G).unwrap();
        assert_eq!((plan.padded_width, plan.padded_height), (1004, 520));
        let area: usize = plan.tiles().map(|t| t.core.width() * t.core.height()).sum();
        assert_eq!(area, 1004 * 520);
        for t in plan.tiles() {
            assert_eq!(t.core.x0 % STRIDE, 0);
            assert_eq!(t.window.x0 % STRIDE, 0);
            assert_eq!(t.window.y0 % STRIDE, 0);
            assert!(t.window.x1 <= 1004 && t.window.y1 <= 520);
        }
    }

    #[test]
    fn small_image_is_one_tile_and_tiny_image_is_refused() {
        let plan = TilePlan::new(40, 30, 1024, 128, G).unwrap();
        assert_eq!(plan.len(), 1);
        assert!(matches!(
            TilePlan::new(4, 30, 1024, 128, G),
            Err(Error::TooSmall { .. })
        ));
        assert!(TilePlan::new(100, 100, 250, 128, G).is_err());
        assert!(TilePlan::new(100, 100, 256, 130, G).is_err());
    }

    #[test]
    fn thin_ragged_last_core_joins_its_neighbour() {
        let plan = TilePlan::new(1004, 1000, 200, 64, G).unwrap();
        assert_eq!(plan.x_edges, vec![0, 200, 400, 600, 800, 1004]);
    }

    #[test]
    fn periodic_plan_surrounds_the_image_with_a_stride_aligned_margin() {
        let plan = TilePlan::periodic(1000, 600, 256, 128, G).unwrap();
        let m = plan.wrap_margin;
        assert!(m >= RECEPTIVE_RADIUS + 128 && m.is_multiple_of(STRIDE));
        assert_eq!(
            plan.content(),
            Rect {
                x0: m,
                y0: m,
                x1: m + 1000,
                y1: m + 600
            }
        );
        let smaller = plan.with_tile(128).unwrap();
        assert_eq!((smaller.content(), smaller.tile), (plan.content(), 128));
        assert!(TilePlan::periodic(1001, 600, 256, 128, G).is_err());
        assert_eq!(
            TilePlan::new(1001, 600, 256, 128, G).unwrap().content(),
            Rect::of_size(1004, 600)
        );
    }

    #[test]
    fn shards_cover_the_image_on_tile_edges() {
        let none = |_: &str| None;
        let plan = TilePlan::new(1000, 1001, 256, 128, G).unwrap();
        for count in [1, 2, 3, 4, 7] {
            let mut next = 0;
            for index in 0..count {
                let (a, b) = plan.shard_rows(Shard { index, count }, 1001);
                assert_eq!(a, next);
                assert!(a <= b && (a == 0 || a == 1001 || plan.y_edges.contains(&a)));
                next = b;
            }
            assert_eq!(next, 1001);
        }
        assert_eq!(Shard::parse("2/4", none), Ok(Shard { index: 2, count: 4 }));
        assert!(Shard::parse("4/4", none).is_err());
        assert!(Shard::parse("auto/4", none).is_err());
        let slurm = |k: &str| match k {
            "SLURM_ARRAY_TASK_ID" => Some("3".to_string()),
            "SLURM_ARRAY_TASK_MIN" => Some("1".to_string()),
            _ => None,
        };
        assert_eq!(
            Shard::parse("auto/4", slurm),
            Ok(Shard { index: 2, count: 4 })
        );
        let k8s = |k: &str| (k == "JOB_COMPLETION_INDEX").then(|| "1".to_string());
        assert_eq!(
            Shard::parse("auto/2", k8s),
            Ok(Shard { index: 1, count: 2 })
        );
    }

    #[test]
    fn feather_keeps_full_context() {
        let plan = TilePlan::new(2000, 2000, 512, 128, G).unwrap();
        assert_eq!(plan.feather, 128 - RECEPTIVE_RADIUS);
        assert!(plan.overlap - plan.feather >= RECEPTIVE_RADIUS);
    }
}
