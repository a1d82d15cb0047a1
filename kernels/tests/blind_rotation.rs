//! Blind rotation and external product on the GPU equal the CPU backend, word for word.

mod common;

use common::*;
use glovebox_engine::algorithms::external_product::{
    add_external_product_assign, ExternalProductScratch,
};
use glovebox_engine::commons::decomposition::SignedDecomposer;
use glovebox_engine::ntt::Plan;
use glovebox_engine::prelude::*;
use rand::{Rng, SeedableRng};

fn check_external_product(keys: &Keys, batches: &[usize]) {
    let gpu = gpu();
    let bsk = keys.server.bootstrap_key();
    let ntt_bsk = keys.server.ntt_bootstrap_key().unwrap();
    let handle = gpu.upload_bootstrap_key(bsk).unwrap();
    let n = bsk.polynomial_size().0;
    let k1 = bsk.glwe_size().0;
    let plan = Plan::try_new(n).unwrap();
    let decomposer = SignedDecomposer::new(
        bsk.decomposition_base_log(),
        bsk.decomposition_level_count(),
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for &batch in batches {
        let key_bit = rng.gen_range(0..bsk.input_lwe_dimension().0);
        let glwes: Vec<u64> = (0..batch * k1 * n).map(|_| rng.gen()).collect();
        let start: Vec<u64> = (0..batch * k1 * n).map(|_| rng.gen()).collect();
        let mut want = start.clone();
        let mut scratch = ExternalProductScratch::new(k1, n);
        for (o, g) in want
            .chunks_exact_mut(k1 * n)
            .zip(glwes.chunks_exact(k1 * n))
        {
            add_external_product_assign(
                o,
                ntt_bsk.ggsw(key_bit),
                g,
                &decomposer,
                &plan,
                &mut scratch,
            );
        }
        let mut got = start;
        gpu.external_product_batch(&handle, key_bit, &glwes, &mut got)
            .unwrap();
        assert_words_eq(&got, &want, &format!("external product, batch {batch}"));
    }
}

fn check_blind_rotation(keys: &Keys, backend: &dyn Backend, batches: &[usize], seed: u64) {
    let cpu = CpuBackend::new();
    let bsk = keys.server.bootstrap_key();
    let cpu_handle = cpu.upload_bootstrap_key(bsk).unwrap();
    let handle = backend.upload_bootstrap_key(bsk).unwrap();
    let n = bsk.polynomial_size().0;
    let acc_size = bsk.glwe_size().0 * n;
    let in_size = bsk.input_lwe_dimension().0 + 1;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for &batch in batches {
        let mut msed: Vec<u64> = (0..batch * in_size)
            .map(|_| rng.gen_range(0..2 * n as u64))
            .collect();
        // Edge rotations: 0 (skipped), N (a pure negation), 2N − 1.
        let len = msed.len();
        for (i, e) in [0u64, n as u64, 2 * n as u64 - 1].into_iter().enumerate() {
            msed[(i * 37) % len] = e;
        }
        let accs: Vec<u64> = (0..batch * acc_size).map(|_| rng.gen()).collect();
        let mut want = accs.clone();
        cpu.blind_rotate_batch(&cpu_handle, &msed, &mut want)
            .unwrap();
        let mut got = accs;
        backend
            .blind_rotate_batch(&handle, &msed, &mut got)
            .unwrap();
        assert_words_eq(&got, &want, &format!("blind rotation, batch {batch}"));
    }
}

#[test]
fn external_product_test_params() {
    check_external_product(&test_keys(), &[1, 7, 64]);
}

#[test]
fn external_product_default_params() {
    check_external_product(&default_keys(), &[1, 7]);
}

#[test]
fn blind_rotation_test_params() {
    check_blind_rotation(&test_keys(), gpu(), &[1, 7, 64], 21);
}

#[test]
fn blind_rotation_default_params() {
    check_blind_rotation(&default_keys(), gpu(), &[1, 7], 22);
}
