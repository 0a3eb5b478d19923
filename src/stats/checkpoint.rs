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

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::norm::NetworkStats;
use crate::scratch::{ScratchMap, ScratchPrecision};

const FORMAT: &str = "bigstyle-checkpoint/2";
const STATE: &str = "state.json";

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

    /// Creates the map called `name` (`channels × width × height`) in the folder.
    pub fn create_map(&self, name: &str, shape: (usize, usize, usize)) -> Result<ScratchMap> {
        ScratchMap::create(&self.map_path(name), shape, self.precision)
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
    /// needed (checksummed when first recorded); maps no longer listed are deleted afterwards.
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
                        crc32: map.checksum()?,
                    }
                }
            };
            records.push(record);
        }
        let gone: Vec<PathBuf> = self
            .state
            .maps
            .iter()
            .filter(|m| !records.iter().any(|r| r.name == m.name))
            .map(|m| self.map_path(&m.name))
            .collect();
        self.state.sweeps_done = sweeps_done;
        self.state.stats = Some(stats.clone());
        self.state.maps = records;
        // The new record first: a kill between the two steps leaves an unused file, never a
        // record that names a deleted one.
        self.write_state()?;
        for path in gone {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
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
