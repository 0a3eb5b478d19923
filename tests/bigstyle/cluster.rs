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
