//! Beyond one machine: shards of one image rendered in any order (one twice), merged into the
//! one-machine file byte for byte; shard indices from job-array environments.

use std::path::Path;
use std::process::Command;

use crate::common::{bigstyle, photo};

fn ok(out: std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn shards_in_any_order_merge_into_the_one_machine_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rgb = d.join("rgb.tif");
    photo(700, 650).save(&rgb).unwrap();
    // A 16-bit RGBA cut-out, written as PNG.
    let rgba = d.join("rgba.png");
    let base = photo(500, 420);
    image::ImageBuffer::<image::Rgba<u16>, Vec<u16>>::from_fn(500, 420, |x, y| {
        let q = base.get_pixel(x, y);
        let a = if (x / 50 + y / 50) % 3 == 0 { 0 } else { 65535 };
        image::Rgba([q[0] as u16 * 257, q[1] as u16 * 257, q[2] as u16 * 257, a])
    })
    .save(&rgba)
    .unwrap();
    for (input, ext, count, flags) in [
        (&rgb, "tif", 4, &["--tile", "128"][..]),
        (
            &rgba,
            "png",
            3,
            &["--tile", "96", "--overlap", "72", "--strength", "0.7"][..],
        ),
    ] {
        let stats = d.join(format!("{ext}.stats.json"));
        let whole = d.join(format!("whole.{ext}"));
        let out = d.join(format!("merged.{ext}"));
        ok(bigstyle(
            &[
                &[
                    "-q",
                    "--stats",
                    "thumbnail",
                    "--save-stats",
                    s(&stats),
                    "-o",
                    s(&d.join("t.tif")),
                    s(input),
                ][..],
                flags,
            ]
            .concat(),
        ));
        ok(bigstyle(
            &[
                &["-q", "--stats-file", s(&stats), "-o", s(&whole), s(input)][..],
                flags,
            ]
            .concat(),
        ));
        // Out of order, shard 1 twice (a re-run replaces its part).
        let mut order: Vec<usize> = (0..count).rev().collect();
        order.push(1);
        for i in order {
            let shard = format!("{i}/{count}");
            ok(bigstyle(
                &[
                    &[
                        "-q",
                        "--shard",
                        &shard,
                        "--stats-file",
                        s(&stats),
                        "-o",
                        s(&out),
                        s(input),
                    ][..],
                    flags,
                ]
                .concat(),
            ));
        }
        assert!(!out.exists(), "a shard wrote the output itself");
        let parts: Vec<String> = (0..count)
            .map(|i| format!("{}.shard-{i}-of-{count}", s(&out)))
            .collect();
        let mut merge_args = vec!["merge", "-q"];
        merge_args.extend(parts.iter().rev().map(String::as_str));
        ok(bigstyle(&merge_args));
        assert!(
            std::fs::read(&out).unwrap() == std::fs::read(&whole).unwrap(),
            "{ext}: merged file differs from the one-machine run"
        );
        // A missing part, or a part of another run, is refused in one line.
        let missing = bigstyle(&["merge", "-o", s(&d.join("x.tif")), &parts[0], &parts[2]]);
        let stderr = String::from_utf8_lossy(&missing.stderr);
        assert_eq!(missing.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("missing shard 1"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    let foreign = bigstyle(&[
        "merge",
        "-o",
        s(&d.join("x.tif")),
        &format!("{}.shard-0-of-4", s(&d.join("merged.tif"))),
        &format!("{}.shard-1-of-3", s(&d.join("merged.png"))),
    ]);
    assert_eq!(foreign.status.code(), Some(1));
    assert!(!d.join("x.tif").exists());
}

#[test]
fn auto_shards_read_slurm_and_kubernetes_indices() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = d.join("in.tif");
    photo(300, 260).save(&input).unwrap();
    let stats = d.join("s.json");
    ok(bigstyle(&[
        "-q",
        "--stats",
        "thumbnail",
        "--save-stats",
        s(&stats),
        "-o",
        s(&d.join("t.tif")),
        s(&input),
    ]));
    let out = d.join("out.tif");
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bigstyle"));
        cmd.args([
            "-q",
            "--tile",
            "64",
            "--shard",
            "auto/2",
            "--stats-file",
            s(&stats),
            "-o",
            s(&out),
            s(&input),
        ])
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_MIN")
        .env_remove("JOB_COMPLETION_INDEX");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    ok(run(&[
        ("SLURM_ARRAY_TASK_ID", "1"),
        ("SLURM_ARRAY_TASK_MIN", "1"),
    ]));
    assert!(Path::new(&format!("{}.shard-0-of-2", s(&out))).exists());
    ok(run(&[("JOB_COMPLETION_INDEX", "1")]));
    assert!(Path::new(&format!("{}.shard-1-of-2", s(&out))).exists());
    let none = run(&[]);
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("SLURM_ARRAY_TASK_ID"));
    // Without a statistics file every shard would compute its own: refused.
    let unshared = bigstyle(&["--shard", "0/2", "-o", s(&out), s(&input)]);
    assert_eq!(unshared.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unshared.stderr).contains("--stats-file"));
}

/// The largest relative difference between two saved statistics files' means and variances.
fn statistics_apart(a: &Path, b: &Path) -> f64 {
    let load = |path: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let (one, other) = (load(a), load(b));
    let mut worst = 0.0f64;
    for (la, lb) in one["layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(other["layers"].as_array().unwrap())
    {
        for key in ["mean", "var"] {
            let (Some(xa), Some(xb)) = (la[key].as_array(), lb[key].as_array()) else {
                continue;
            };
            for (x, y) in xa.iter().zip(xb) {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                worst = worst.max((x - y).abs() / x.abs().max(1e-30));
            }
        }
    }
    worst
}

/// A team of threads joined by channels: the exact computation's exchanges without MPI.
#[derive(Debug)]
struct ThreadTeam {
    rank: usize,
    size: usize,
    /// `to[r]` sends to rank r; `from[r]` receives what rank r sent to this one.
    to: Vec<std::sync::mpsc::Sender<Vec<f32>>>,
    from: Vec<std::sync::Mutex<std::sync::mpsc::Receiver<Vec<f32>>>>,
    gathered: std::sync::Arc<std::sync::Mutex<Vec<Vec<f64>>>>,
    barrier: std::sync::Arc<std::sync::Barrier>,
}

impl ThreadTeam {
    fn all(size: usize) -> Vec<ThreadTeam> {
        let mut senders = vec![Vec::new(); size];
        let mut receivers: Vec<Vec<_>> = (0..size).map(|_| Vec::new()).collect();
        for row in senders.iter_mut() {
            for inbox in receivers.iter_mut() {
                let (tx, rx) = std::sync::mpsc::channel();
                row.push(tx);
                inbox.push(std::sync::Mutex::new(rx));
            }
        }
        let gathered = std::sync::Arc::new(std::sync::Mutex::new(vec![Vec::new(); size]));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(size));
        senders
            .into_iter()
            .zip(receivers)
            .enumerate()
            .map(|(rank, (to, from))| ThreadTeam {
                rank,
                size,
                to,
                from,
                gathered: gathered.clone(),
                barrier: barrier.clone(),
            })
            .collect()
    }
}

impl bigstyle::stats::team::Team for ThreadTeam {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_gather(&self, values: &[f64]) -> Vec<f64> {
        self.gathered.lock().unwrap()[self.rank] = values.to_vec();
        self.barrier.wait();
        let all = self.gathered.lock().unwrap().concat();
        self.barrier.wait();
        all
    }
    fn send(&self, to: usize, values: &[f32]) {
        self.to[to].send(values.to_vec()).unwrap();
    }
    fn receive(&self, from: usize, len: usize) -> Vec<f32> {
        let got = self.from[from].lock().unwrap().recv().unwrap();
        assert_eq!(got.len(), len, "rank {} from {from}", self.rank);
        got
    }
    fn barrier(&self) {
        self.barrier.wait();
    }
    fn abort(&self, code: i32) -> ! {
        panic!("rank {} aborted with {code}", self.rank)
    }
}

#[test]
fn a_team_of_processes_computes_the_exact_output_together() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let input = d.join("in.tif");
    photo(520, 700).save(&input).unwrap();
    let opts = bigstyle::Options {
        tile: Some(128),
        scratch_dir: Some(d.clone()),
        save_stats: Some(d.join("single.json")),
        ..Default::default()
    };
    let single = d.join("single.tif");
    crate::common::run(&input, &single, &opts);
    let output = d.join("team.tif");
    std::thread::scope(|scope| {
        for member in ThreadTeam::all(3) {
            let (input, output, d) = (&input, &output, &d);
            scope.spawn(move || {
                let rank = member.rank;
                let team: std::sync::Arc<dyn bigstyle::stats::team::Team> =
                    std::sync::Arc::new(member);
                let opts = bigstyle::Options {
                    tile: Some(128),
                    scratch_dir: Some(d.join(format!("scratch{rank}"))),
                    save_stats: Some(d.join("team.json")),
                    team: Some(team.clone()),
                    ..Default::default()
                };
                std::fs::create_dir_all(d.join(format!("scratch{rank}"))).unwrap();
                crate::common::run(input, output, &opts);
                bigstyle::merge::merge_team(
                    team.as_ref(),
                    output,
                    1 << 30,
                    false,
                    &mut bigstyle::progress::NoProgress,
                )
                .unwrap();
            });
        }
    });
    assert!(
        !d.join("team.tif.shard-0-of-3").exists(),
        "parts left behind"
    );
    let (a, b) = (
        std::fs::read(&single).unwrap(),
        std::fs::read(&output).unwrap(),
    );
    if a != b {
        let (max, _) = crate::common::levels_apart(
            &crate::common::read_tiff(&single)
                .samples
                .iter()
                .map(|&v| v as u8)
                .collect::<Vec<_>>(),
            &crate::common::read_tiff(&output)
                .samples
                .iter()
                .map(|&v| v as u8)
                .collect::<Vec<_>>(),
        );
        assert!(max <= 1, "team output {max} levels from the single process");
    }
    let worst = statistics_apart(&d.join("single.json"), &d.join("team.json"));
    eprintln!("team of 3 vs one process: statistics within {worst:.1e} relative");
    assert!(worst <= 1e-12, "{worst}");
}

/// With the `mpi` feature: `mpirun -n 3` (oversubscribed on one machine) equals one process.
#[cfg(feature = "mpi")]
#[test]
fn mpirun_with_three_ranks_equals_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = d.join("in.tif");
    photo(640, 760).save(&input).unwrap();
    let single = d.join("single.tif");
    ok(bigstyle(&[
        "-q",
        "--tile",
        "128",
        "--save-stats",
        s(&d.join("one.json")),
        "-o",
        s(&single),
        s(&input),
    ]));
    let merged = d.join("mpi.tif");
    let out = Command::new("mpirun")
        .args(["-n", "3", "--oversubscribe"])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .arg(env!("CARGO_BIN_EXE_bigstyle"))
        .args([
            "--mpi",
            "-q",
            "--tile",
            "128",
            "--scratch-dir",
            s(d),
            "--save-stats",
            s(&d.join("mpi.json")),
            "-o",
            s(&merged),
            s(&input),
        ])
        .output()
        .unwrap();
    ok(out);
    let a = crate::common::read_tiff(&single).samples;
    let b = crate::common::read_tiff(&merged).samples;
    let to8 = |v: &[u16]| v.iter().map(|&x| x as u8).collect::<Vec<u8>>();
    let db = crate::common::psnr(&to8(&a), &to8(&b));
    eprintln!("mpirun -n 3 vs one process: {db:.1} dB");
    assert!(db >= 90.0, "{db:.1} dB");
    let worst = statistics_apart(&d.join("one.json"), &d.join("mpi.json"));
    eprintln!("mpirun -n 3 vs one process: statistics within {worst:.1e} relative");
    assert!(worst <= 1e-12, "{worst}");
}
