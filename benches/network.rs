//! Network throughput on one whole image, per layer: `cargo bench --bench network -- [SIZE] [REPS]`.
//!
//! Runs the built-in network untiled on a SIZE×SIZE photo-like image (default 1024) with the
//! CPU engine, prints megapixels per second and where the time goes. `benches/compare_onnxruntime.sh`
//! runs onnxruntime on the same image and threads in the same run and prints the ratio.

use std::time::Instant;

use bigstyle::engine::cpu::CpuEngine;
use bigstyle::engine::{forward_each, Engine};
use bigstyle::network::StyleAffine;
use bigstyle::norm::{Accumulator, NetworkStats};

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

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let size = args.first().copied().unwrap_or(1024);
    let reps = args.get(1).copied().unwrap_or(3);
    let engine = CpuEngine::builtin();
    let net = engine.network();
    let style = StyleAffine::new(net, &bigstyle::parse_style("0").unwrap()).unwrap();
    let image = test_image(size);
    let mut per_layer = vec![0.0f64; net.len()];
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let started = Instant::now();
        let mut stats = NetworkStats::empty(net.len());
        let x = engine.upload(image.clone(), 3, size, size);
        let mut step = |layer: usize, x| {
            let t = Instant::now();
            let raw = engine.conv_raw(layer, x);
            let mut acc = Accumulator::default();
            acc.merge(&engine.moments(&raw));
            stats.set(layer, acc.finish());
            let y = engine.normalize(layer, raw, stats.get(layer), &style);
            per_layer[layer] += t.elapsed().as_secs_f64();
            y
        };
        let x = forward_each(&engine, x, &mut step);
        std::hint::black_box(engine.download(x));
        best = best.min(started.elapsed().as_secs_f64());
    }
    let mpx = (size * size) as f64 / 1e6;
    println!(
        "bigstyle cpu engine: {size}x{size}, best of {reps}: {best:.3} s, {:.3} Mpx/s, {} threads",
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
