//! Network throughput on one whole image, per layer:
//! `cargo bench --bench network -- [SIZE] [REPS] [FAMILY]`.
//!
//! Runs a network (FAMILY: multistyle26, the default; arbitrary, with a fixed style vector; or
//! transformer_net, the test checkpoint) untiled on a SIZE×SIZE photo-like image (default 1024)
//! with the CPU engine, prints megapixels per second and where the time goes. `benches/compare_onnxruntime.sh`
//! runs onnxruntime on the same image and threads in the same run and prints the ratio.

use std::time::Instant;

use bigstyle::engine::cpu::CpuEngine;
use bigstyle::engine::{forward_timed, Engine};
use bigstyle::network::{
    arbitrary, multistyle26, transformer_net, Network, StyleAffine, StyleCode,
};

fn test_image(size: usize) -> Vec<f32> {
    // Smooth gradients plus texture: activations statistics like a photo's, no file needed.
    let mut v = vec![0.0f32; 3 * size * size];
    for c in 0..3 {
        for y in 0..size {
            for x in 0..size {
                let t = ((x * (c + 3) + y * 7) % 97) as f32 / 97.0;
                let g = (x + y) as f32 / (2 * size) as f32;
                v[(c * size + y) * size + x] = 0.6 * g + 0.4 * t;
            }
        }
    }
    v
}

/// The network of `family` and a style for it (the same as benches/onnxruntime_network.py's).
fn family(name: &str) -> (Network, StyleCode) {
    match name {
        "arbitrary" => (
            arbitrary::transformer(),
            StyleCode::Vector(
                (0..arbitrary::STYLE_DIM)
                    .map(|i| ((i % 7) as f32 - 3.0) / 4.0)
                    .collect(),
            ),
        ),
        "transformer_net" => {
            let checkpoint = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/models/tnet-zip.pth"
            );
            (
                transformer_net::load(checkpoint.as_ref()).unwrap(),
                StyleCode::Fixed,
            )
        }
        _ => (multistyle26::builtin(), bigstyle::parse_style("0").unwrap()),
    }
}

fn main() {
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let args: Vec<usize> = words.iter().filter_map(|a| a.parse().ok()).collect();
    let name = words
        .iter()
        .find(|a| a.parse::<usize>().is_err())
        .map_or("multistyle26", |s| s.as_str());
    let size = args.first().copied().unwrap_or(1024);
    let reps = args.get(1).copied().unwrap_or(3);
    let (net, code) = family(name);
    let engine = CpuEngine::new(net);
    let net = engine.network();
    let style = StyleAffine::new(net, &code).unwrap();
    let image = test_image(size);
    let mut per_layer = vec![0.0f64; net.len()];
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let started = Instant::now();
        let x = engine.upload(image.clone(), 3, size, size);
        let (x, seconds) = forward_timed(&engine, x, &style);
        std::hint::black_box(engine.download(x));
        best = best.min(started.elapsed().as_secs_f64());
        per_layer
            .iter_mut()
            .zip(seconds)
            .for_each(|(t, s)| *t += s.total());
    }
    let mpx = (size * size) as f64 / 1e6;
    println!(
        "bigstyle cpu engine, {}: {size}x{size}, best of {reps}: {best:.3} s, {:.3} Mpx/s, {} threads",
        net.family,
        mpx / best,
        rayon::current_num_threads()
    );
    let total: f64 = per_layer.iter().sum();
    for (layer, t) in per_layer.iter().enumerate() {
        println!(
            "  {:<11} {:6.3} s/run  {:5.1} %",
            net.layers[layer].name,
            t / reps as f64,
            100.0 * t / total
        );
    }
}
