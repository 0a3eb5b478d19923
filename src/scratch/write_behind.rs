//! Map rows written by a thread of their own: the sweeps go on computing the next window while
//! the kernel copies the last one into its page cache (on the development machine a
//! synchronous write left one of two cores idle for a third of a sweep). The queue holds at
//! most the bytes its owner allows, and never more than [`MAX_QUEUED_BYTES`].

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use half::f16;

use crate::error::{Error, Result};

/// The most bytes of batches a queue holds, whatever its owner allows.
const MAX_QUEUED_BYTES: usize = 64 << 20;

/// What a queued value takes: its f32 form and, for an f16 map, its f16 form.
pub const QUEUED_BYTES_PER_VALUE: usize = 4 + 2;

/// Rows of one batch: at most this many bytes of f32 values (or one row, if a row is larger).
pub(super) const BATCH_BYTES: usize = 1 << 20;

/// Some consecutive rows of a map window, pixel-interleaved: the f32 values, and their f16
/// form when the map stores f16; and where in which file they go.
#[derive(Default)]
pub(super) struct RowBatch {
    /// Rows of the window (counted from its top) the batch holds.
    pub rows: std::ops::Range<usize>,
    pub values: Vec<f32>,
    pub halves: Vec<f16>,
    /// Where the rows go (none once written).
    pub target: Option<Target>,
}

/// Where a batch's rows go.
pub(super) struct Target {
    pub file: Arc<File>,
    /// The file's path, for errors.
    pub path: PathBuf,
    /// Byte offset of the first row.
    pub first: u64,
    /// Bytes from one row's start to the next's in the file.
    pub stride: u64,
    /// Bytes of one row.
    pub row_bytes: usize,
    /// Whether the rows are written from the f16 form.
    pub half: bool,
    /// Where the checksum of each row written goes (see [`Written`]).
    pub written: Arc<Written>,
}

/// The CRC-32 of every run of bytes written to a map's file, with its offset: when the runs
/// cover the file exactly once, they give the file's checksum without reading it back.
#[derive(Default)]
pub struct Written(Mutex<Vec<Run>>);

/// A run of bytes written: its offset in the file, length and checksum.
struct Run {
    at: u64,
    len: u64,
    crc: crc32fast::Hasher,
}

impl Written {
    /// Adds the checksums of some runs written.
    fn add(&self, runs: Vec<Run>) {
        if let Ok(mut all) = self.0.lock() {
            all.extend(runs);
        }
    }

    /// The CRC-32 of a file of `len` bytes, if the runs written cover it exactly once.
    pub fn checksum(&self, len: u64) -> Option<u32> {
        let mut runs = self.0.lock().ok()?;
        runs.sort_unstable_by_key(|run| run.at);
        let mut crc = crc32fast::Hasher::new();
        let mut end = 0;
        for run in runs.iter() {
            if run.at != end {
                return None;
            }
            crc.combine(&run.crc);
            end = run.at + run.len;
        }
        (end == len).then(|| crc.finalize())
    }
}

impl RowBatch {
    /// Writes the rows, one system call each, and adds their checksums to the map's.
    fn write(&self) -> Result<()> {
        let Some(t) = &self.target else {
            return Ok(());
        };
        let bytes: &[u8] = if t.half {
            bytemuck::cast_slice(&self.halves)
        } else {
            bytemuck::cast_slice(&self.values)
        };
        let mut runs = Vec::with_capacity(self.rows.len());
        for (k, row) in bytes.chunks_exact(t.row_bytes.max(1)).enumerate() {
            let at = t.first + k as u64 * t.stride;
            t.file
                .write_all_at(row, at)
                .map_err(|e| Error::io(&t.path, e))?;
            let mut crc = crc32fast::Hasher::new();
            crc.update(row);
            runs.push(Run {
                at,
                len: row.len() as u64,
                crc,
            });
        }
        t.written.add(runs);
        Ok(())
    }
}

/// A queue of row batches and the thread that writes them, started with the first batch and
/// joined by [`WriteBehind::flush`].
pub struct WriteBehind {
    /// Batches the queue holds before a sender waits.
    capacity: usize,
    running: Option<Running>,
    /// Written batches, for reuse: their buffers' pages are already the process's.
    spare: Arc<Mutex<Vec<RowBatch>>>,
}

struct Running {
    queue: SyncSender<RowBatch>,
    writer: JoinHandle<Result<()>>,
}

impl WriteBehind {
    /// A queue holding up to `bytes` of rows, counted as [`QUEUED_BYTES_PER_VALUE`] per value;
    /// at least one batch and at most [`MAX_QUEUED_BYTES`].
    pub fn new(bytes: usize) -> Self {
        let per_batch = BATCH_BYTES / 4 * QUEUED_BYTES_PER_VALUE;
        Self {
            capacity: (bytes.min(MAX_QUEUED_BYTES) / per_batch).max(1),
            running: None,
            spare: Arc::default(),
        }
    }

    /// A written batch to fill again, or a new one.
    pub(super) fn batch(&self) -> RowBatch {
        self.spare
            .lock()
            .ok()
            .and_then(|mut spare| spare.pop())
            .unwrap_or_default()
    }

    /// Queues `batch` for writing; waits while the queue is full. A write that failed is
    /// reported here (or by [`WriteBehind::flush`]).
    pub(super) fn send(&mut self, batch: RowBatch) -> Result<()> {
        let capacity = self.capacity;
        let spare = Arc::clone(&self.spare);
        let running = self.running.get_or_insert_with(|| {
            let (queue, batches) = sync_channel(capacity);
            let writer = std::thread::spawn(move || write_all(batches, &spare));
            Running { queue, writer }
        });
        if running.queue.send(batch).is_err() {
            // The writer stopped on an error: report it.
            return self.flush();
        }
        Ok(())
    }

    /// Waits until every queued row is written; the first failed write's error.
    pub fn flush(&mut self) -> Result<()> {
        let Some(Running { queue, writer }) = self.running.take() else {
            return Ok(());
        };
        drop(queue);
        writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

impl Drop for WriteBehind {
    /// Nothing writes after its owner is gone (an error elsewhere ends the run).
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = self.flush();
        }
    }
}

/// The writer thread: writes batches in order until the queue closes or a write fails.
fn write_all(batches: Receiver<RowBatch>, spare: &Mutex<Vec<RowBatch>>) -> Result<()> {
    for mut batch in batches {
        batch.write()?;
        batch.target = None;
        if let Ok(mut spare) = spare.lock() {
            spare.push(batch);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch of `rows` rows of four values each, bound for `file`.
    fn batch_for(file: &Arc<File>, rows: usize) -> RowBatch {
        RowBatch {
            rows: 0..rows,
            values: vec![1.0; 4 * rows],
            halves: Vec::new(),
            target: Some(Target {
                file: Arc::clone(file),
                path: "/dev/full".into(),
                first: 0,
                stride: 16,
                row_bytes: 16,
                half: false,
                written: Arc::default(),
            }),
        }
    }

    #[test]
    fn a_failed_write_is_reported_by_a_later_send_or_the_flush() {
        let Ok(full) = File::options().write(true).open("/dev/full") else {
            eprintln!("no /dev/full here");
            return;
        };
        let full = Arc::new(full);
        let mut behind = WriteBehind::new(0);
        let failed = (0..64)
            .map(|_| behind.send(batch_for(&full, 2)))
            .find_map(Result::err)
            .or_else(|| behind.flush().err());
        let message = failed.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("No space left"), "{message:?}");
        assert!(behind.flush().is_ok(), "the error is reported once");
    }

    #[test]
    fn queued_rows_are_all_written_before_the_flush_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows");
        let file = Arc::new(File::create_new(&path).unwrap());
        let mut behind = WriteBehind::new(0);
        for k in 0..20u64 {
            let mut batch = batch_for(&file, 1);
            batch.values = vec![k as f32; 4];
            if let Some(t) = &mut batch.target {
                t.first = 16 * k;
            }
            behind.send(batch).unwrap();
        }
        behind.flush().unwrap();
        let values: Vec<f32> = bytemuck::pod_collect_to_vec(&std::fs::read(&path).unwrap());
        let expected: Vec<f32> = (0..20).flat_map(|k| [k as f32; 4]).collect();
        assert_eq!(values, expected);
    }
}
