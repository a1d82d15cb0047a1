//! The wgpu device: finding an adapter with 64-bit shader integers, opening it with its best
//! limits, turning every wgpu failure into the engine's typed [`Error::Backend`], and the
//! buffer plumbing (upload, readback) the kernels share.

use glovebox_engine::{Error, Result};
use std::sync::mpsc;

/// What to install when no usable adapter is found.
pub const INSTALL_HINT: &str = "install a Vulkan driver: on Debian or Ubuntu `apt-get install \
     mesa-vulkan-drivers` gives the llvmpipe software device, and a GPU vendor's driver gives \
     the hardware one; `WGPU_BACKEND=vulkan` selects Vulkan";

/// The error for a GPU failure, named after the device.
pub(crate) fn gpu_error(device: &str, reason: impl Into<String>) -> Error {
    Error::Backend {
        backend: format!("gpu: {device}"),
        reason: reason.into(),
    }
}

/// An opened device and its queue.
pub struct GpuDevice {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) info: wgpu::AdapterInfo,
    pub(crate) limits: wgpu::Limits,
}

/// Preference among adapters that all have SHADER_INT64: real GPUs first.
fn rank(info: &wgpu::AdapterInfo) -> u32 {
    match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

impl GpuDevice {
    /// Opens the best adapter that supports 64-bit integers in shaders (discrete, then
    /// integrated, then software), honouring `WGPU_BACKEND` / `WGPU_ADAPTER_NAME`. Returns
    /// [`Error::Backend`] naming what to install when there is none; never falls back to the CPU
    /// backend.
    pub fn open() -> Result<Self> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
        let adapters = pollster::block_on(instance.enumerate_adapters(backends));
        if adapters.is_empty() {
            return Err(gpu_error(
                "none",
                format!("no GPU adapter found ({backends:?}); {INSTALL_HINT}"),
            ));
        }
        let wanted_name = std::env::var("WGPU_ADAPTER_NAME")
            .ok()
            .map(|s| s.to_lowercase());
        let mut candidates: Vec<(wgpu::Adapter, wgpu::AdapterInfo)> = adapters
            .into_iter()
            .map(|a| {
                let info = a.get_info();
                (a, info)
            })
            .filter(|(_, info)| {
                wanted_name
                    .as_ref()
                    .is_none_or(|w| info.name.to_lowercase().contains(w))
            })
            .collect();
        if candidates.is_empty() {
            return Err(gpu_error(
                "none",
                format!(
                    "no adapter's name contains WGPU_ADAPTER_NAME={}; {INSTALL_HINT}",
                    wanted_name.unwrap_or_default()
                ),
            ));
        }
        let names: Vec<String> = candidates
            .iter()
            .map(|(_, i)| format!("{} ({:?})", i.name, i.backend))
            .collect();
        candidates.retain(|(a, _)| a.features().contains(wgpu::Features::SHADER_INT64));
        candidates.sort_by_key(|(_, info)| rank(info));
        let Some((adapter, info)) = candidates.into_iter().next() else {
            return Err(gpu_error(
                "none",
                format!(
                    "no adapter with 64-bit shader integers (SHADER_INT64) among [{}]; {INSTALL_HINT}",
                    names.join(", ")
                ),
            ));
        };
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("glovebox"),
            required_features: wgpu::Features::SHADER_INT64,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| gpu_error(&info.name, format!("cannot open the device: {e}")))?;
        Ok(Self {
            device,
            queue,
            info,
            limits,
        })
    }

    /// The adapter's name ("llvmpipe (LLVM 15.0.6, 256 bits)", "NVIDIA H100 80GB HBM3", …).
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The adapter as wgpu describes it.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// The limits the device was opened with (the adapter's best).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The most loop iterations one shader invocation may run on this device, where the
    /// driver limits it. Mesa's llvmpipe ends every loop of a shader once 65535 iterations have
    /// run in all (`LP_MAX_TGSI_LOOP_ITERATIONS`, "shared between every loop"), *silently*: the
    /// results are simply wrong. Kernels that loop for long (the blind rotation over many key
    /// bits) size their dispatches to stay far below it.
    pub fn loop_iteration_limit(&self) -> Option<u64> {
        let mesa_cpu = self.info.device_type == wgpu::DeviceType::Cpu
            && (self.info.name.contains("llvmpipe") || self.info.driver.contains("llvmpipe"));
        mesa_cpu.then_some(65535)
    }

    pub(crate) fn error(&self, reason: impl Into<String>) -> Error {
        gpu_error(&self.info.name, reason)
    }

    /// Checks that a storage binding of `bytes` fits the device.
    pub(crate) fn check_storage_size(&self, what: &str, bytes: u64) -> Result<()> {
        let max =
            (self.limits.max_storage_buffer_binding_size as u64).min(self.limits.max_buffer_size);
        if bytes > max {
            return Err(self.error(format!(
                "{what} needs a storage buffer of {bytes} bytes; the device binds at most {max}"
            )));
        }
        Ok(())
    }

    /// A storage buffer holding `words`, uploaded now.
    pub(crate) fn upload<T: bytemuck::Pod>(
        &self,
        label: &str,
        words: &[T],
    ) -> Result<wgpu::Buffer> {
        let bytes: &[u8] = bytemuck::cast_slice(words);
        // `storage_buffer` checks the size against the device's limits.
        let buffer = self.storage_buffer(label, bytes.len() as u64, true)?;
        self.queue.write_buffer(&buffer, 0, bytes);
        Ok(buffer)
    }

    /// An uninitialized storage buffer of `bytes` (at least 16), optionally a copy source.
    pub(crate) fn storage_buffer(
        &self,
        label: &str,
        bytes: u64,
        copy_src: bool,
    ) -> Result<wgpu::Buffer> {
        self.check_storage_size(label, bytes)?;
        let mut usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        if copy_src {
            usage |= wgpu::BufferUsages::COPY_SRC;
        }
        self.guarded(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes.max(16).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT),
                usage,
                mapped_at_creation: false,
            })
        })
    }

    /// A buffer the host maps to read results back.
    pub(crate) fn readback_buffer(&self, label: &str, bytes: u64) -> Result<wgpu::Buffer> {
        self.guarded(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes.max(16).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })
    }

    /// Runs `f` (resource creation or submission) and returns the first validation,
    /// out-of-memory or internal error it raised as [`Error::Backend`].
    pub(crate) fn guarded<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let value = f();
        let errors = [
            pollster::block_on(internal.pop()),
            pollster::block_on(validation.pop()),
            pollster::block_on(oom.pop()),
        ];
        match errors.into_iter().flatten().next() {
            Some(e) => Err(self.error(e.to_string())),
            None => Ok(value),
        }
    }

    /// Submits `encoder`, then copies the first `out.len()` words of `readback` (which the
    /// encoder filled) into `out`.
    pub(crate) fn submit_and_read<T: bytemuck::Pod>(
        &self,
        encoder: wgpu::CommandEncoder,
        readback: &wgpu::Buffer,
        out: &mut [T],
    ) -> Result<()> {
        let bytes = std::mem::size_of_val(out) as u64;
        self.guarded(|| self.queue.submit([encoder.finish()]))?;
        let slice = readback.slice(0..bytes.max(4).next_multiple_of(4));
        let (tx, rx) = mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| self.error(format!("waiting for the device: {e}")))?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.error(format!("reading results back: {e}"))),
            Err(_) => return Err(self.error("reading results back: the device was lost")),
        }
        {
            let view = slice
                .get_mapped_range()
                .map_err(|e| self.error(format!("reading results back: {e}")))?;
            let n = out.len();
            out.copy_from_slice(&bytemuck::cast_slice::<u8, T>(&view[..bytes as usize])[..n]);
        }
        readback.unmap();
        Ok(())
    }

    /// A bind group of (binding, resource) pairs.
    pub(crate) fn bind_group(
        &self,
        label: &str,
        layout: &wgpu::BindGroupLayout,
        entries: &[(u32, wgpu::BindingResource<'_>)],
    ) -> Result<wgpu::BindGroup> {
        let entries: Vec<wgpu::BindGroupEntry> = entries
            .iter()
            .map(|(binding, resource)| wgpu::BindGroupEntry {
                binding: *binding,
                resource: resource.clone(),
            })
            .collect();
        self.guarded(|| {
            self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(label),
                layout,
                entries: &entries,
            })
        })
    }

    /// A command encoder holding one compute pass that `record` fills (copies may follow).
    pub(crate) fn encode_pass(
        &self,
        label: &str,
        record: impl FnOnce(&mut wgpu::ComputePass<'_>),
    ) -> wgpu::CommandEncoder {
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(label),
                timestamp_writes: None,
            });
            record(&mut pass);
        }
        encoder
    }

    /// A uniform buffer of `bytes` (written now; rewritable).
    pub(crate) fn uniform(&self, label: &str, bytes: &[u8]) -> Result<wgpu::Buffer> {
        let buffer = self.guarded(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: (bytes.len() as u64).max(16).next_multiple_of(16),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        self.queue.write_buffer(&buffer, 0, bytes);
        Ok(buffer)
    }

    /// A compute pipeline for `entry` of a module built from `source`.
    pub(crate) fn pipeline(
        &self,
        label: &str,
        module: &wgpu::ShaderModule,
        entry: &str,
        layout: Option<&wgpu::PipelineLayout>,
    ) -> Result<wgpu::ComputePipeline> {
        self.guarded(|| {
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(label),
                    layout,
                    module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
        })
    }

    /// Compiles a WGSL module (a shader error comes back as [`Error::Backend`]).
    pub(crate) fn module(&self, label: &str, source: &str) -> Result<wgpu::ShaderModule> {
        self.guarded(|| {
            self.device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(label),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                })
        })
    }
}
