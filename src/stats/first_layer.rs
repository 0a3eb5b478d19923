//! The first layer's statistics without running it: its raw output is linear in the image, so
//! its mean and variance over the image are a quadratic form of the image's local second
//! moments — the sums `Σ P_c(q)·P_c'(q + d)` over the reflect-padded image `P` for the offsets
//! `d` a k×k kernel spans (17×17 for 9×9, half of them by symmetry). That is about 1 300
//! multiply-adds per pixel for an RGB image instead of the convolution's 7 800, so the first
//! sweep of the exact statistics costs a fraction of a network pass.
//!
//! The sums must be taken over the output's shifted copies of the counted region (`R + k` for
//! every kernel tap `k`), so each sum is kept per *class* of rows and of columns: the `2r`
//! single rows (columns) at each edge of `R` grown by the kernel radius `r`, and one class for
//! everything between, where every shift covers them alike. Any shifted region is then a block
//! of classes. Values are centred (an offset per channel that the variance does not see); the
//! products of one row segment are summed in f32 lanes, as the convolution sums its own
//! products, and everything beyond a row in f64, so the result matches the convolution's own
//! moments to float rounding, for any tiling: each tile adds the products of the pixels it
//! owns.

mod dots;

use rayon::prelude::*;

use super::read_ahead::one_ahead;
use super::team::Team;
use super::ImageSource;
use crate::error::Result;
use crate::geom::Rect;
use crate::network::Layer;
use crate::norm::Moments;
use dots::{shifted_dots, shifted_dots_pair};

/// Runs of rows of a tile whose products are summed in parallel.
const ROW_RUNS: usize = 8;
/// The offset subtracted from every input value (images are 0..1) before the products.
const CENTRE: f64 = 0.5;

/// Local second moments of the image, accumulated tile by tile, for one first layer.
pub struct FirstLayerMoments<'a> {
    tiles: TileReader<'a>,
    /// `[c][row class][column class]`: sums of the centred values.
    first: Vec<f64>,
    /// `[c·C + c'][offset][row class][column class]`: sums of `P_c(q)·P_c'(q + d)`.
    second: Vec<f64>,
}

/// What reading a tile's values needs to know of the layer and the image: separate from the
/// sums, so that the next tile can be read while the current one's products are added.
#[derive(Clone, Copy)]
struct TileReader<'a> {
    layer: &'a Layer,
    /// Kernel radius.
    r: i64,
    /// The counted region (the image's own pixels) and the padded image's extent.
    counted: Rect,
    extent: (usize, usize),
}

/// The values a tile owns and the classes of their rows and columns, ready to be added.
struct TileValues {
    local: Local,
    /// (row class, local row) of each owned row.
    rows: Vec<(usize, usize)>,
    /// Owned columns as runs of one class: (class, local start, local end).
    columns: Vec<(usize, usize, usize)>,
}

impl<'a> FirstLayerMoments<'a> {
    /// The accumulator for `layer` over `counted` within a padded image of size `extent`, if
    /// the layer is one whose statistics this method gives: the first layer, a plain stride-1
    /// convolution of the image, on a region at least a kernel wide.
    pub fn new(layer: &'a Layer, counted: Rect, extent: (usize, usize)) -> Option<Self> {
        let r = layer.kernel / 2;
        let fits = Self::suits(layer) && counted.width() > 2 * r && counted.height() > 2 * r;
        fits.then(|| {
            let (c, classes) = (layer.in_channels, TileReader::classes_for(r));
            Self {
                tiles: TileReader {
                    layer,
                    r: r as i64,
                    counted,
                    extent,
                },
                first: vec![0.0; c * classes * classes],
                second: vec![0.0; c * c * offsets(r as i64).len() * classes * classes],
            }
        })
    }

    /// Whether this method gives `layer`'s statistics (on a region at least a kernel wide).
    pub fn suits(layer: &Layer) -> bool {
        layer.stride == 1
            && !layer.upsample
            && layer.skip_from.is_none()
            && layer.norm.is_instance()
    }

    fn classes(&self) -> usize {
        TileReader::classes_for(self.tiles.r as usize)
    }

    /// Adds the products of the pixels that the tiles with these `cores` own (see
    /// [`TileReader::read`]), calling `done(core)` after each. Each tile's products are added
    /// while the next tile's values are read.
    pub fn add_tiles(
        &mut self,
        image: &mut dyn ImageSource,
        cores: &[Rect],
        mut done: impl FnMut(Rect),
    ) -> Result<()> {
        let reader = self.tiles;
        one_ahead(
            cores.len(),
            |k| reader.read(image, cores[k]),
            |k, tile| {
                if let Some(tile) = tile {
                    self.add(&tile);
                }
                done(cores[k]);
                Ok(())
            },
        )
    }

    /// Adds the products of a tile's values.
    fn add(&mut self, tile: &TileValues) {
        self.add_first(&tile.local, &tile.rows, &tile.columns);
        self.add_second(&tile.local, &tile.rows, &tile.columns);
    }

    fn add_first(
        &mut self,
        local: &Local,
        rows: &[(usize, usize)],
        columns: &[(usize, usize, usize)],
    ) {
        let k = self.classes();
        for ch in 0..self.tiles.layer.in_channels {
            for &(rc, ly) in rows {
                let row = local.row(ch, ly);
                for &(cc, a, b) in columns {
                    self.first[(ch * k + rc) * k + cc] +=
                        row[a..b].iter().map(|&v| f64::from(v)).sum::<f64>();
                }
            }
        }
    }

    /// Adds the products of every channel pair at every offset. Rows are split into a fixed
    /// number of runs done in parallel, each over all pairs and offsets (its rows and the `2r`
    /// below them stay in cache), and the runs' tables are added in order: the same sums
    /// whatever the threads. A run keeps one table per row class it meets (interior runs meet
    /// one), indexed `[pair][offset][column class]`, and takes its rows two at a time
    /// ([`RowProducts::add_pair`]).
    fn add_second(
        &mut self,
        local: &Local,
        rows: &[(usize, usize)],
        columns: &[(usize, usize, usize)],
    ) {
        let (ci, k) = (self.tiles.layer.in_channels, self.classes());
        let offsets = offsets(self.tiles.r);
        let products = RowProducts {
            local,
            columns,
            groups: row_offset_groups(&offsets),
            ci,
            k,
            offsets: offsets.len(),
        };
        let run = rows.len().div_ceil(ROW_RUNS).max(1);
        let tables: Vec<Vec<(usize, Vec<f64>)>> = rows
            .par_chunks(run)
            .map(|rows| {
                let mut run = RunTables::new(&products);
                let mut rest = rows;
                while let [(rc0, ly0), (rc1, ly1), more @ ..] = rest {
                    if *ly1 != ly0 + 1 {
                        break;
                    }
                    let slots = (run.slot(*rc0, &products), run.slot(*rc1, &products));
                    products.add_pair(*ly0, slots, &mut run);
                    rest = more;
                }
                for &(rc, ly) in rest {
                    let slot = run.slot(rc, &products);
                    products.add_row(ly, slot, &mut run);
                }
                run.tables
            })
            .collect();
        for (rc, table) in tables.into_iter().flatten() {
            for (index, v) in table.into_iter().enumerate() {
                let (pair_offset, cc) = (index / k, index % k);
                self.second[(pair_offset * k + rc) * k + cc] += v;
            }
        }
    }

    /// Sums the tables of every process of `team` (each added its own band's tiles), in rank
    /// order, so that every process holds the whole image's.
    pub fn merge_team(&mut self, team: &dyn Team) {
        let mine: Vec<f64> = self.first.iter().chain(&self.second).copied().collect();
        let all = team.all_gather(&mine);
        let mut total = vec![0.0f64; mine.len()];
        for rank in all.chunks_exact(mine.len().max(1)) {
            for (t, v) in total.iter_mut().zip(rank) {
                *t += v;
            }
        }
        let (first, second) = total.split_at(self.first.len());
        self.first.copy_from_slice(first);
        self.second.copy_from_slice(second);
    }

    /// The moments of the layer's raw output (no bias) over the counted region.
    pub fn finish(&self) -> Moments {
        let (co, ci, kk, r) = (
            self.tiles.layer.out_channels,
            self.tiles.layer.in_channels,
            self.tiles.layer.kernel,
            self.tiles.r,
        );
        let k = self.classes();
        let taps: Vec<(i64, i64)> = (-r..=r)
            .flat_map(|ky| (-r..=r).map(move |kx| (kx, ky)))
            .collect();
        let offsets = offsets(r);
        let index_of = |d: (i64, i64)| offsets.iter().position(|o| *o == d);
        // Sum over the shifted region R + (kx, ky) of a class table `t` (k × k).
        let region = |t: &[f64], (kx, ky): (i64, i64)| -> f64 {
            let (rows, cols) = (
                (ky + r) as usize..=(ky + 3 * r) as usize,
                (kx + r) as usize..=(kx + 3 * r) as usize,
            );
            rows.map(|rc| {
                t[rc * k + cols.start()..=rc * k + cols.end()]
                    .iter()
                    .sum::<f64>()
            })
            .sum()
        };
        // S1[c][tap] and S2[c][tap][c'][tap'].
        let s1: Vec<f64> = (0..ci)
            .flat_map(|c| taps.iter().map(move |&t| (c, t)))
            .map(|(c, t)| region(&self.first[c * k * k..][..k * k], t))
            .collect();
        let per_pair = offsets.len() * k * k;
        let table = |c: usize, c2: usize, n: usize| {
            &self.second[(c * ci + c2) * per_pair + n * k * k..][..k * k]
        };
        let nt = taps.len();
        let mut s2 = vec![0.0f64; ci * nt * ci * nt];
        for c in 0..ci {
            for c2 in 0..ci {
                for (i, &t) in taps.iter().enumerate() {
                    for (j, &t2) in taps.iter().enumerate() {
                        let d = (t2.0 - t.0, t2.1 - t.1);
                        let v = match index_of(d) {
                            Some(n) => region(table(c, c2, n), t),
                            None => match index_of((-d.0, -d.1)) {
                                Some(n) => region(table(c2, c, n), t2),
                                None => 0.0,
                            },
                        };
                        s2[((c * nt + i) * ci + c2) * nt + j] = v;
                    }
                }
            }
        }
        let n = self.tiles.counted.area() as f64;
        let weight = |o: usize, c: usize, i: usize| -> f64 {
            let (kx, ky) = taps[i];
            let (y, x) = ((ky + r) as usize, (kx + r) as usize);
            f64::from(self.tiles.layer.weight[((o * ci + c) * kk + y) * kk + x])
        };
        let mut mean = Vec::with_capacity(co);
        let mut m2 = Vec::with_capacity(co);
        for o in 0..co {
            let w: Vec<f64> = (0..ci)
                .flat_map(|c| (0..nt).map(move |i| (c, i)))
                .map(|(c, i)| weight(o, c, i))
                .collect();
            let centred_mean = w.iter().zip(&s1).map(|(a, b)| a * b).sum::<f64>() / n;
            let square: f64 = (0..ci * nt)
                .map(|a| {
                    w[a] * (0..ci * nt)
                        .map(|b| w[b] * s2[a * ci * nt + b])
                        .sum::<f64>()
                })
                .sum();
            m2.push((square - n * centred_mean * centred_mean).max(0.0));
            mean.push(centred_mean + CENTRE * w.iter().sum::<f64>());
        }
        Moments { count: n, mean, m2 }
    }
}

/// What one run of rows adds to: a table per row class met, `[pair][offset][column class]`,
/// and room for the sums of one row offset of two rows.
struct RunTables {
    tables: Vec<(usize, Vec<f64>)>,
    sums: (Vec<f64>, Vec<f64>),
}

impl RunTables {
    fn new(products: &RowProducts) -> Self {
        let room = products.groups.iter().map(|g| g.count).max().unwrap_or(0);
        Self {
            tables: Vec::new(),
            sums: (vec![0.0; room], vec![0.0; room]),
        }
    }

    /// The index of row class `rc`'s table, added if new.
    fn slot(&mut self, rc: usize, products: &RowProducts) -> usize {
        match self.tables.iter().position(|t| t.0 == rc) {
            Some(slot) => slot,
            None => {
                self.tables.push((rc, vec![0.0; products.table_len()]));
                self.tables.len() - 1
            }
        }
    }
}

/// The products of a tile's rows with the rows below them, added into a run's tables.
struct RowProducts<'a> {
    local: &'a Local,
    columns: &'a [(usize, usize, usize)],
    groups: Vec<RowOffsets>,
    /// Input channels, column classes, offsets.
    ci: usize,
    k: usize,
    offsets: usize,
}

impl RowProducts<'_> {
    fn table_len(&self) -> usize {
        self.ci * self.ci * self.offsets * self.k
    }

    /// Adds row `ly`'s products at every pair and offset to the table at `slot`.
    fn add_row(&self, ly: usize, slot: usize, run: &mut RunTables) {
        let RunTables { tables, sums } = run;
        for pair in 0..self.ci * self.ci {
            let a_row = self.local.row(pair / self.ci, ly);
            for group in &self.groups {
                let b_row = self.local.row(pair % self.ci, ly + group.dy);
                self.add_one(
                    pair,
                    (a_row, b_row),
                    group,
                    &mut tables[slot].1,
                    &mut sums.0,
                );
            }
        }
    }

    /// Adds the products of rows `ly` and `ly + 1` to the tables at `slots`: the row `ly + d`
    /// below them is row offset `d` for the first and `d - 1` for the second, so both are
    /// summed in one pass over it. Each table receives the same sums, in the same order, as
    /// from [`RowProducts::add_row`] on each row.
    fn add_pair(&self, ly: usize, slots: (usize, usize), run: &mut RunTables) {
        for pair in 0..self.ci * self.ci {
            let (c, c2) = (pair / self.ci, pair % self.ci);
            let rows = (self.local.row(c, ly), self.local.row(c, ly + 1));
            for d in 0..=self.groups.len() {
                let b_row = self.local.row(c2, ly + d);
                let RunTables { tables, sums } = &mut *run;
                match (
                    self.groups.get(d),
                    d.checked_sub(1).map(|e| &self.groups[e]),
                ) {
                    (Some(g0), Some(g1)) => self.add_both(pair, rows, b_row, (g0, g1), slots, run),
                    (Some(g), None) => {
                        let table = &mut tables[slots.0].1;
                        self.add_one(pair, (rows.0, b_row), g, table, &mut sums.0);
                    }
                    (None, Some(g)) => {
                        let table = &mut tables[slots.1].1;
                        self.add_one(pair, (rows.1, b_row), g, table, &mut sums.0);
                    }
                    (None, None) => {}
                }
            }
        }
    }

    /// Adds the products of `a_row` with `b_row` at the column offsets of `group`, over every
    /// column run, to `table`.
    fn add_one(
        &self,
        pair: usize,
        (a_row, b_row): (&[f32], &[f32]),
        group: &RowOffsets,
        table: &mut [f64],
        sums: &mut [f64],
    ) {
        let sums = &mut sums[..group.count];
        for &(cc, a, b) in self.columns {
            let start = (a as i64 + group.dx0) as usize;
            shifted_dots(&a_row[a..b], &b_row[start..], sums);
            self.add_sums(table, pair, group, cc, sums);
        }
    }

    /// [`RowProducts::add_one`] for two rows against one `b_row` at once, the first at the
    /// offsets of `groups.0`, the second at those of `groups.1`: both are summed over the
    /// column offsets either needs, and each table at `slots` takes its own.
    fn add_both(
        &self,
        pair: usize,
        (a0, a1): (&[f32], &[f32]),
        b_row: &[f32],
        (g0, g1): (&RowOffsets, &RowOffsets),
        (slot0, slot1): (usize, usize),
        run: &mut RunTables,
    ) {
        let dx0 = g0.dx0.min(g1.dx0);
        let end = (g0.dx0 + g0.count as i64).max(g1.dx0 + g1.count as i64);
        let count = (end - dx0) as usize;
        let (from0, from1) = ((g0.dx0 - dx0) as usize, (g1.dx0 - dx0) as usize);
        let RunTables { tables, sums } = run;
        for &(cc, a, b) in self.columns {
            let start = (a as i64 + dx0) as usize;
            let (s0, s1) = (&mut sums.0[..count], &mut sums.1[..count]);
            shifted_dots_pair(&a0[a..b], &a1[a..b], &b_row[start..], s0, s1);
            self.add_sums(
                &mut tables[slot0].1,
                pair,
                g0,
                cc,
                &s0[from0..from0 + g0.count],
            );
            self.add_sums(
                &mut tables[slot1].1,
                pair,
                g1,
                cc,
                &s1[from1..from1 + g1.count],
            );
        }
    }

    /// Adds one row's sums over one column run at one row offset to `table`.
    fn add_sums(
        &self,
        table: &mut [f64],
        pair: usize,
        group: &RowOffsets,
        cc: usize,
        sums: &[f64],
    ) {
        let first = pair * self.offsets + group.first;
        for (n, v) in sums.iter().enumerate() {
            table[(first + n) * self.k + cc] += v;
        }
    }
}

/// The offsets `(dx, dy)` whose products are summed: the upper half of the `(4r + 1)²` square
/// (`dy > 0`, or `dy = 0` and `dx ≥ 0`); the others are the same sums with the channels swapped.
fn offsets(r: i64) -> Vec<(i64, i64)> {
    (0..=2 * r)
        .flat_map(|dy| (-2 * r..=2 * r).map(move |dx| (dx, dy)))
        .filter(|&(dx, dy)| dy > 0 || dx >= 0)
        .collect()
}

/// The offsets of one row offset `dy`: `count` consecutive entries of [`offsets`] from `first`,
/// whose column offsets run from `dx0` up by one.
struct RowOffsets {
    dy: usize,
    first: usize,
    count: usize,
    dx0: i64,
}

fn row_offset_groups(offsets: &[(i64, i64)]) -> Vec<RowOffsets> {
    let mut groups: Vec<RowOffsets> = Vec::new();
    for (n, &(dx, dy)) in offsets.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if g.dy as i64 == dy => g.count += 1,
            _ => groups.push(RowOffsets {
                dy: dy as usize,
                first: n,
                count: 1,
                dx0: dx,
            }),
        }
    }
    groups
}

/// Centred values of the reflect-padded image around one tile, in f32 (zero outside the
/// padded image, where no product that is used reaches).
struct Local {
    x0: i64,
    y0: i64,
    width: usize,
    height: usize,
    channels: usize,
    values: Vec<f32>,
}

impl TileReader<'_> {
    fn classes_for(r: usize) -> usize {
        4 * r + 1
    }

    /// The class of position `p` along an axis where the counted region spans `[a, b)`.
    fn class(&self, p: i64, a: i64, b: i64) -> usize {
        let r = self.r;
        if p < a + r {
            (p - (a - r)) as usize
        } else if p < b - r {
            2 * r as usize
        } else {
            (2 * r + 1 + p - (b - r)) as usize
        }
    }

    /// The values of the pixels that the tile with this `core` owns: those of its core, and
    /// at the image's edges those of the padding beyond it, within the counted region grown
    /// by the kernel radius; none if it owns none.
    fn read(&self, image: &mut dyn ImageSource, core: Rect) -> Result<Option<TileValues>> {
        let r = self.r;
        let (w, h) = (self.extent.0 as i64, self.extent.1 as i64);
        let c = &self.counted;
        let own = |a: usize, b: usize, n: i64, lo: usize, hi: usize| -> (i64, i64) {
            let start = if a == 0 { -r } else { a as i64 };
            let end = if b as i64 == n { n + r } else { b as i64 };
            (start.max(lo as i64 - r), end.min(hi as i64 + r))
        };
        let (ox0, ox1) = own(core.x0, core.x1, w, c.x0, c.x1);
        let (oy0, oy1) = own(core.y0, core.y1, h, c.y0, c.y1);
        if ox0 >= ox1 || oy0 >= oy1 {
            return Ok(None);
        }
        let local = Local::read(image, (ox0 - 2 * r, ox1 + 2 * r), (oy0, oy1 + 2 * r), self)?;
        let columns = self.segments(ox0, ox1, local.x0);
        let rows: Vec<(usize, usize)> = (oy0..oy1)
            .map(|y| {
                let class = self.class(y, c.y0 as i64, c.y1 as i64);
                (class, (y - local.y0) as usize)
            })
            .collect();
        Ok(Some(TileValues {
            local,
            rows,
            columns,
        }))
    }

    /// The owned columns `[x0, x1)` as runs of one class: (class, local start, local end).
    fn segments(&self, x0: i64, x1: i64, local_x0: i64) -> Vec<(usize, usize, usize)> {
        let (a, b) = (self.counted.x0 as i64, self.counted.x1 as i64);
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        for x in x0..x1 {
            let (class, at) = (self.class(x, a, b), (x - local_x0) as usize);
            match runs.last_mut() {
                Some(run) if run.0 == class => run.2 = at + 1,
                _ => runs.push((class, at, at + 1)),
            }
        }
        runs
    }
}

impl Local {
    fn read(
        image: &mut dyn ImageSource,
        (x0, x1): (i64, i64),
        (y0, y1): (i64, i64),
        m: &TileReader,
    ) -> Result<Self> {
        let (w, h, r) = (m.extent.0 as i64, m.extent.1 as i64, m.r);
        let reflect = |i: i64, n: i64| -> Option<usize> {
            let v = if i < -r || i >= n + r {
                return None;
            } else if i < 0 {
                -i
            } else if i >= n {
                2 * (n - 1) - i
            } else {
                i
            };
            Some(v as usize)
        };
        let xs: Vec<Option<usize>> = (x0..x1).map(|x| reflect(x, w)).collect();
        let ys: Vec<Option<usize>> = (y0..y1).map(|y| reflect(y, h)).collect();
        let span = |v: &[Option<usize>]| {
            let mut it = v.iter().flatten();
            let first = it.next().copied().unwrap_or(0);
            it.fold((first, first + 1), |(a, b), &p| (a.min(p), b.max(p + 1)))
        };
        let ((rx0, rx1), (ry0, ry1)) = (span(&xs), span(&ys));
        let rect = Rect {
            x0: rx0,
            y0: ry0,
            x1: rx1,
            y1: ry1,
        };
        let rgb = image.rgb(rect)?;
        let channels = m.layer.in_channels;
        let (width, height) = (xs.len(), ys.len());
        let plane = rect.area();
        let mut values = vec![0.0f32; channels * width * height];
        for c in 0..channels {
            for (ly, sy) in ys.iter().enumerate() {
                let Some(sy) = sy else { continue };
                let src = &rgb[c * plane + (sy - ry0) * rect.width()..][..rect.width()];
                let dst = &mut values[(c * height + ly) * width..][..width];
                for (d, sx) in dst.iter_mut().zip(&xs) {
                    if let Some(sx) = sx {
                        *d = src[sx - rx0] - CENTRE as f32;
                    }
                }
            }
        }
        Ok(Self {
            x0,
            y0,
            width,
            height,
            channels,
            values,
        })
    }

    fn row(&self, c: usize, y: usize) -> &[f32] {
        debug_assert!(c < self.channels);
        &self.values[(c * self.height + y) * self.width..][..self.width]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{Activation, Norm};

    /// A planar RGB image in memory.
    struct Planes {
        width: usize,
        height: usize,
        values: Vec<f32>,
    }

    impl ImageSource for Planes {
        fn rgb(&mut self, rect: Rect) -> Result<Vec<f32>> {
            let mut out = Vec::with_capacity(3 * rect.area());
            for c in 0..3 {
                for y in rect.y0..rect.y1 {
                    let row = &self.values[(c * self.height + y) * self.width..][..self.width];
                    out.extend_from_slice(&row[rect.x0..rect.x1]);
                }
            }
            Ok(out)
        }
    }

    fn layer(kernel: usize) -> Layer {
        let co = 5;
        Layer {
            name: "first".into(),
            kernel,
            stride: 1,
            upsample: false,
            in_channels: 3,
            out_channels: co,
            weight: (0..co * 3 * kernel * kernel)
                .map(|i| ((i * 53 % 89) as f32 / 89.0 - 0.45) * 0.2)
                .collect(),
            bias: None,
            norm: Norm::Affine {
                gamma: vec![1.0; co],
                beta: vec![0.0; co],
            },
            activation: Activation::Relu,
            skip_from: None,
        }
    }

    /// The layer's raw output over `counted`, convolved directly in f64 with reflect padding
    /// at the extent's edges: its per-channel mean and sum of squared deviations.
    fn direct(l: &Layer, image: &Planes, counted: Rect) -> (Vec<f64>, Vec<f64>) {
        let (w, h, k) = (image.width as i64, image.height as i64, l.kernel as i64);
        let refl = |i: i64, n: i64| {
            if i < 0 {
                -i
            } else if i >= n {
                2 * (n - 1) - i
            } else {
                i
            }
        };
        let mut outs = vec![Vec::new(); l.out_channels];
        for y in counted.y0..counted.y1 {
            for x in counted.x0..counted.x1 {
                for (o, out) in outs.iter_mut().enumerate() {
                    let mut sum = 0.0f64;
                    for c in 0..3 {
                        for ky in 0..k {
                            for kx in 0..k {
                                let sy = refl(y as i64 + ky - k / 2, h) as usize;
                                let sx = refl(x as i64 + kx - k / 2, w) as usize;
                                let wv = l.weight[((o * 3 + c) * k as usize + ky as usize)
                                    * k as usize
                                    + kx as usize];
                                sum += f64::from(wv)
                                    * f64::from(
                                        image.values[(c * image.height + sy) * image.width + sx],
                                    );
                            }
                        }
                    }
                    out.push(sum);
                }
            }
        }
        outs.iter()
            .map(|v| {
                let mean = v.iter().sum::<f64>() / v.len() as f64;
                (mean, v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>())
            })
            .unzip()
    }

    #[test]
    fn local_moments_give_the_convolutions_moments_for_any_tiling() {
        let (width, height) = (41, 33);
        let values = (0..3 * width * height)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0).powi(2))
            .collect();
        let mut image = Planes {
            width,
            height,
            values,
        };
        // The whole image, and an inner region (as a periodic plan's margins leave).
        let inner = Rect {
            x0: 6,
            y0: 5,
            x1: 35,
            y1: 30,
        };
        let whole = Rect {
            x0: 0,
            y0: 0,
            x1: width,
            y1: height,
        };
        for (kernel, counted) in [(9, whole), (9, inner), (3, whole), (3, inner)] {
            let l = layer(kernel);
            let (mean, m2) = direct(&l, &image, counted);
            for (xs, ys) in [
                (vec![0, 41], vec![0, 33]),
                (vec![0, 12, 20, 41], vec![0, 4, 33]),
            ] {
                let mut acc = FirstLayerMoments::new(&l, counted, (width, height)).unwrap();
                let mut cores = Vec::new();
                for (xa, xb) in xs.iter().zip(&xs[1..]) {
                    for (ya, yb) in ys.iter().zip(&ys[1..]) {
                        cores.push(Rect {
                            x0: *xa,
                            y0: *ya,
                            x1: *xb,
                            y1: *yb,
                        });
                    }
                }
                let mut added = Vec::new();
                acc.add_tiles(&mut image, &cores, |core| added.push(core))
                    .unwrap();
                assert_eq!(added, cores, "every tile is reported, in order");
                let got = acc.finish();
                assert_eq!(got.count, counted.area() as f64);
                for o in 0..l.out_channels {
                    // Row segments are summed in f32 lanes (≈ 1e-8 relative here); an error in
                    // the classes or offsets is off by whole products (≥ 1e-3).
                    let close = |a: f64, b: f64| (a - b).abs() <= 1e-7 * b.abs().max(1e-3);
                    assert!(
                        close(got.mean[o], mean[o]),
                        "{kernel} {o}: {} vs {}",
                        got.mean[o],
                        mean[o]
                    );
                    assert!(
                        close(got.m2[o], m2[o]),
                        "{kernel} {o}: {} vs {}",
                        got.m2[o],
                        m2[o]
                    );
                }
            }
        }
    }
}
