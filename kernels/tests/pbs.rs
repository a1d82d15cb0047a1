//! Keyswitch + PBS through the GPU backend: the same ciphertexts as the CPU backend, word for
//! word, decrypting to f(m); batches split over several dispatches; typed errors.

mod common;

use common::*;
use glovebox_engine::prelude::*;
use glovebox_kernels::{GpuBackend, GpuOptions};
use std::sync::Arc;

fn check_pbs(keys: &Keys, backend: &dyn Backend, batch: usize) {
    let cpu = CpuBackend::new();
    let on_cpu = keys.server.upload(&cpu).unwrap();
    let on_gpu = keys.server.upload(backend).unwrap();
    let modulus = keys.client.parameters().message_modulus;
    let luts = [
        keys.server.generate_lookup_table(|x| x),
        keys.server.generate_lookup_table(|x| (x * x) % modulus),
        keys.server.generate_lookup_table(|x| (x >= 2) as u64),
    ];
    let messages: Vec<u64> = (0..batch as u64).map(|i| i % modulus).collect();
    let cts: Vec<Ciphertext> = messages
        .iter()
        .map(|&m| keys.client.encrypt(m).unwrap())
        .collect();
    let lut_of = |j: usize| &luts[j % luts.len()];
    let ct_refs: Vec<&Ciphertext> = cts.iter().collect();
    let lut_refs: Vec<&LookupTable> = (0..batch).map(lut_of).collect();
    let want = on_cpu
        .apply_lookup_table_batch(&ct_refs, &lut_refs)
        .unwrap();
    let got = on_gpu
        .apply_lookup_table_batch(&ct_refs, &lut_refs)
        .unwrap();
    for (j, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_words_eq(
            g.ct.as_slice(),
            w.ct.as_slice(),
            &format!("PBS job {j} of {batch}"),
        );
        let f = [
            messages[j],
            (messages[j] * messages[j]) % modulus,
            (messages[j] >= 2) as u64,
        ][j % 3];
        assert_eq!(keys.client.decrypt(g).unwrap(), f, "job {j}");
    }
}

#[test]
fn pbs_test_params_batches() {
    let keys = test_keys();
    for batch in [1, 7, 64] {
        check_pbs(&keys, gpu(), batch);
    }
}

#[test]
fn pbs_default_params_batch_64() {
    check_pbs(&default_keys(), gpu(), 64);
}

#[test]
fn batch_larger_than_one_dispatch() {
    // 3 jobs per dispatch sequence and 5 key bits per dispatch: a batch of 7 runs as 3 + 3 + 1,
    // each as ceil(n / 5) dispatches.
    let small = GpuBackend::on_device(
        Arc::clone(gpu().device()),
        GpuOptions {
            max_jobs_per_dispatch: 3,
            key_bits_per_dispatch: 5,
        },
    )
    .unwrap();
    check_pbs(&test_keys(), &small, 7);
    check_pbs(&default_keys(), &small, 7);
}

#[test]
fn whole_key_in_one_dispatch() {
    // Asks for every key bit in one dispatch. Where the driver caps loop iterations
    // (llvmpipe), the backend splits anyway; the results must not change either way.
    let long = GpuBackend::on_device(
        Arc::clone(gpu().device()),
        GpuOptions {
            max_jobs_per_dispatch: 1024,
            key_bits_per_dispatch: usize::MAX,
        },
    )
    .unwrap();
    check_pbs(&default_keys(), &long, 2);
}

#[test]
fn typed_errors() {
    let keys = test_keys();
    let gpu = gpu();
    let cpu = CpuBackend::new();
    let cpu_handle = cpu
        .upload_bootstrap_key(keys.server.bootstrap_key())
        .unwrap();
    let handle = gpu
        .upload_bootstrap_key(keys.server.bootstrap_key())
        .unwrap();
    let p = keys.client.parameters();
    let in_size = p.lwe_dimension.0 + 1;
    let acc_size = (p.glwe_dimension.0 + 1) * p.polynomial_size.0;
    let mut accs = vec![0u64; acc_size];
    // A handle from another backend.
    assert!(matches!(
        gpu.blind_rotate_batch(&cpu_handle, &vec![0; in_size], &mut accs),
        Err(Error::InvalidHandle(_))
    ));
    // A rotation outside [0, 2N).
    let mut msed = vec![0u64; in_size];
    msed[3] = 2 * p.polynomial_size.0 as u64;
    assert!(matches!(
        gpu.blind_rotate_batch(&handle, &msed, &mut accs),
        Err(Error::WordOutOfRange { index: 3, .. })
    ));
    // Accumulators that do not match the batch.
    assert!(matches!(
        gpu.blind_rotate_batch(&handle, &vec![0; 2 * in_size], &mut accs),
        Err(Error::DimensionMismatch { .. })
    ));
    // NTT input that is not reduced mod p.
    let mut data = vec![u64::MAX; 256];
    assert!(matches!(
        gpu.ntt_forward_batch(PolynomialSize(256), &mut data),
        Err(Error::WordOutOfRange { .. })
    ));
    // External product: key bit out of range.
    let mut out = vec![0u64; acc_size];
    assert!(matches!(
        gpu.external_product_batch(&handle, p.lwe_dimension.0, &vec![0; acc_size], &mut out),
        Err(Error::DimensionMismatch { .. })
    ));
    // Zero options are refused.
    assert!(matches!(
        GpuBackend::on_device(
            Arc::clone(gpu.device()),
            GpuOptions {
                max_jobs_per_dispatch: 0,
                key_bits_per_dispatch: 1
            }
        ),
        Err(Error::InvalidParameters(_))
    ));
}
