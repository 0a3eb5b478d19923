//! What an exact run has finished, kept on disk so that a killed run can resume (`--resume`):
//! after every sweep, the statistics found so far and the scratch maps still needed, each with
//! its CRC-32, are recorded in `state.json` (written to a temporary name and renamed, so a kill
//! leaves the previous record or the new one, never half of one).
//!
//! A run's folder is named after a checksum of what determines its scratch maps — the input
//! file's identity (path, size, modification time, inode), the size it is read at, the colour
//! handling, the network, the style, the tile plan and the engine — and the record holds that
//! description in full, compared exactly. Only with `--resume` is a record trusted, and then
//! only if every map it names still has its size and checksum; otherwise the folder is cleared
//! and the run starts over. A finished run removes its folder.
//!
//! A map no longer needed is renamed a spare rather than deleted, and a later map of its size or
//! smaller takes its file over: the kernel still holds its pages, and writing over them costs a
//! tenth of filling new ones (10000² exact run: system time 31 → 15 s). Spares are kept only
//! within the peak scratch disk the run was checked for.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::norm::NetworkStats;
use crate::scratch::{ScratchMap, ScratchPrecision};

const FORMAT: &str = "bigstyle-checkpoint/2";
const STATE: &str = "state.json";
/// Name prefix of a map file kept after its last use, for a later map of the same size to take
/// over: writing over pages the kernel already holds costs a tenth of filling new ones.
const SPARE: &str = "spare-";

/// A scratch map as recorded: its name in the folder, shape, storage and checksum.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MapRecord {
    name: String,
    channels: usize,
    width: usize,
    height: usize,
    precision: ScratchPrecision,
    crc32: u32,
}

impl MapRecord {
    /// The recorded map, opened.
    fn open(&self, dir: &Path) -> Result<ScratchMap> {
        ScratchMap::open(
            &dir.join(&self.name),
            (self.channels, self.width, self.height),
            self.precision,
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    format: String,
    run: String,
    sweeps_done: usize,
    stats: Option<NetworkStats>,
    maps: Vec<MapRecord>,
}

/// The folder of one exact run and what it has finished.
pub struct Checkpoint {
    dir: PathBuf,
    state: State,
    /// How the maps this run creates store their values.
    precision: ScratchPrecision,
}

impl Checkpoint {
    /// The checkpoint of the run described by `run` under `root`. With `resume`, what an
    /// earlier identical run recorded, if it is intact; otherwise (or if it is damaged: the
    /// second value says why) an empty one, the folder cleared.
    pub fn open(
        root: &Path,
        run: &str,
        resume: bool,
        precision: ScratchPrecision,
    ) -> Result<(Self, Option<String>)> {
        let dir = root.join(format!(
            "bigstyle-run-{:08x}",
            crc32fast::hash(run.as_bytes())
        ));
        let mut problem = None;
        if resume && dir.join(STATE).exists() {
            match Self::load(&dir, run) {
                Ok(state) => {
                    let checkpoint = Self {
                        dir,
                        state,
                        precision,
                    };
                    return Ok((checkpoint, None));
                }
                Err(why) => problem = Some(format!("{}: {why}", dir.display())),
            }
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let state = State {
            format: FORMAT.into(),
            run: run.into(),
            sweeps_done: 0,
            stats: None,
            maps: Vec::new(),
        };
        Ok((
            Self {
                dir,
                state,
                precision,
            },
            problem,
        ))
    }

    /// Reads and checks a record: same format and run, every map intact.
    fn load(dir: &Path, run: &str) -> std::result::Result<State, String> {
        let text = std::fs::read_to_string(dir.join(STATE)).map_err(|e| e.to_string())?;
        let state: State = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if state.format != FORMAT || state.run != run {
            return Err("recorded for another run".into());
        }
        for m in &state.maps {
            let map = m.open(dir).map_err(|e| e.to_string())?;
            if map.checksum().map_err(|e| e.to_string())? != m.crc32 {
                return Err(format!("scratch map {} is damaged (checksum)", m.name));
            }
        }
        Ok(state)
    }

    /// The folder (for messages).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sweeps finished by the run recorded.
    pub fn sweeps_done(&self) -> usize {
        self.state.sweeps_done
    }

    /// The statistics recorded (those of the finished sweeps).
    pub fn stats(&self) -> Option<&NetworkStats> {
        self.state.stats.as_ref()
    }

    /// Where the map called `name` lives.
    fn map_path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// How this run's maps store values.
    pub fn precision(&self) -> ScratchPrecision {
        self.precision
    }

    /// Creates the map called `name` (`channels × width × height`) in the folder, in the file
    /// of the smallest spare map at least its size if there is one (cut to its size; the old
    /// values are all written over before they are read).
    pub fn create_map(&self, name: &str, shape: (usize, usize, usize)) -> Result<ScratchMap> {
        let path = self.map_path(name);
        let bytes = ScratchMap::bytes_for(shape, self.precision);
        let spare = self
            .spares()?
            .into_iter()
            .filter(|(_, len)| *len >= bytes)
            .min_by_key(|(_, len)| *len);
        let Some((spare, _)) = spare else {
            return ScratchMap::create(&path, shape, self.precision);
        };
        std::fs::rename(&spare, &path).map_err(|e| Error::io(&spare, e))?;
        ScratchMap::take_over(&path, shape, self.precision)
    }

    /// Keeps the largest spare maps that fit in `allowance` bytes together (the disk that the
    /// maps in use leave of the peak the run was checked for) and deletes the others.
    pub fn trim_spares(&self, allowance: u64) -> Result<()> {
        let mut spares = self.spares()?;
        spares.sort_by_key(|(_, len)| std::cmp::Reverse(*len));
        let mut kept = 0;
        for (path, len) in spares {
            if kept + len <= allowance {
                kept += len;
            } else {
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        Ok(())
    }

    /// The spare map files in the folder, with their sizes.
    fn spares(&self) -> Result<Vec<(PathBuf, u64)>> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let mut spares = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            if entry.file_name().to_string_lossy().starts_with(SPARE) {
                let len = entry
                    .metadata()
                    .map_err(|e| Error::io(entry.path(), e))?
                    .len();
                spares.push((entry.path(), len));
            }
        }
        Ok(spares)
    }

    /// Reopens a recorded map (checked when the record was loaded).
    pub fn reopen(&self, name: &str) -> Result<ScratchMap> {
        let m = self
            .state
            .maps
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| {
                Error::io(
                    &self.dir,
                    std::io::Error::other(format!("scratch map {name} is not recorded")),
                )
            })?;
        m.open(&self.dir)
    }

    /// Records that `sweeps_done` sweeps are finished, with their statistics and the maps still
    /// needed (checksummed when first recorded); maps no longer listed become spares afterwards.
    pub fn record(
        &mut self,
        sweeps_done: usize,
        stats: &NetworkStats,
        maps: &[(String, &ScratchMap)],
    ) -> Result<()> {
        let mut records = Vec::with_capacity(maps.len());
        for (name, map) in maps {
            let known = self.state.maps.iter().find(|m| &m.name == name).cloned();
            let record = match known {
                Some(m) => m,
                None => {
                    let (channels, width, height) = map.shape();
                    MapRecord {
                        name: name.clone(),
                        channels,
                        width,
                        height,
                        precision: map.precision(),
                        crc32: map.written_checksum()?,
                    }
                }
            };
            records.push(record);
        }
        let gone: Vec<String> = self
            .state
            .maps
            .iter()
            .filter(|m| !records.iter().any(|r| r.name == m.name))
            .map(|m| m.name.clone())
            .collect();
        self.state.sweeps_done = sweeps_done;
        self.state.stats = Some(stats.clone());
        self.state.maps = records;
        // The new record first: a kill between the two steps leaves an unused file, never a
        // record that names a renamed one.
        self.write_state()?;
        for name in gone {
            let path = self.map_path(&name);
            let spare = self.map_path(&format!("{SPARE}{name}"));
            std::fs::rename(&path, &spare).map_err(|e| Error::io(&path, e))?;
        }
        Ok(())
    }

    fn write_state(&self) -> Result<()> {
        let path = self.dir.join(STATE);
        let temp = self.dir.join(format!("{STATE}.part"));
        let text = serde_json::to_string(&self.state).map_err(|e| Error::Stats {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(&temp, text).map_err(|e| Error::io(&temp, e))?;
        std::fs::rename(&temp, &path).map_err(|e| Error::io(&path, e))
    }

    /// Removes the folder: the run it served is finished.
    pub fn remove(self) -> Result<()> {
        std::fs::remove_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".map"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_dropped_map_becomes_a_spare_that_the_next_map_takes_over() {
        let root = tempfile::tempdir().unwrap();
        let (mut cp, _) =
            Checkpoint::open(root.path(), "run", false, ScratchPrecision::F32).unwrap();
        let stats = NetworkStats::empty(1);
        let big = cp.create_map("raw-1.map", (4, 8, 8)).unwrap();
        let small = cp.create_map("raw-2.map", (2, 8, 8)).unwrap();
        cp.record(
            1,
            &stats,
            &[("raw-1.map".into(), &big), ("raw-2.map".into(), &small)],
        )
        .unwrap();
        drop(big);
        cp.record(2, &stats, &[("raw-2.map".into(), &small)])
            .unwrap();
        assert_eq!(files(cp.dir()), ["raw-2.map", "spare-raw-1.map"]);
        // A smaller map takes the larger spare, cut to its size.
        let taken = cp.create_map("raw-3.map", (1, 8, 8)).unwrap();
        assert_eq!(taken.bytes(), 8 * 8 * 4);
        assert_eq!(files(cp.dir()), ["raw-2.map", "raw-3.map"]);
        let size = std::fs::metadata(cp.dir().join("raw-3.map")).unwrap().len();
        assert_eq!(size, 8 * 8 * 4);
        // Spares beyond the allowance are deleted, the largest that fit kept.
        cp.record(3, &stats, &[("raw-3.map".into(), &taken)])
            .unwrap();
        cp.record(4, &stats, &[]).unwrap();
        assert_eq!(files(cp.dir()), ["spare-raw-2.map", "spare-raw-3.map"]);
        cp.trim_spares(2 * 8 * 8 * 4).unwrap();
        assert_eq!(files(cp.dir()), ["spare-raw-2.map"]);
        cp.trim_spares(0).unwrap();
        assert!(files(cp.dir()).is_empty());
    }
}
