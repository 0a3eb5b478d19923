//! The memory budget, automatic tiles, very wide images and the concurrent pipeline.

use bigstyle::stats::StatsMode;
use bigstyle::Options;

use crate::common::{
    bigstyle, bigstyle_json, model, photo, psnr, read_tiff, run_tiled, write_rgb_tiff,
};
#[test]
fn small_budget_gives_many_tiles_and_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    write_rgb_tiff(&input, &photo(900, 700));
    let path = input.to_str().unwrap();
    let summary = bigstyle_json(&["--json", "--mem-budget", "160MiB", "--device", "cpu", path]);
    let tiles = summary["tiles"].as_u64().unwrap();
    let rss = summary["peak_rss_bytes"].as_u64().unwrap();
    assert!(tiles >= 4, "{summary}");
    assert!(summary["memory_estimate"].as_u64().unwrap() <= 160 << 20);
    assert!(rss <= 160 << 20, "peak RSS {} MiB", rss >> 20);
}

#[test]
fn impossible_tile_is_refused_naming_the_largest() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    write_rgb_tiff(&input, &photo(2000, 1500));
    let out = bigstyle(&[
        "--tile",
        "2048",
        "--mem-budget",
        "200MiB",
        input.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the largest tile that fits is"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
}

#[test]
fn info_reports_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    write_rgb_tiff(&input, &photo(1000, 600));
    let path = input.to_str().unwrap();
    let info = bigstyle_json(&[
        "info",
        "--json",
        "--tile",
        "256",
        "--mem-budget",
        "1GiB",
        path,
    ]);
    assert_eq!(info["width"], 1000);
    assert_eq!(info["bands"], 3);
    assert_eq!(info["bits"], 8);
    assert_eq!(info["tiles"], 12);
    assert!(info["estimated_seconds"].as_f64().unwrap() > 0.0);
    assert!(info["memory_estimate"].as_u64().unwrap() < 1 << 30);
}

#[test]
fn image_wider_than_65535_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("wide.tif");
    let (w, h) = (70_000u32, 8u32);
    write_rgb_tiff(&input, &photo(w, h));
    let opts = Options {
        tile: Some(4096),
        stats: StatsMode::Thumbnail(20_000),
        ..Options::default()
    };
    let out = dir.path().join("wide.out.tif");
    bigstyle::stylize_file(
        &model(),
        &input,
        &out,
        &opts,
        &mut bigstyle::progress::NoProgress,
    )
    .unwrap();
    let decoded = read_tiff(&out);
    assert_eq!((decoded.width, decoded.height), (70_000, 8));
    assert_eq!(decoded.samples.len(), 70_000 * 8 * 3);
}

#[test]
fn output_does_not_depend_on_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    write_rgb_tiff(&input, &photo(420, 300));
    let opts = Options {
        tile: Some(128),
        ..Options::default()
    };
    let run_with = |threads: usize, tag: &str| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run_tiled(&input, dir.path(), &opts, tag))
    };
    let one = run_with(1, "one");
    let four = run_with(4, "four");
    assert_eq!(psnr(&one, &four), f64::INFINITY);
}

#[test]
fn every_network_family_keeps_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    write_rgb_tiff(&input, &photo(900, 700));
    let path = input.to_str().unwrap();
    let model = crate::common::data("models/tnet-zip.pth");
    let style = crate::common::data("chelsea.png");
    for family in [
        ["--model", model.to_str().unwrap()],
        ["--style-image", style.to_str().unwrap()],
    ] {
        let mut args = vec!["--json", "--mem-budget", "160MiB", "--device", "cpu"];
        args.extend(family);
        args.push(path);
        let summary = bigstyle_json(&args);
        let rss = summary["peak_rss_bytes"].as_u64().unwrap();
        eprintln!(
            "{}: {} tiles, peak RSS {} MiB",
            summary["network"],
            summary["tiles"],
            rss >> 20
        );
        assert!(summary["tiles"].as_u64().unwrap() >= 4, "{summary}");
        assert!(
            rss <= 160 << 20,
            "{}: peak RSS {} MiB",
            summary["network"],
            rss >> 20
        );
    }
}

#[test]
fn whole_image_buffers_are_held_to_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("wide.tif");
    write_rgb_tiff(&input, &photo(8000, 3000));
    // JPEG is encoded from a whole-image buffer (72 MB here): refused before any work.
    let jpeg = dir.path().join("out.jpg");
    let out = bigstyle(&[
        "--mem-budget",
        "120MiB",
        "-o",
        jpeg.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("JPEG is encoded from the whole image"),
        "{stderr}"
    );
    assert!(!jpeg.exists());
    // The thumbnail statistics' forward pass is shrunk to fit the budget.
    let small = dir.path().join("small.tif");
    write_rgb_tiff(&small, &photo(1200, 900));
    let summary = bigstyle(&[
        "--json",
        "--stats",
        "thumbnail",
        "--mem-budget",
        "160MiB",
        small.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&summary.stderr);
    assert!(stderr.contains("thumbnail statistics at"), "{stderr}");
    let value: serde_json::Value = serde_json::from_slice(&summary.stdout).unwrap();
    assert!(
        value["peak_rss_bytes"].as_u64().unwrap() <= 160 << 20,
        "{value}"
    );
}
