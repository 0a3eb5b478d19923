//! The GPU engine, when bigstyle is built with `--features cuda`: the burn model on burn-cuda.
//! Without the feature, asking for CUDA is a clear error and `auto` means the CPU.

#[cfg(feature = "cuda")]
mod enabled {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use burn::backend::cuda::CudaDevice;
    use burn::backend::Cuda;
    use burn::tensor::Tensor;

    use crate::model::burn::BurnEngine;

    /// The burn model on a CUDA device.
    pub type GpuEngine = BurnEngine<Cuda>;

    /// The engine on CUDA device `index`, checked with a small computation (the driver or the
    /// device may be missing: burn reports that by panicking, which is caught here).
    pub fn cuda(index: usize) -> anyhow::Result<GpuEngine> {
        let device = CudaDevice::new(index);
        let probe = catch_unwind(AssertUnwindSafe(|| {
            let t = Tensor::<Cuda, 1>::from_floats([1.0, 2.0], &device);
            t.sum().into_scalar()
        }));
        match probe {
            Ok(_) => Ok(BurnEngine::builtin(&device)),
            Err(_) => anyhow::bail!("--device cuda:{index}: no usable CUDA device or driver"),
        }
    }

    /// The first CUDA device, if one works.
    pub fn detect() -> Option<GpuEngine> {
        let quiet = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let engine = cuda(0).ok();
        std::panic::set_hook(quiet);
        engine
    }
}

#[cfg(not(feature = "cuda"))]
mod enabled {
    use crate::model::cpu::CpuEngine;

    /// Always an error: this build has no GPU engine.
    pub fn cuda(_index: usize) -> anyhow::Result<CpuEngine> {
        anyhow::bail!(
            "--device cuda: this bigstyle was built without CUDA support (build with --features cuda)"
        )
    }

    /// No GPU engine in this build.
    pub fn detect() -> Option<CpuEngine> {
        None
    }
}

pub use enabled::{cuda, detect};
