//! The resident keyswitch key and the batched LWE keyswitch (`shaders/keyswitch.wgsl`).

use crate::device::GpuDevice;
use crate::ntt::MAX_WORKGROUPS;
use crate::{shaders, GpuOptions};
use glovebox_engine::entities::LweKeyswitchKey;
use glovebox_engine::Result;
use std::sync::Mutex;

/// Jobs per thread in `ks_mac`: each key word read serves this many ciphertexts.
const JOBS_PER_THREAD: usize = 8;
/// Threads per workgroup of both keyswitch kernels.
const THREADS: usize = 64;

pub(crate) struct ResidentKeyswitchKey {
    n_in: usize,
    out_size: usize,
    levels: usize,
    key: wgpu::Buffer,
    digits_pipeline: wgpu::ComputePipeline,
    mac_pipeline: wgpu::ComputePipeline,
    max_jobs: usize,
    work: Mutex<Option<Work>>,
}

struct Work {
    inputs: wgpu::Buffer,
    outputs: wgpu::Buffer,
    params: wgpu::Buffer,
    readback: wgpu::Buffer,
    digits_group: wgpu::BindGroup,
    mac_group: wgpu::BindGroup,
}

impl ResidentKeyswitchKey {
    pub(crate) fn upload(
        gpu: &GpuDevice,
        ksk: &LweKeyswitchKey,
        options: GpuOptions,
    ) -> Result<Self> {
        let n_in = ksk.input_lwe_dimension().0;
        let out_size = ksk.output_lwe_dimension().0 + 1;
        let levels = ksk.decomposition_level_count().0;
        let key = gpu.upload("keyswitch key", ksk.as_slice())?;
        let constants = [
            ("N_IN", n_in as u64),
            ("OUT_SIZE", out_size as u64),
            ("KS_LEVELS", levels as u64),
            ("KS_BASE_LOG", ksk.decomposition_base_log().0 as u64),
            ("OUT_MOD_LOG", ksk.output_modulus_log() as u64),
            ("JB", JOBS_PER_THREAD as u64),
        ];
        let source = shaders::assemble(
            &shaders::header(&constants),
            &[shaders::MODP, shaders::KEYSWITCH],
        );
        let module = gpu.module("keyswitch", &source)?;
        let max_binding =
            (gpu.limits().max_storage_buffer_binding_size as u64).min(gpu.limits().max_buffer_size);
        let digit_bytes = 4 * (n_in * levels) as u64;
        let input_bytes = 8 * (n_in + 1) as u64;
        let max_jobs = options
            .max_jobs_per_dispatch
            .min((MAX_WORKGROUPS - 1) * JOBS_PER_THREAD)
            .min((max_binding / digit_bytes.max(input_bytes)) as usize)
            .max(1);
        Ok(Self {
            n_in,
            out_size,
            levels,
            key,
            digits_pipeline: gpu.pipeline("ks_digits", &module, "ks_digits", None)?,
            mac_pipeline: gpu.pipeline("ks_mac", &module, "ks_mac", None)?,
            max_jobs,
            work: Mutex::new(None),
        })
    }

    fn work(&self, gpu: &GpuDevice) -> Result<Work> {
        let jobs = self.max_jobs as u64;
        let inputs =
            gpu.storage_buffer("keyswitch inputs", jobs * 8 * (self.n_in + 1) as u64, false)?;
        let digits = gpu.storage_buffer(
            "keyswitch digits",
            jobs * 4 * (self.n_in * self.levels) as u64,
            false,
        )?;
        let out_bytes = jobs * 8 * self.out_size as u64;
        let outputs = gpu.storage_buffer("keyswitch outputs", out_bytes, true)?;
        let readback = gpu.readback_buffer("keyswitch readback", out_bytes)?;
        let params = gpu.uniform("keyswitch params", &[0u8; 16])?;
        let group = |pipeline: &wgpu::ComputePipeline, bindings: &[(u32, &wgpu::Buffer)]| {
            let entries: Vec<(u32, wgpu::BindingResource)> = bindings
                .iter()
                .map(|&(binding, buffer)| (binding, buffer.as_entire_binding()))
                .collect();
            gpu.bind_group("keyswitch", &pipeline.get_bind_group_layout(0), &entries)
        };
        let digits_group = group(
            &self.digits_pipeline,
            &[(1, &inputs), (2, &digits), (4, &params)],
        )?;
        let mac_group = group(
            &self.mac_pipeline,
            &[
                (0, &self.key),
                (1, &inputs),
                (2, &digits),
                (3, &outputs),
                (4, &params),
            ],
        )?;
        Ok(Work {
            inputs,
            outputs,
            params,
            readback,
            digits_group,
            mac_group,
        })
    }

    /// Keyswitches a checked batch, `max_jobs` per dispatch sequence.
    pub(crate) fn keyswitch_batch(
        &self,
        gpu: &GpuDevice,
        inputs: &[u64],
        outputs: &mut [u64],
    ) -> Result<()> {
        let mut guard = self.work.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(self.work(gpu)?);
        }
        let work = guard.as_ref().expect("built above");
        let in_size = self.n_in + 1;
        for (inp, out) in inputs
            .chunks(self.max_jobs * in_size)
            .zip(outputs.chunks_mut(self.max_jobs * self.out_size))
        {
            let jobs = inp.len() / in_size;
            gpu.queue
                .write_buffer(&work.inputs, 0, bytemuck::cast_slice(inp));
            gpu.queue.write_buffer(
                &work.params,
                0,
                bytemuck::cast_slice(&[jobs as u32, 0, 0, 0]),
            );
            let mut encoder = gpu.encode_pass("keyswitch", |pass| {
                // One thread per (job, input word): rows of 65535 workgroups.
                let groups = (jobs * self.n_in).div_ceil(THREADS);
                pass.set_pipeline(&self.digits_pipeline);
                pass.set_bind_group(0, &work.digits_group, &[]);
                pass.dispatch_workgroups(
                    groups.min(MAX_WORKGROUPS) as u32,
                    groups.div_ceil(MAX_WORKGROUPS) as u32,
                    1,
                );
                pass.set_pipeline(&self.mac_pipeline);
                pass.set_bind_group(0, &work.mac_group, &[]);
                pass.dispatch_workgroups(
                    self.out_size.div_ceil(THREADS) as u32,
                    jobs.div_ceil(JOBS_PER_THREAD) as u32,
                    1,
                );
            });
            encoder.copy_buffer_to_buffer(
                &work.outputs,
                0,
                &work.readback,
                0,
                std::mem::size_of_val(out) as u64,
            );
            gpu.submit_and_read(encoder, &work.readback, out)?;
        }
        Ok(())
    }
}
