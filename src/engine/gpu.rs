//! The GPU engine, when bigstyle is built with `--features cuda`: the burn model on burn-cuda.
//! Without the feature, asking for CUDA is a clear error and `auto` means the CPU.

use crate::error::{Error, Result};
use crate::network::Network;

#[cfg(feature = "cuda")]
mod enabled {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use burn::backend::cuda::CudaDevice;
    use burn::backend::Cuda;
    use burn::tensor::Tensor;

    use super::{Error, Network, Result};
    use crate::engine::burn::BurnEngine;

    /// The burn model on a CUDA device.
    pub type GpuEngine = BurnEngine<Cuda>;

    /// `net` on CUDA device `index`, checked with a small computation (the driver or the device
    /// may be missing: burn reports that by panicking, which is caught here).
    pub fn cuda(net: Network, index: usize) -> Result<GpuEngine> {
        let device = CudaDevice::new(index);
        let quiet = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let probe = catch_unwind(AssertUnwindSafe(|| {
            let t = Tensor::<Cuda, 1>::from_floats([1.0, 2.0], &device);
            t.sum().into_scalar()
        }));
        std::panic::set_hook(quiet);
        match probe {
            Ok(_) => Ok(BurnEngine::new(net, &device)),
            Err(_) => Err(Error::Device(format!(
                "cuda:{index}: no usable CUDA device or driver"
            ))),
        }
    }
}

#[cfg(not(feature = "cuda"))]
mod enabled {
    use super::{Error, Network, Result};
    use crate::engine::cpu::CpuEngine;

    /// The type a CUDA engine would have; never constructed in this build.
    pub type GpuEngine = CpuEngine;

    /// Always an error: this build has no GPU engine.
    pub fn cuda(_net: Network, _index: usize) -> Result<GpuEngine> {
        Err(Error::Device(
            "cuda: this bigstyle was built without CUDA support (build with --features cuda)"
                .into(),
        ))
    }
}

pub use enabled::{cuda, GpuEngine};

/// Whether this build includes the CUDA engine.
pub const AVAILABLE: bool = cfg!(feature = "cuda");
