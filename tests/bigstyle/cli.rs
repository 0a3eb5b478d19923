//! The command line: its contract (default output, --json, styles), and honest one-line errors
//! with no panic and no leftover files on bad input.

use std::path::Path;
use std::process::Output;

use crate::common::{bigstyle, bigstyle_json, photo, write_rgb_tiff};
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asserts a failed run: exit code 1 (not a panic's 101), one line `error: …` naming `needle`.
fn assert_clean_failure(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "stderr: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
}

#[test]
fn default_output_and_json_summary() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("small.tif");
    write_rgb_tiff(&input, &photo(120, 90));
    let args = [
        "--json",
        "--tile",
        "64",
        "--style",
        "7",
        input.to_str().unwrap(),
    ];
    let summary = bigstyle_json(&args);
    assert_eq!(summary["width"], 120);
    assert_eq!(summary["height"], 90);
    assert_eq!(summary["tiles"], 4);
    assert!(summary["peak_rss_bytes"].as_u64().unwrap() > 0);
    assert!(summary["seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(files_in(dir.path()), ["small.styled.tif", "small.tif"]);
    // Run again: the default output is replaced, and that is said.
    let again = bigstyle(&["-q", "--tile", "64", input.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists and is replaced"));
    // The output gets an ordinary file's permissions, not a temporary file's 0600.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let probe = dir.path().join("probe");
    std::fs::File::create(&probe).unwrap();
    assert_eq!(mode(&dir.path().join("small.styled.tif")), mode(&probe));
}

#[test]
fn styles_lists_all_26() {
    let out = bigstyle(&["styles"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(" 0  ") && text.contains("25  "), "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&bigstyle(&["styles", "--json"]).stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 26);
    assert_eq!(json[7]["index"], 7);
}

#[test]
fn bad_options_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("small.tif");
    write_rgb_tiff(&input, &photo(64, 64));
    let path = input.to_str().unwrap();
    assert_clean_failure(&bigstyle(&["--tile", "250", path]), "multiple of 4");
    assert_clean_failure(&bigstyle(&["--style", "26", path]), "0 to 25");
    assert_clean_failure(&bigstyle(&["--style", "x", path]), "--style");
    assert_clean_failure(&bigstyle(&["--stats", "magic", path]), "--stats");
    assert_clean_failure(&bigstyle(&["-o", "out.webp", path]), "unknown format");
    assert_eq!(files_in(dir.path()), ["small.tif"]);
}

#[test]
fn broken_inputs_fail_cleanly_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tif");
    write_rgb_tiff(&good, &photo(96, 80));
    let bytes = std::fs::read(&good).unwrap();
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.tif", Vec::new(), "empty.tif"),
        (
            "noise.tif",
            (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect(),
            "noise.tif",
        ),
        (
            "truncated.tif",
            bytes[..bytes.len() / 2].to_vec(),
            "truncated.tif",
        ),
        ("header-only.tif", bytes[..8].to_vec(), "header-only.tif"),
    ];
    // A header that lies: the first IFD offset points past the end of the file.
    let mut lying = bytes.clone();
    lying[4..8].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    cases.push(("lying.tif", lying, "lying.tif"));
    for (name, content, needle) in &cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let out_path = dir.path().join(format!("{name}.out.tif"));
        let out = bigstyle(&[
            "-q",
            "-o",
            out_path.to_str().unwrap(),
            path.to_str().unwrap(),
        ]);
        assert_clean_failure(&out, needle);
        assert!(!out_path.exists());
    }
    let leftovers: Vec<String> = files_in(dir.path())
        .into_iter()
        .filter(|n| n.contains(".part") || n.contains(".out."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn corrupted_directory_bytes_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tif");
    write_rgb_tiff(&good, &photo(40, 32));
    let bytes = std::fs::read(&good).unwrap();
    let ifd = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let path = dir.path().join("flipped.tif");
    let out_path = dir.path().join("flipped.out.tif");
    for at in (ifd..bytes.len().min(ifd + 2 + 12 * 14)).step_by(5) {
        let mut content = bytes.clone();
        content[at] ^= 0xA5;
        std::fs::write(&path, &content).unwrap();
        let _ = std::fs::remove_file(&out_path);
        let out = bigstyle(&[
            "-q",
            "-o",
            out_path.to_str().unwrap(),
            path.to_str().unwrap(),
        ]);
        let code = out.status.code();
        assert!(
            code == Some(0) || code == Some(1),
            "byte {at}: exit {code:?}"
        );
        if code == Some(1) {
            assert_clean_failure(&out, "flipped.tif");
            assert!(!out_path.exists());
        }
    }
}

#[test]
fn missing_input_is_reported() {
    assert_clean_failure(&bigstyle(&["/nonexistent/in.tif"]), "/nonexistent/in.tif");
}

#[test]
fn the_input_is_never_the_output_under_any_name() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("master.tif");
    write_rgb_tiff(&input, &photo(64, 48));
    let before = std::fs::read(&input).unwrap();
    let link = dir.path().join("hardlink.tif");
    std::fs::hard_link(&input, &link).unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::os::unix::fs::symlink(dir.path(), sub.join("up")).unwrap();
    let dotted = dir.path().join(".").join("master.tif");
    let via_symlink = sub.join("up").join("master.tif");
    for out in [&input, &dotted, &link, &via_symlink] {
        let o = bigstyle(&["-o", out.to_str().unwrap(), input.to_str().unwrap()]);
        assert_clean_failure(&o, "is the input file");
    }
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

#[test]
fn unusable_output_paths_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    write_rgb_tiff(&input, &photo(64, 48));
    let path = input.to_str().unwrap();
    let missing = dir.path().join("no/such/dir/out.tif");
    assert_clean_failure(
        &bigstyle(&["-o", missing.to_str().unwrap(), path]),
        "does not exist",
    );
    let subdir = dir.path().join("adir.tif");
    std::fs::create_dir(&subdir).unwrap();
    assert_clean_failure(
        &bigstyle(&["-o", subdir.to_str().unwrap(), path]),
        "is a directory",
    );
    let stats = dir.path().join("nowhere/stats.json");
    assert_clean_failure(
        &bigstyle(&["--save-stats", stats.to_str().unwrap(), path]),
        "--save-stats",
    );
    let existing = dir.path().join("done.tif");
    std::fs::write(&existing, "keep me").unwrap();
    assert_clean_failure(
        &bigstyle(&["-n", "-o", existing.to_str().unwrap(), path]),
        "--no-clobber",
    );
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    assert_eq!(files_in(dir.path()), ["adir.tif", "done.tif", "in.tif"]);
}

/// A tiny tmpfs mounted for a test, unmounted when dropped.
struct SmallFilesystem(std::path::PathBuf);

impl SmallFilesystem {
    /// A 300 KiB filesystem, or `None` where mounting is not allowed (not root).
    fn mount(at: &Path) -> Option<Self> {
        Self::mount_sized(at, "300k")
    }

    /// A tmpfs of `size` (its pages are only taken when written).
    fn mount_sized(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let size = format!("size={size}");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &size, "tmpfs", at.to_str().unwrap()])
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(at.into()))
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_a_clean_error_for_every_writer() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    write_rgb_tiff(&input, &photo(600, 400));
    let Some(disk) = SmallFilesystem::mount(&dir.path().join("full")) else {
        eprintln!("not root: no filesystem to fill (CI runs this as root)");
        return;
    };
    for compress in ["none", "lzw"] {
        let out = disk.0.join(format!("out-{compress}.tif"));
        let o = bigstyle(&[
            "--compress",
            compress,
            "-o",
            out.to_str().unwrap(),
            input.to_str().unwrap(),
        ]);
        assert_clean_failure(&o, "No space left on device");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(stderr.matches("No space left").count(), 1, "{stderr}");
        assert!(
            files_in(&disk.0).is_empty(),
            "{compress}: left {:?}",
            files_in(&disk.0)
        );
    }
}

/// BT.601 luma and chroma (Cb, Cr) of an 8-bit RGB pixel, in levels.
fn ycbcr(p: &[u16]) -> [f64; 3] {
    let [r, g, b] = [p[0], p[1], p[2]].map(f64::from);
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    [y, 0.564 * (b - y), 0.713 * (r - y)]
}

#[test]
fn preserve_colour_keeps_the_chroma_and_strength_mixes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    let img = photo(160, 120);
    write_rgb_tiff(&input, &img);
    let run = |extra: &[&str], name: &str| {
        let out = dir.path().join(name);
        let mut args = vec!["-o", out.to_str().unwrap(), input.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = bigstyle(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        crate::common::read_tiff(&out).samples
    };
    let original: Vec<u16> = img.as_raw().iter().map(|v| u16::from(*v)).collect();
    let styled = run(&[], "styled.tif");
    let kept = run(&["--preserve-colour"], "kept.tif");
    let (mut chroma_off, mut luma_off, mut unclipped) = (0.0, 0.0, 0);
    for ((o, s), k) in original.chunks(3).zip(styled.chunks(3)).zip(kept.chunks(3)) {
        if k.iter().any(|v| *v == 0 || *v == 255) {
            continue; // clipped to the gamut: the chroma cannot be kept exactly there
        }
        let (yo, ys, yk) = (ycbcr(o), ycbcr(s), ycbcr(k));
        chroma_off += (yk[1] - yo[1]).abs().max((yk[2] - yo[2]).abs());
        luma_off += (yk[0] - ys[0]).abs();
        unclipped += 1;
    }
    let (chroma_off, luma_off) = (chroma_off / unclipped as f64, luma_off / unclipped as f64);
    eprintln!("preserve-colour: chroma {chroma_off:.2} levels from the input, luma {luma_off:.2} from the stylization ({unclipped} px)");
    assert!(unclipped > 10_000);
    assert!(
        chroma_off < 1.0 && luma_off < 1.0,
        "chroma {chroma_off}, luma {luma_off}"
    );
    // Strength 0 is the input; 0.5 is half-way.
    let none = run(&["--strength", "0"], "none.tif");
    let worst = none
        .iter()
        .zip(&original)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(worst <= 1, "strength 0 is {worst} levels from the input");
    let half = run(&["--strength", "0.5"], "half.tif");
    let off = half
        .iter()
        .zip(styled.iter().zip(&original))
        .map(|(h, (s, o))| (f64::from(*h) - (f64::from(*s) + f64::from(*o)) / 2.0).abs())
        .fold(0.0, f64::max);
    assert!(off <= 1.0, "strength 0.5 is {off} levels from the mean");
}

#[test]
fn an_interrupted_run_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    write_rgb_tiff(&input, &photo(1600, 1200));
    let out = dir.path().join("out.tif");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_bigstyle"))
        .args([
            "-q",
            "--tile",
            "256",
            "-o",
            out.to_str().unwrap(),
            input.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the run has its temporary output, then interrupt it.
    let started = std::time::Instant::now();
    while !files_in(dir.path()).iter().any(|f| f.ends_with(".part")) {
        assert!(
            started.elapsed().as_secs() < 60,
            "no temporary file appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let result = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(143), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(files_in(dir.path()), ["in.tif"]);
}

#[test]
fn json_describes_the_file_written_and_forced_conversions_are_said() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rgba16.tif");
    let (w, h) = (80u32, 60u32);
    let samples: Vec<u16> = photo(w, h)
        .pixels()
        .flat_map(|p| [p[0], p[1], p[2], 200].map(|v| u16::from(v) * 257))
        .collect();
    let mut enc = tiff::encoder::TiffEncoder::new(std::fs::File::create(&input).unwrap()).unwrap();
    enc.write_image::<tiff::encoder::colortype::RGBA16>(w, h, &samples)
        .unwrap();
    let out = dir.path().join("out.jpg");
    let run = bigstyle(&[
        "--json",
        "-o",
        out.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert!(run.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let written = &summary["written"];
    assert_eq!(written["format"], "jpeg");
    assert_eq!(written["bits"], 8);
    assert_eq!(written["channels"], 3);
    assert_eq!(written["alpha"], false);
    assert_eq!(written["bytes"], std::fs::metadata(&out).unwrap().len());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        stderr.matches("warning: JPEG holds 8 bits").count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("warning: JPEG has no alpha").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn a_batch_does_every_good_file_and_reports_the_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("in");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    write_rgb_tiff(&tree.join("a.tif"), &photo(64, 48));
    photo(70, 50).save(tree.join("sub/b.png")).unwrap();
    std::fs::write(tree.join("sub/broken.tif"), b"II*\0garbage").unwrap();
    let out = dir.path().join("out");
    let out_arg = format!("{}/", out.display());
    let args = [
        "--json",
        "--format",
        "png",
        "-o",
        &out_arg,
        tree.to_str().unwrap(),
    ];
    let run = bigstyle(&args);
    assert_eq!(run.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["totals"]["ok"], 2, "{report}");
    assert_eq!(report["totals"]["failed"], 1, "{report}");
    let failed: Vec<_> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "failed")
        .collect();
    assert!(failed[0]["input"].as_str().unwrap().ends_with("broken.tif"));
    assert!(out.join("a.png").is_file() && out.join("sub/b.png").is_file());
    assert!(!out.join("sub/broken.png").exists());
    // Again with --resume: the finished outputs are kept as they are.
    let before = std::fs::metadata(out.join("a.png"))
        .unwrap()
        .modified()
        .unwrap();
    let mut again = args.to_vec();
    again.insert(0, "--resume");
    let rerun: serde_json::Value = serde_json::from_slice(&bigstyle(&again).stdout).unwrap();
    assert_eq!(rerun["totals"]["skipped"], 2, "{rerun}");
    assert_eq!(
        std::fs::metadata(out.join("a.png"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    // Several files named on the command line, outputs beside them.
    let two = bigstyle(&[
        "-q",
        tree.join("a.tif").to_str().unwrap(),
        tree.join("sub/b.png").to_str().unwrap(),
    ]);
    assert!(
        two.status.success(),
        "{}",
        String::from_utf8_lossy(&two.stderr)
    );
    assert!(tree.join("a.styled.tif").is_file() && tree.join("sub/b.styled.tif").is_file());
}

#[test]
fn scratch_that_does_not_fit_is_refused_before_the_sweeps() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    write_rgb_tiff(&input, &photo(1600, 1200));
    let out = dir.path().join("out.tif");
    let (Some(full), Some(ram)) = (
        SmallFilesystem::mount(&dir.path().join("full")),
        SmallFilesystem::mount_sized(&dir.path().join("ram"), "4g"),
    ) else {
        eprintln!("not root: no filesystem to mount (CI runs this as root)");
        return;
    };
    let run = |scratch: &Path, budget: &str| {
        bigstyle(&[
            "--tile",
            "256",
            "--mem-budget",
            budget,
            "--scratch-dir",
            scratch.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            input.to_str().unwrap(),
        ])
    };
    assert_clean_failure(&run(&full.0, "2GiB"), "free");
    assert_clean_failure(&run(&ram.0, "200MiB"), "in memory (tmpfs)");
    assert!(
        run(&ram.0, "2GiB").status.success(),
        "a budget that holds the scratch too"
    );
    assert_eq!(files_in(dir.path()), ["full", "in.tif", "out.tif", "ram"]);
}

#[test]
fn standard_input_and_output_work_as_in_a_pipeline() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    write_rgb_tiff(&input, &photo(64, 48));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bigstyle"))
        .args(["-q", "--format", "png", "-o", "-", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&input).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let png = image::load_from_memory(&out.stdout).unwrap();
    assert_eq!((png.width(), png.height()), (64, 48));
    // The same picture as from the file.
    let file_out = dir.path().join("file.png");
    assert!(bigstyle(&[
        "-q",
        "-o",
        file_out.to_str().unwrap(),
        input.to_str().unwrap()
    ])
    .status
    .success());
    assert_eq!(png.to_rgb8(), image::open(&file_out).unwrap().to_rgb8());
    assert_clean_failure(&bigstyle(&["-"]), "name the output");
    assert_eq!(files_in(dir.path()), ["file.png", "in.tif"]);
}
