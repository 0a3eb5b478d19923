//! A killed run resumes: `kill -9` at random points of an exact run (sweeps, finish, write),
//! then `--resume`, gives the same file byte for byte; a damaged record is detected, not used.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{photo, write_rgb_tiff};

struct Job {
    input: PathBuf,
    scratch: PathBuf,
}

impl Job {
    fn command(&self, output: &Path, resume: bool) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bigstyle"));
        cmd.args(["-v", "--tile", "128", "--scratch-dir"])
            .arg(&self.scratch)
            .arg("-o")
            .arg(output)
            .arg(&self.input)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if resume {
            cmd.arg("--resume");
        }
        cmd
    }

    /// Runs to the end; returns stderr.
    fn finish(&self, output: &Path, resume: bool) -> String {
        let out = self.command(output, resume).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{stderr}");
        stderr
    }

    fn start(&self, output: &Path, resume: bool) -> Child {
        self.command(output, resume).spawn().unwrap()
    }

    /// Waits (two minutes at most) until the run's record names a scratch map.
    fn wait_for_map_record(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !self.state().is_some_and(|s| s.contains(".map")) {
            assert!(Instant::now() < deadline, "no record appeared");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn state(&self) -> Option<String> {
        let dir = std::fs::read_dir(&self.scratch)
            .ok()?
            .flatten()
            .next()?
            .path();
        std::fs::read_to_string(dir.join("state.json")).ok()
    }
}

fn kill_after(mut child: Child, delay: Duration) {
    std::thread::sleep(delay);
    let _ = child.kill(); // SIGKILL; the run may already have finished
    let _ = child.wait();
}

fn setup(dir: &Path) -> Job {
    let input = dir.join("in.tif");
    write_rgb_tiff(&input, &photo(640, 512));
    let scratch = dir.join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    Job { input, scratch }
}

#[test]
fn killed_at_random_points_a_resumed_run_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let job = setup(dir.path());
    let clean = dir.path().join("clean.tif");
    let started = Instant::now();
    job.finish(&clean, false);
    let full = started.elapsed();
    let expected = std::fs::read(&clean).unwrap();
    // A fixed pseudo-random sequence of kill points over the whole run.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut resumed = 0;
    for k in 0..10 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let fraction = (k as f64 + (seed >> 11) as f64 / (1u64 << 53) as f64) / 10.0;
        let out = dir.path().join(format!("run{k}.tif"));
        kill_after(job.start(&out, false), full.mul_f64(fraction));
        assert!(!out.exists() || std::fs::read(&out).unwrap() == expected);
        let stderr = job.finish(&out, true);
        resumed += usize::from(stderr.contains("resuming from"));
        assert!(
            std::fs::read(&out).unwrap() == expected,
            "kill at {:.0} % of the run: the resumed output differs",
            100.0 * fraction
        );
        assert_eq!(
            std::fs::read_dir(&job.scratch).unwrap().count(),
            0,
            "record left behind"
        );
    }
    eprintln!("{resumed} of 10 killed runs resumed from a record (the others had none yet or had finished)");
    assert!(resumed >= 3, "only {resumed} of 10 runs resumed");
}

#[test]
fn a_render_killed_halfway_continues_from_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let job = setup(dir.path());
    let clean = dir.path().join("clean.tif");
    job.finish(&clean, false);
    let out = dir.path().join("out.tif");
    let mut child = job.start(&out, false);
    // Kill once the render has recorded some rows.
    let deadline = Instant::now() + Duration::from_secs(120);
    let rows = || -> usize {
        let Some(record) = std::fs::read_dir(&job.scratch)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path().join("render.rows.json"))
        else {
            return 0;
        };
        std::fs::read_to_string(record)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["rows"].as_u64())
            .unwrap_or(0) as usize
    };
    while rows() == 0 {
        assert!(Instant::now() < deadline, "the render recorded no rows");
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
    let stderr = job.finish(&out, true);
    assert!(stderr.contains("render resumes at row"), "{stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&clean).unwrap());
}

#[test]
fn a_damaged_record_is_detected_and_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let job = setup(dir.path());
    let clean = dir.path().join("clean.tif");
    job.finish(&clean, false);
    for damage in ["flip", "truncate"] {
        let out = dir.path().join(format!("{damage}.tif"));
        let mut child = job.start(&out, false);
        // Kill once a record with a scratch map exists.
        job.wait_for_map_record();
        let _ = child.kill();
        let _ = child.wait();
        let record = std::fs::read_dir(&job.scratch)
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        let map = std::fs::read_dir(&record)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.extension().is_some_and(|e| e == "map")
                    && job
                        .state()
                        .unwrap()
                        .contains(p.file_name().unwrap().to_str().unwrap())
            })
            .unwrap();
        let mut bytes = std::fs::read(&map).unwrap();
        match damage {
            "flip" => {
                let at = bytes.len() / 3;
                bytes[at] ^= 0x40;
            }
            _ => {
                let len = bytes.len() - 4;
                bytes.truncate(len);
            }
        }
        std::fs::write(&map, bytes).unwrap();
        let stderr = job.finish(&out, true);
        assert!(stderr.contains("not resuming"), "{damage}: {stderr}");
        assert!(!stderr.contains("resuming from"), "{damage}: {stderr}");
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(&clean).unwrap(),
            "{damage}"
        );
    }
    // Without --resume a record is cleared, never used.
    let out = dir.path().join("fresh.tif");
    let mut child = job.start(&out, false);
    job.wait_for_map_record();
    let _ = child.kill();
    let _ = child.wait();
    let stderr = job.finish(&out, false);
    assert!(!stderr.contains("resuming"), "{stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&clean).unwrap());
}
