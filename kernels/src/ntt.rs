//! Batched NTTs on the device (one polynomial per workgroup), for [`NttBackend::ntt_forward_batch`]
//! and its inverse.
//!
//! [`NttBackend::ntt_forward_batch`]: glovebox_engine::backend::NttBackend::ntt_forward_batch

use crate::device::GpuDevice;
use crate::shaders;
use glovebox_engine::commons::modp;
use glovebox_engine::ntt::Plan;
use glovebox_engine::Result;

/// Most workgroups in one dimension of a dispatch (WebGPU's guaranteed minimum).
pub(crate) const MAX_WORKGROUPS: usize = 65535;

/// Checks that one polynomial of `n` words fits the device's workgroup memory and that a
/// workgroup of the chosen size can run.
pub(crate) fn check_workgroup_fit(gpu: &GpuDevice, n: usize) -> Result<()> {
    let bytes = 8 * n as u32;
    let wg = shaders::workgroup_size(n) as u32;
    let limits = gpu.limits();
    if bytes > limits.max_compute_workgroup_storage_size {
        return Err(gpu.error(format!(
            "polynomial size {n} needs {bytes} bytes of workgroup memory; the device offers {}",
            limits.max_compute_workgroup_storage_size
        )));
    }
    if wg > limits.max_compute_invocations_per_workgroup || wg > limits.max_compute_workgroup_size_x
    {
        return Err(gpu.error(format!(
            "a workgroup of {wg} threads exceeds the device's limit of {}",
            limits.max_compute_invocations_per_workgroup
        )));
    }
    Ok(())
}

/// Twiddle indices below this are powers of two (roots of order at most 64): the shaders
/// multiply by them with shifts (`mp_mul_pow2`).
pub(crate) const POW2_TWIDDLES: usize = 32;

/// The twiddles of `plan` as the shaders read them: forward at [0, N), inverse at [N, 2N),
/// then the exponents e (2^e = twiddle) of the forward and the inverse twiddles of index below
/// [`POW2_TWIDDLES`] at [2N, 2N + 32) and [2N + 32, 2N + 64).
pub(crate) fn twiddle_words(plan: &Plan) -> Vec<u64> {
    let mut t = plan.forward_twiddles().to_vec();
    t.extend_from_slice(plan.inverse_twiddles());
    for table in [plan.forward_twiddles(), plan.inverse_twiddles()] {
        t.extend(table[..POW2_TWIDDLES].iter().map(|&w| {
            u64::from(
                modp::log2_power_of_two(w)
                    .expect("roots of unity of order <= 64 are powers of two mod p"),
            )
        }));
    }
    t
}

pub(crate) struct NttKernels {
    n: usize,
    twiddles: wgpu::Buffer,
    forward: wgpu::ComputePipeline,
    inverse: wgpu::ComputePipeline,
}

impl NttKernels {
    pub(crate) fn new(gpu: &GpuDevice, n: usize) -> Result<Self> {
        check_workgroup_fit(gpu, n)?;
        let plan = Plan::try_new(n)?;
        let mut header = shaders::header(&shaders::ntt_constants(n));
        header.push_str(&format!("const N_INV: u64 = {}lu;\n", plan.n_inv()));
        let source = shaders::assemble(&header, &[shaders::MODP, shaders::NTT, shaders::NTT_BATCH]);
        let module = gpu.module("ntt_batch", &source)?;
        Ok(Self {
            n,
            twiddles: gpu.upload("ntt twiddles", &twiddle_words(&plan))?,
            forward: gpu.pipeline("ntt_forward_batch", &module, "ntt_forward_batch", None)?,
            inverse: gpu.pipeline("ntt_inverse_batch", &module, "ntt_inverse_batch", None)?,
        })
    }

    /// Seconds for `repeats` forward transforms of each of `polys` resident polynomials,
    /// kernel time only (no transfers): the data is uploaded once, then `repeats` dispatches
    /// run in one submission, timed from submit to completion.
    pub(crate) fn time_forward(
        &self,
        gpu: &GpuDevice,
        polys: usize,
        repeats: usize,
    ) -> Result<f64> {
        let polys = polys.clamp(1, MAX_WORKGROUPS);
        let data: Vec<u64> = (0..polys * self.n).map(|i| i as u64).collect();
        let buffer = gpu.upload("ntt timing data", &data)?;
        let group = gpu.bind_group(
            "ntt timing",
            &self.forward.get_bind_group_layout(0),
            &[
                (0, self.twiddles.as_entire_binding()),
                (1, buffer.as_entire_binding()),
            ],
        )?;
        let encode = |count: usize| {
            gpu.encode_pass("ntt timing", |pass| {
                pass.set_pipeline(&self.forward);
                pass.set_bind_group(0, &group, &[]);
                for _ in 0..count {
                    pass.dispatch_workgroups(polys as u32, 1, 1);
                }
            })
            .finish()
        };
        let run = |count: usize| -> Result<f64> {
            let commands = encode(count);
            let t = std::time::Instant::now();
            gpu.guarded(|| gpu.queue.submit([commands]))?;
            gpu.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| gpu.error(format!("waiting for the device: {e}")))?;
            Ok(t.elapsed().as_secs_f64())
        };
        run(1)?; // warm-up: pipeline and buffers resident
        run(repeats.max(1))
    }

    /// Transforms every polynomial of `data` in place.
    pub(crate) fn run(&self, gpu: &GpuDevice, data: &mut [u64], inverse: bool) -> Result<()> {
        let bytes = std::mem::size_of_val(data) as u64;
        let buffer = gpu.upload("ntt data", data)?;
        let readback = gpu.readback_buffer("ntt readback", bytes)?;
        let pipeline = if inverse {
            &self.inverse
        } else {
            &self.forward
        };
        let layout = pipeline.get_bind_group_layout(0);
        let polys = data.len() / self.n;
        let poly_bytes = 8 * self.n as u64;
        let mut groups = Vec::new();
        for first in (0..polys).step_by(MAX_WORKGROUPS) {
            let count = (polys - first).min(MAX_WORKGROUPS);
            let data_range = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &buffer,
                offset: first as u64 * poly_bytes,
                size: wgpu::BufferSize::new(count as u64 * poly_bytes),
            });
            let group = gpu.bind_group(
                "ntt",
                &layout,
                &[(0, self.twiddles.as_entire_binding()), (1, data_range)],
            )?;
            groups.push((group, count));
        }
        let mut encoder = gpu.encode_pass("ntt", |pass| {
            pass.set_pipeline(pipeline);
            for (group, count) in &groups {
                pass.set_bind_group(0, group, &[]);
                pass.dispatch_workgroups(*count as u32, 1, 1);
            }
        });
        encoder.copy_buffer_to_buffer(&buffer, 0, &readback, 0, bytes);
        gpu.submit_and_read(encoder, &readback, data)
    }
}
