//! Glovebox's GPU backend: the blind rotation, the external product, the NTT and the LWE
//! keyswitch as WGSL compute shaders run through `wgpu` (Vulkan, Metal, DX12), bit for bit
//! equal to [`glovebox_engine::backend::CpuBackend`].
//!
//! - The bootstrapping key is converted to the NTT domain on upload and stays on the device;
//!   so do the keyswitch key, the twiddles, the pipelines (specialized to the key's shape) and
//!   the work and staging buffers, which are built on first use and reused.
//! - A batch of blind rotations is one dispatch per key bit (by default) over one workgroup per
//!   job: every workgroup of a dispatch reads the same GGSW, so it comes from memory once per
//!   batch and from cache for the other jobs. Batches larger than
//!   [`GpuOptions::max_jobs_per_dispatch`] are split.
//! - 64-bit integers come from `wgpu::Features::SHADER_INT64`; the 64×64→128 products are
//!   built from 32-bit halves (`shaders/modp.wgsl`).
//! - There is no silent fallback: without an adapter that has 64-bit shader integers,
//!   [`GpuBackend::new`] returns [`Error::Backend`] saying what to install.
//!
//! ```no_run
//! use glovebox_engine::prelude::*;
//! use glovebox_kernels::GpuBackend;
//! # fn main() -> glovebox_engine::Result<()> {
//! let gpu = GpuBackend::new()?; // Err(Error::Backend { .. }) on a machine without a GPU driver
//! println!("running on {}", gpu.name());
//! let mut data = vec![1u64; 2048];
//! gpu.ntt_forward_batch(PolynomialSize(2048), &mut data)?;
//! # Ok(()) }
//! ```

mod blind_rotation;
mod device;
mod keyswitch;
mod ntt;
mod shaders;

pub use device::{GpuDevice, INSTALL_HINT};

use glovebox_engine::backend::{
    check_poly_batch, next_backend_instance, Backend, BootstrapKeyHandle, KeyswitchKeyHandle,
    NttBackend, ResidentKeys,
};
use glovebox_engine::commons::dimensions::PolynomialSize;
use glovebox_engine::entities::{LweBootstrapKey, LweKeyswitchKey};
use glovebox_engine::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How a [`GpuBackend`] splits its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpuOptions {
    /// The most jobs (ciphertexts) in one dispatch sequence; larger batches are split. The
    /// work buffers are sized for this many jobs (and capped by the device's binding limits).
    pub max_jobs_per_dispatch: usize,
    /// Key bits per blind-rotation dispatch. 1 (the default) makes every GGSW of the key one
    /// dispatch that all jobs of the batch read together; more amortizes dispatch overhead on
    /// devices where it matters (software Vulkan).
    pub key_bits_per_dispatch: usize,
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            max_jobs_per_dispatch: 1024,
            key_bits_per_dispatch: 1,
        }
    }
}

impl GpuOptions {
    /// The defaults, overridden by `GLOVEBOX_GPU_JOBS_PER_DISPATCH` and
    /// `GLOVEBOX_GPU_KEY_BITS_PER_DISPATCH` where set (for tuning on a device without
    /// rebuilding). A value that is not a positive integer is an error, not ignored.
    pub fn from_env() -> Result<Self> {
        let mut options = Self::default();
        for (var, field) in [
            (
                "GLOVEBOX_GPU_JOBS_PER_DISPATCH",
                &mut options.max_jobs_per_dispatch,
            ),
            (
                "GLOVEBOX_GPU_KEY_BITS_PER_DISPATCH",
                &mut options.key_bits_per_dispatch,
            ),
        ] {
            if let Ok(v) = std::env::var(var) {
                *field = v.parse().ok().filter(|&x| x > 0).ok_or_else(|| {
                    Error::InvalidParameters(format!("{var}={v}: expected a positive integer"))
                })?;
            }
        }
        Ok(options)
    }
}

/// The GPU backend. See the crate documentation.
pub struct GpuBackend {
    instance: u64,
    gpu: Arc<GpuDevice>,
    options: GpuOptions,
    bsks: ResidentKeys<blind_rotation::ResidentBootstrapKey>,
    ksks: ResidentKeys<keyswitch::ResidentKeyswitchKey>,
    ntts: Mutex<HashMap<usize, Arc<ntt::NttKernels>>>,
}

impl GpuBackend {
    /// Opens the best GPU (see [`GpuDevice::open`]) with [`GpuOptions::from_env`].
    pub fn new() -> Result<Self> {
        Self::with_options(GpuOptions::from_env()?)
    }

    /// Opens the best GPU with `options`.
    pub fn with_options(options: GpuOptions) -> Result<Self> {
        Self::on_device(Arc::new(GpuDevice::open()?), options)
    }

    /// A backend on an already opened device (several backends may share one).
    pub fn on_device(gpu: Arc<GpuDevice>, options: GpuOptions) -> Result<Self> {
        if options.max_jobs_per_dispatch == 0 || options.key_bits_per_dispatch == 0 {
            return Err(Error::InvalidParameters(format!(
                "GPU options must be positive: {options:?}"
            )));
        }
        let instance = next_backend_instance();
        Ok(Self {
            instance,
            gpu,
            options,
            bsks: ResidentKeys::new(instance, "bootstrap key"),
            ksks: ResidentKeys::new(instance, "keyswitch key"),
            ntts: Mutex::new(HashMap::new()),
        })
    }

    /// The device this backend runs on.
    pub fn device(&self) -> &Arc<GpuDevice> {
        &self.gpu
    }

    /// The options it was built with.
    pub fn options(&self) -> GpuOptions {
        self.options
    }

    fn bsk(&self, h: &BootstrapKeyHandle) -> Result<Arc<blind_rotation::ResidentBootstrapKey>> {
        self.bsks.get(h.backend_instance(), h.slot())
    }

    fn ksk(&self, h: &KeyswitchKeyHandle) -> Result<Arc<keyswitch::ResidentKeyswitchKey>> {
        self.ksks.get(h.backend_instance(), h.slot())
    }

    fn ntt(&self, n: usize) -> Result<Arc<ntt::NttKernels>> {
        let mut cache = self.ntts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = cache.get(&n) {
            return Ok(k.clone());
        }
        let k = Arc::new(ntt::NttKernels::new(&self.gpu, n)?);
        cache.insert(n, k.clone());
        Ok(k)
    }

    /// Seconds the device takes for `repeats` forward NTTs of size `n` on each of `polys`
    /// resident polynomials (at most 65535), kernel time only: what `glovebox bench --ntt`
    /// reports as the NTT's throughput. Not a correctness path (see `ntt_forward_batch`).
    pub fn time_forward_ntts(&self, n: usize, polys: usize, repeats: usize) -> Result<f64> {
        glovebox_engine::ntt::Plan::check_size(n)?;
        self.ntt(n)?.time_forward(&self.gpu, polys, repeats)
    }

    /// `out ← out + ggsw ⊡ glwe` for a batch of GLWE ciphertexts (`glwes` and `out`:
    /// `batch × (k+1)·N` words) with GGSW `key_bit` of the resident bootstrapping key: the
    /// external product alone, as [`glovebox_engine::algorithms::external_product::add_external_product_assign`]
    /// computes it (exposed to test it on its own).
    pub fn external_product_batch(
        &self,
        handle: &BootstrapKeyHandle,
        key_bit: usize,
        glwes: &[u64],
        out: &mut [u64],
    ) -> Result<()> {
        let bsk = self.bsk(handle)?;
        bsk.external_product_batch(&self.gpu, key_bit, glwes, out, self.options)
    }
}

impl Backend for GpuBackend {
    fn name(&self) -> String {
        format!("gpu: {} ({:?})", self.gpu.name(), self.gpu.info.backend)
    }

    fn upload_bootstrap_key(&self, bsk: &LweBootstrapKey) -> Result<BootstrapKeyHandle> {
        let resident = blind_rotation::ResidentBootstrapKey::upload(&self.gpu, bsk, self.options)?;
        let slot = self.bsks.insert(resident);
        Ok(BootstrapKeyHandle::new(self.instance, slot, bsk))
    }

    fn upload_keyswitch_key(&self, ksk: &LweKeyswitchKey) -> Result<KeyswitchKeyHandle> {
        let resident = keyswitch::ResidentKeyswitchKey::upload(&self.gpu, ksk, self.options)?;
        let slot = self.ksks.insert(resident);
        Ok(KeyswitchKeyHandle::new(self.instance, slot, ksk))
    }

    fn release_bootstrap_key(&self, bsk: &BootstrapKeyHandle) -> Result<()> {
        self.bsks.remove(bsk.backend_instance(), bsk.slot())
    }

    fn release_keyswitch_key(&self, ksk: &KeyswitchKeyHandle) -> Result<()> {
        self.ksks.remove(ksk.backend_instance(), ksk.slot())
    }

    fn blind_rotate_batch(
        &self,
        handle: &BootstrapKeyHandle,
        msed: &[u64],
        accumulators: &mut [u64],
    ) -> Result<()> {
        if handle.nonempty_batch(msed, accumulators)?.is_none() {
            return Ok(());
        }
        self.bsk(handle)?
            .blind_rotate_batch(&self.gpu, msed, accumulators)
    }

    fn keyswitch_batch(
        &self,
        handle: &KeyswitchKeyHandle,
        inputs: &[u64],
        outputs: &mut [u64],
    ) -> Result<()> {
        if handle.nonempty_batch(inputs, outputs)?.is_none() {
            return Ok(());
        }
        self.ksk(handle)?
            .keyswitch_batch(&self.gpu, inputs, outputs)
    }
}

impl NttBackend for GpuBackend {
    fn ntt_forward_batch(&self, polynomial_size: PolynomialSize, data: &mut [u64]) -> Result<()> {
        check_poly_batch(polynomial_size, data)?;
        if data.is_empty() {
            return Ok(());
        }
        self.ntt(polynomial_size.0)?.run(&self.gpu, data, false)
    }

    fn ntt_inverse_batch(&self, polynomial_size: PolynomialSize, data: &mut [u64]) -> Result<()> {
        check_poly_batch(polynomial_size, data)?;
        if data.is_empty() {
            return Ok(());
        }
        self.ntt(polynomial_size.0)?.run(&self.gpu, data, true)
    }
}
