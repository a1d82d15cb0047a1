//! Glovebox beside TFHE-rs 1.8.2, on the same parameters, in the same run:
//! - `ntt_2048`: forward negacyclic NTT over p = 2^64 − 2^32 + 1 (glovebox vs tfhe-ntt);
//! - `fft_2048`: the f64 negacyclic FFT of a 2048-coefficient polynomial (1024 complex points,
//!   tfhe-fft's kernels with Glovebox's AVX-512 conversions): forward from small integers,
//!   backward added onto the torus. Throughput in nominal flops, FFTW's convention for a
//!   complex FFT of M points (5 M log2 M = 51,200 for M = 1024), to set against the core's peak;
//! - `ks_pbs`: one keyswitch + PBS on the default parameters, one thread
//!   (glovebox-cpu and glovebox-cpu-fft vs TFHE-rs shortint `apply_lookup_table` (FFT64) vs
//!   TFHE-rs ntt64-bnf);
//! - `ks_pbs_batch64`: 64 ciphertexts through keyswitch + PBS on all cores
//!   (glovebox-cpu and glovebox-cpu-fft batched backends vs rayon `par_iter` over TFHE-rs
//!   `apply_lookup_table`);
//! - `ks_pbs_batch`: batches of keyswitch + PBS (sizes from `GLOVEBOX_BENCH_BATCHES`, default
//!   `64`) on `glovebox-gpu` (the wgpu backend on the best adapter) beside `glovebox-cpu`.
//!   Without a GPU adapter the gpu rows are left out with a message saying why.
//!
//! Run: `cargo bench -p glovebox-benches` (a group: `cargo bench -p glovebox-benches -- ntt_2048`).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use glovebox_engine::prelude as gb;
use rayon::prelude::*;
use std::time::Duration;

const P: u64 = 0xFFFF_FFFF_0000_0001;

fn ntt_2048(c: &mut Criterion) {
    let n = 2048;
    let mut g = c.benchmark_group("ntt_2048");
    let data: Vec<u64> = (0..n as u64)
        .map(|i| (i * 0x9E37_79B9_7F4A_7C15) % P)
        .collect();
    let plan = glovebox_engine::ntt::Plan::try_new(n).unwrap();
    g.bench_function("glovebox", |b| {
        let mut d = data.clone();
        b.iter(|| plan.fwd(std::hint::black_box(&mut d)))
    });
    let tplan = tfhe_ntt::prime64::Plan::try_new(n, P).unwrap();
    g.bench_function("tfhe-ntt", |b| {
        let mut d = data.clone();
        b.iter(|| tplan.fwd(std::hint::black_box(&mut d)))
    });
    g.finish();
}

fn fft_2048(c: &mut Criterion) {
    use glovebox_engine::fft::FftPlan;
    let plan = FftPlan::new(2048).unwrap();
    let mut g = c.benchmark_group("fft_2048");
    g.throughput(criterion::Throughput::Elements(5 * 1024 * 10));
    let digits: Vec<u64> = (0..2048u64)
        .map(|i| ((i * 0x9E37_79B9_7F4A_7C15) >> 41).wrapping_sub(1 << 22))
        .collect();
    let mut scratch = plan.scratch();
    let mut fourier = plan.fourier_zeros();
    g.bench_function("forward-integer", |b| {
        b.iter(|| plan.forward_integer(&mut fourier, std::hint::black_box(&digits), &mut scratch))
    });
    let mut out = vec![0u64; 2048];
    let mut work = fourier.clone();
    g.bench_function("backward-add-torus", |b| {
        b.iter(|| {
            work.copy_from_slice(&fourier);
            plan.add_backward_torus(&mut out, std::hint::black_box(&mut work), &mut scratch)
        })
    });
    g.finish();
}

fn ks_pbs(c: &mut Criterion) {
    use tfhe::core_crypto::prelude::*;
    use tfhe::shortint::parameters::PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    let params = gb::PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    let mut g = c.benchmark_group("ks_pbs");
    g.sample_size(10).measurement_time(Duration::from_secs(8));

    let client = gb::ClientKey::new(&params).unwrap();
    let server = client.server_key().unwrap();
    let lut = server.generate_lookup_table(|x| x * x % 4);
    let ct = client.encrypt(3).unwrap();
    server.ntt_bootstrap_key().unwrap();
    g.bench_function("glovebox-cpu", |b| {
        b.iter(|| server.apply_lookup_table(&ct, &lut).unwrap())
    });
    // The FFT backend on one thread (its keyswitch would otherwise split the key's columns
    // across the pool), as TFHE-rs's single PBS runs.
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let fft = gb::CpuFftBackend::new();
    let on_fft = server.upload(&fft).unwrap();
    g.bench_function("glovebox-cpu-fft", |b| {
        b.iter(|| one_thread.install(|| on_fft.apply_lookup_table_batch(&[&ct], &[&lut]).unwrap()))
    });

    let tck = tfhe::shortint::ClientKey::new(PARAM_MESSAGE_2_CARRY_2_KS_PBS);
    let tsk = tfhe::shortint::ServerKey::new(&tck);
    let tlut = tsk.generate_lookup_table(|x| x * x % 4);
    let tct = tck.encrypt(3);
    g.bench_function("tfhe-rs-fft64", |b| {
        b.iter(|| tsk.apply_lookup_table(&tct, &tlut))
    });

    // TFHE-rs's NTT64 "bnf" PBS with the same keys Glovebox uses (converted), after its keyswitch.
    let bsk = glovebox_engine::interop::lwe_bootstrap_key_to_tfhe(server.bootstrap_key());
    let ksk = glovebox_engine::interop::lwe_keyswitch_key_to_tfhe(server.keyswitch_key()).unwrap();
    let mut nbsk = NttLweBootstrapKeyOwned::new(
        0u64,
        bsk.input_lwe_dimension(),
        bsk.glwe_size(),
        bsk.polynomial_size(),
        bsk.decomposition_base_log(),
        bsk.decomposition_level_count(),
        CiphertextModulus::try_new((1u128 << 64) - (1u128 << 32) + 1).unwrap(),
    );
    par_convert_standard_lwe_bootstrap_key_to_ntt64(&bsk, &mut nbsk, NttLweBootstrapKeyOption::Raw);
    let tlut_glwe = glovebox_engine::interop::glwe_ciphertext_to_tfhe(&lut.accumulator);
    let big_ct = glovebox_engine::interop::lwe_ciphertext_to_tfhe(&ct.ct);
    g.bench_function("tfhe-rs-ntt64-bnf", |b| {
        b.iter(|| {
            let mut small =
                LweCiphertext::new(0u64, ksk.output_lwe_size(), CiphertextModulus::new_native());
            keyswitch_lwe_ciphertext(&ksk, &big_ct, &mut small);
            let mut out =
                LweCiphertext::new(0u64, big_ct.lwe_size(), CiphertextModulus::new_native());
            programmable_bootstrap_ntt64_bnf_lwe_ciphertext(&small, &mut out, &tlut_glwe, &nbsk);
            out
        })
    });
    g.finish();
}

fn ks_pbs_batch64(c: &mut Criterion) {
    use tfhe::shortint::parameters::PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    let params = gb::PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    let batch = 64;
    let mut g = c.benchmark_group("ks_pbs_batch64");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(criterion::Throughput::Elements(batch as u64));

    let client = gb::ClientKey::new(&params).unwrap();
    let server = client.server_key().unwrap();
    let lut = server.generate_lookup_table(|x| x * x % 4);
    let cts: Vec<gb::Ciphertext> = (0..batch as u64)
        .map(|i| client.encrypt(i % 4).unwrap())
        .collect();
    let backend = gb::CpuBackend::new();
    let resident = server.upload(&backend).unwrap();
    let refs: Vec<&gb::Ciphertext> = cts.iter().collect();
    let luts = vec![&lut; batch];
    g.bench_function("glovebox-cpu", |b| {
        b.iter_batched(
            || (),
            |_| resident.apply_lookup_table_batch(&refs, &luts).unwrap(),
            BatchSize::PerIteration,
        )
    });

    let fft = gb::CpuFftBackend::new();
    let on_fft = server.upload(&fft).unwrap();
    g.bench_function("glovebox-cpu-fft", |b| {
        b.iter_batched(
            || (),
            |_| on_fft.apply_lookup_table_batch(&refs, &luts).unwrap(),
            BatchSize::PerIteration,
        )
    });

    let tck = tfhe::shortint::ClientKey::new(PARAM_MESSAGE_2_CARRY_2_KS_PBS);
    let tsk = tfhe::shortint::ServerKey::new(&tck);
    let tlut = tsk.generate_lookup_table(|x| x * x % 4);
    let tcts: Vec<_> = (0..batch as u64).map(|i| tck.encrypt(i % 4)).collect();
    g.bench_function("tfhe-rs-fft64", |b| {
        b.iter(|| {
            tcts.par_iter()
                .map(|ct| tsk.apply_lookup_table(ct, &tlut))
                .collect::<Vec<_>>()
        })
    });
    g.finish();
}

fn ks_pbs_batch(c: &mut Criterion) {
    let params = gb::PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    let batches: Vec<usize> = std::env::var("GLOVEBOX_BENCH_BATCHES")
        .unwrap_or_else(|_| "64".into())
        .split(',')
        .map(|b| {
            b.trim()
                .parse()
                .expect("GLOVEBOX_BENCH_BATCHES: comma-separated sizes")
        })
        .collect();
    let client = gb::ClientKey::new(&params).unwrap();
    let server = client.server_key().unwrap();
    let lut = server.generate_lookup_table(|x| x * x % 4);
    let cpu = gb::CpuBackend::new();
    let mut backends: Vec<(&str, Box<dyn gb::Backend>)> = vec![("glovebox-cpu", Box::new(cpu))];
    match glovebox_kernels::GpuBackend::new() {
        Ok(gpu) => {
            eprintln!("ks_pbs_batch: glovebox-gpu is {}", gb::Backend::name(&gpu));
            backends.push(("glovebox-gpu", Box::new(gpu)));
        }
        Err(e) => eprintln!("ks_pbs_batch: no glovebox-gpu rows: {e}"),
    }
    let mut g = c.benchmark_group("ks_pbs_batch");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for (name, backend) in &backends {
        let resident = server.upload(backend.as_ref()).unwrap();
        for &batch in &batches {
            let cts: Vec<gb::Ciphertext> = (0..batch as u64)
                .map(|i| client.encrypt(i % 4).unwrap())
                .collect();
            let refs: Vec<&gb::Ciphertext> = cts.iter().collect();
            let luts = vec![&lut; batch];
            // Checked once, outside the timing.
            let outs = resident.apply_lookup_table_batch(&refs, &luts).unwrap();
            for (i, o) in outs.iter().enumerate() {
                assert_eq!(client.decrypt(o).unwrap(), (i as u64 % 4).pow(2) % 4);
            }
            g.throughput(criterion::Throughput::Elements(batch as u64));
            g.bench_function(criterion::BenchmarkId::new(*name, batch), |b| {
                b.iter(|| resident.apply_lookup_table_batch(&refs, &luts).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(
    benches,
    ntt_2048,
    fft_2048,
    ks_pbs,
    ks_pbs_batch64,
    ks_pbs_batch
);
criterion_main!(benches);
