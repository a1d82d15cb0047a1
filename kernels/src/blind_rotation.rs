//! The resident bootstrapping key and the batched blind rotation (`shaders/blind_rotate.wgsl`).

use crate::device::GpuDevice;
use crate::ntt::{check_workgroup_fit, twiddle_words, MAX_WORKGROUPS};
use crate::{shaders, GpuOptions};
use glovebox_engine::algorithms::convert_standard_lwe_bootstrap_key_to_ntt;
use glovebox_engine::entities::LweBootstrapKey;
use glovebox_engine::ntt::Plan;
use glovebox_engine::{Error, Result};
use std::sync::Mutex;

/// A bootstrapping key on the device (NTT domain), with the pipelines specialized to its shape
/// and the work buffers of its batches.
pub(crate) struct ResidentBootstrapKey {
    n_lwe: usize,
    k1: usize,
    n: usize,
    bsk: wgpu::Buffer,
    twiddles: wgpu::Buffer,
    layout: wgpu::BindGroupLayout,
    rotate: wgpu::ComputePipeline,
    external: wgpu::ComputePipeline,
    /// One `StepRange` per dispatch, `range_stride` bytes apart (bound with a dynamic offset).
    ranges: wgpu::Buffer,
    range_stride: u64,
    range_count: usize,
    max_jobs: usize,
    work: Mutex<Option<Work>>,
}

/// Buffers for `max_jobs` jobs, built on the first batch and reused.
struct Work {
    msed: wgpu::Buffer,
    acc: wgpu::Buffer,
    readback: wgpu::Buffer,
    group: wgpu::BindGroup,
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// Key bits per dispatch that keep a blind-rotation invocation's loop iterations a factor of
/// 4 below the device's limit (see [`GpuDevice::loop_iteration_limit`]); unbounded elsewhere.
fn key_bits_within_loop_limit(gpu: &GpuDevice, n: usize, k1: usize, levels: usize) -> usize {
    let Some(limit) = gpu.loop_iteration_limit() else {
        return usize::MAX;
    };
    let wg = shaders::workgroup_size(n);
    let per = n / wg;
    let log_n = n.trailing_zeros() as usize;
    // Per CMux: k1·(levels + 1) NTTs of log N stages, each a loop of N/(2·WG) butterflies,
    // plus the per-coefficient loops (decomposition, multiply-accumulate, conversion).
    let ntt_iterations = k1 * (levels + 1) * log_n * (n / (2 * wg) + 1);
    let coefficient_iterations = 4 * k1 * per * (levels + 2) * k1;
    let per_step = ntt_iterations + coefficient_iterations;
    ((limit as usize) / (4 * per_step)).max(1)
}

impl ResidentBootstrapKey {
    pub(crate) fn upload(
        gpu: &GpuDevice,
        bsk: &LweBootstrapKey,
        options: GpuOptions,
    ) -> Result<Self> {
        let n = bsk.polynomial_size().0;
        let k1 = bsk.glwe_size().0;
        let n_lwe = bsk.input_lwe_dimension().0;
        let levels = bsk.decomposition_level_count().0;
        check_workgroup_fit(gpu, n)?;
        let plan = Plan::try_new(n)?;
        let ntt_bsk = convert_standard_lwe_bootstrap_key_to_ntt(bsk)?;
        let bsk_buffer = gpu.upload("bootstrapping key (NTT domain)", ntt_bsk.as_slice())?;
        let twiddles = gpu.upload("twiddles", &twiddle_words(&plan))?;

        let mut constants = shaders::ntt_constants(n);
        constants.extend([
            ("K1", k1 as u64),
            ("LEVELS", levels as u64),
            ("BASE_LOG", bsk.decomposition_base_log().0 as u64),
            ("N_LWE", n_lwe as u64),
        ]);
        let source = shaders::assemble(
            &shaders::header(&constants),
            &[shaders::MODP, shaders::NTT, shaders::BLIND_ROTATE],
        );
        let module = gpu.module("blind_rotate", &source)?;
        let layout = gpu.guarded(|| {
            gpu.device
                .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some("blind_rotate"),
                    entries: &[
                        storage_entry(0, true),
                        storage_entry(1, true),
                        storage_entry(2, true),
                        storage_entry(3, false),
                        wgpu::BindGroupLayoutEntry {
                            binding: 4,
                            visibility: wgpu::ShaderStages::COMPUTE,
                            ty: wgpu::BindingType::Buffer {
                                ty: wgpu::BufferBindingType::Uniform,
                                has_dynamic_offset: true,
                                min_binding_size: wgpu::BufferSize::new(16),
                            },
                            count: None,
                        },
                    ],
                })
        })?;
        let pipeline_layout = gpu.guarded(|| {
            gpu.device
                .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some("blind_rotate"),
                    bind_group_layouts: &[Some(&layout)],
                    immediate_size: 0,
                })
        })?;
        let rotate = gpu.pipeline(
            "blind_rotate",
            &module,
            "blind_rotate",
            Some(&pipeline_layout),
        )?;
        let external = gpu.pipeline("external_product", &module, "external_product", None)?;

        // Dispatch d runs key bits [d·b, min((d+1)·b, n)); the last also divides by X^body.
        let per = options
            .key_bits_per_dispatch
            .min(key_bits_within_loop_limit(gpu, n, k1, levels));
        let range_stride = 16u64.max(gpu.limits().min_uniform_buffer_offset_alignment as u64);
        let range_count = n_lwe.div_ceil(per);
        let mut range_bytes = vec![0u8; range_count * range_stride as usize];
        for d in 0..range_count {
            let begin = d * per;
            let end = begin.saturating_add(per).min(n_lwe);
            let words = [begin as u32, end as u32, (end == n_lwe) as u32, 0];
            let at = d * range_stride as usize;
            range_bytes[at..at + 16].copy_from_slice(bytemuck::cast_slice(&words));
        }
        let ranges = gpu.uniform("blind_rotate ranges", &range_bytes)?;

        let max_binding =
            (gpu.limits().max_storage_buffer_binding_size as u64).min(gpu.limits().max_buffer_size);
        let acc_bytes = 8 * (k1 * n) as u64;
        let max_jobs = options
            .max_jobs_per_dispatch
            .min(MAX_WORKGROUPS)
            .min((max_binding / acc_bytes) as usize)
            .max(1);
        Ok(Self {
            n_lwe,
            k1,
            n,
            bsk: bsk_buffer,
            twiddles,
            layout,
            rotate,
            external,
            ranges,
            range_stride,
            range_count,
            max_jobs,
            work: Mutex::new(None),
        })
    }

    fn work(&self, gpu: &GpuDevice) -> Result<Work> {
        let jobs = self.max_jobs as u64;
        let acc_bytes = jobs * 8 * (self.k1 * self.n) as u64;
        let msed = gpu.storage_buffer("msed", jobs * 4 * (self.n_lwe + 1) as u64, false)?;
        let acc = gpu.storage_buffer("accumulators", acc_bytes, true)?;
        let readback = gpu.readback_buffer("accumulators readback", acc_bytes)?;
        let group = gpu.bind_group(
            "blind_rotate",
            &self.layout,
            &[
                (0, self.bsk.as_entire_binding()),
                (1, self.twiddles.as_entire_binding()),
                (2, msed.as_entire_binding()),
                (3, acc.as_entire_binding()),
                (
                    4,
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &self.ranges,
                        offset: 0,
                        size: wgpu::BufferSize::new(16),
                    }),
                ),
            ],
        )?;
        Ok(Work {
            msed,
            acc,
            readback,
            group,
        })
    }

    /// Blind-rotates a checked batch, `max_jobs` jobs per dispatch sequence.
    pub(crate) fn blind_rotate_batch(
        &self,
        gpu: &GpuDevice,
        msed: &[u64],
        accumulators: &mut [u64],
    ) -> Result<()> {
        let mut guard = self.work.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(self.work(gpu)?);
        }
        let work = guard.as_ref().expect("built above");
        let in_size = self.n_lwe + 1;
        let acc_size = self.k1 * self.n;
        for (m, acc) in msed
            .chunks(self.max_jobs * in_size)
            .zip(accumulators.chunks_mut(self.max_jobs * acc_size))
        {
            let jobs = m.len() / in_size;
            // Words in [0, 2N) (checked by the handle): u32 on the device.
            let m32: Vec<u32> = m.iter().map(|&x| x as u32).collect();
            gpu.queue
                .write_buffer(&work.msed, 0, bytemuck::cast_slice(&m32));
            gpu.queue
                .write_buffer(&work.acc, 0, bytemuck::cast_slice(acc));
            let mut encoder = gpu.encode_pass("blind_rotate", |pass| {
                pass.set_pipeline(&self.rotate);
                for d in 0..self.range_count {
                    pass.set_bind_group(0, &work.group, &[(d as u64 * self.range_stride) as u32]);
                    pass.dispatch_workgroups(jobs as u32, 1, 1);
                }
            });
            encoder.copy_buffer_to_buffer(
                &work.acc,
                0,
                &work.readback,
                0,
                std::mem::size_of_val(acc) as u64,
            );
            gpu.submit_and_read(encoder, &work.readback, acc)?;
        }
        Ok(())
    }

    /// `out += GGSW_{key_bit} ⊡ glwes`, batched (a test entry point: buffers per call).
    pub(crate) fn external_product_batch(
        &self,
        gpu: &GpuDevice,
        key_bit: usize,
        glwes: &[u64],
        out: &mut [u64],
        _options: GpuOptions,
    ) -> Result<()> {
        let glwe_size = self.k1 * self.n;
        if key_bit >= self.n_lwe {
            return Err(Error::DimensionMismatch {
                what: "key bit index (must be below the LWE dimension)",
                expected: self.n_lwe,
                got: key_bit,
            });
        }
        if !glwes.len().is_multiple_of(glwe_size) || glwes.is_empty() {
            return Err(Error::MalformedContainer {
                entity: "GLWE batch",
                expected: glwe_size * (glwes.len() / glwe_size).max(1),
                got: glwes.len(),
            });
        }
        if out.len() != glwes.len() {
            return Err(Error::DimensionMismatch {
                what: "external product output words",
                expected: glwes.len(),
                got: out.len(),
            });
        }
        let batch = glwes.len() / glwe_size;
        if batch > MAX_WORKGROUPS {
            return Err(Error::InvalidParameters(format!(
                "external product batch of {batch} exceeds {MAX_WORKGROUPS}"
            )));
        }
        let input = gpu.upload("external product input", glwes)?;
        let output = gpu.storage_buffer("external product output", 8 * out.len() as u64, true)?;
        gpu.queue
            .write_buffer(&output, 0, bytemuck::cast_slice(out));
        let readback = gpu.readback_buffer("external product readback", 8 * out.len() as u64)?;
        let range = gpu.uniform(
            "external product key bit",
            bytemuck::cast_slice(&[key_bit as u32, 0, 0, 0]),
        )?;
        let group = gpu.bind_group(
            "external_product",
            &self.external.get_bind_group_layout(0),
            &[
                (0, self.bsk.as_entire_binding()),
                (1, self.twiddles.as_entire_binding()),
                (3, output.as_entire_binding()),
                (4, range.as_entire_binding()),
                (5, input.as_entire_binding()),
            ],
        )?;
        let mut encoder = gpu.encode_pass("external_product", |pass| {
            pass.set_pipeline(&self.external);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(batch as u32, 1, 1);
        });
        encoder.copy_buffer_to_buffer(&output, 0, &readback, 0, 8 * out.len() as u64);
        gpu.submit_and_read(encoder, &readback, out)
    }
}
