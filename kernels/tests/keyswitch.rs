//! The keyswitch on the GPU equals the CPU backend's, word for word, including a keyswitch
//! key with a 2^21 output modulus (the HPU parameter set's KS32 keyswitch).

mod common;

use common::*;
use glovebox_engine::algorithms::generate_lwe_keyswitch_key;
use glovebox_engine::commons::random::CsprngGenerator;
use glovebox_engine::prelude::*;
use rand::{Rng, SeedableRng};

fn check_keyswitch(backend: &dyn Backend, ksk: &LweKeyswitchKey, batches: &[usize], seed: u64) {
    let cpu = CpuBackend::new();
    let cpu_handle = cpu.upload_keyswitch_key(ksk).unwrap();
    let handle = backend.upload_keyswitch_key(ksk).unwrap();
    let in_size = ksk.input_lwe_dimension().0 + 1;
    let out_size = ksk.output_lwe_dimension().0 + 1;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for &batch in batches {
        let mut inputs: Vec<u64> = (0..batch * in_size).map(|_| rng.gen()).collect();
        let len = inputs.len();
        for (i, e) in [0u64, u64::MAX, 1 << 63, (1 << 63) - 1]
            .into_iter()
            .enumerate()
        {
            inputs[(i * 101) % len] = e;
        }
        let mut want = vec![0u64; batch * out_size];
        cpu.keyswitch_batch(&cpu_handle, &inputs, &mut want)
            .unwrap();
        let mut got = vec![1u64; batch * out_size];
        backend.keyswitch_batch(&handle, &inputs, &mut got).unwrap();
        assert_words_eq(&got, &want, &format!("keyswitch, batch {batch}"));
    }
}

#[test]
fn keyswitch_test_params() {
    check_keyswitch(gpu(), test_keys().server.keyswitch_key(), &[1, 7, 64], 31);
}

#[test]
fn keyswitch_default_params() {
    check_keyswitch(
        gpu(),
        default_keys().server.keyswitch_key(),
        &[1, 7, 64],
        32,
    );
}

#[test]
fn keyswitch_hpu_ks32() {
    let params = V1_8_HPU_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128;
    let mut generator = CsprngGenerator::from_seed([3; 32]);
    let client = ClientKey::with_generator(&params, generator.fork()).unwrap();
    let ksk = generate_lwe_keyswitch_key(
        &client.glwe_secret_key().as_lwe_secret_key(),
        client.lwe_secret_key(),
        params.ks_base_log,
        params.ks_level,
        params.ks_output_modulus_log,
        params.lwe_noise,
        &mut generator,
    )
    .unwrap();
    assert!(ksk.output_modulus_log() < 64);
    check_keyswitch(gpu(), &ksk, &[1, 7], 33);
}
