//! Checks shared by the test binaries that force a SIMD tier (each binary is its own process,
//! so the tier is set before any engine code runs).

use glovebox_engine::interop::*;
use glovebox_engine::prelude::*;

/// Keyswitch and NTT PBS on the test set, word for word against TFHE-rs's keyswitch and
/// ntt64-bnf bootstrap, and decrypting to f(m).
pub fn exact_paths_agree_with_tfhe_rs() {
    use tfhe::core_crypto::prelude as tc;
    let p = TEST_PARAMS_INSECURE;
    let client = ClientKey::new(&p).unwrap();
    let server = client.server_key().unwrap();
    let lut = server.generate_lookup_table(|x| (x + 5) % 16);
    let tfhe_bsk = lwe_bootstrap_key_to_tfhe(server.bootstrap_key());
    let mut nbsk = tc::NttLweBootstrapKeyOwned::new(
        0u64,
        tfhe_bsk.input_lwe_dimension(),
        tfhe_bsk.glwe_size(),
        tfhe_bsk.polynomial_size(),
        tfhe_bsk.decomposition_base_log(),
        tfhe_bsk.decomposition_level_count(),
        tc::CiphertextModulus::try_new((1u128 << 64) - (1u128 << 32) + 1).unwrap(),
    );
    tc::par_convert_standard_lwe_bootstrap_key_to_ntt64(
        &tfhe_bsk,
        &mut nbsk,
        tc::NttLweBootstrapKeyOption::Raw,
    );
    let tfhe_ksk = lwe_keyswitch_key_to_tfhe(server.keyswitch_key()).unwrap();
    let tfhe_lut = glwe_ciphertext_to_tfhe(&lut.accumulator);
    for m in 0..16 {
        let ct = client.encrypt(m).unwrap();
        let small = keyswitch_lwe_ciphertext(server.keyswitch_key(), &ct.ct).unwrap();
        let mut t_small = tc::LweCiphertext::new(
            0u64,
            tfhe_ksk.output_lwe_size(),
            tc::CiphertextModulus::new_native(),
        );
        tc::keyswitch_lwe_ciphertext(&tfhe_ksk, &lwe_ciphertext_to_tfhe(&ct.ct), &mut t_small);
        assert_eq!(small.as_slice(), t_small.as_ref());
        let out = programmable_bootstrap_lwe_ciphertext(
            &small,
            &lut.accumulator,
            server.ntt_bootstrap_key().unwrap(),
            ModulusSwitchType::Standard,
        )
        .unwrap();
        let mut t_out = tc::LweCiphertext::new(
            0u64,
            tc::LweSize(p.big_lwe_dimension().0 + 1),
            tc::CiphertextModulus::new_native(),
        );
        tc::programmable_bootstrap_ntt64_bnf_lwe_ciphertext(&t_small, &mut t_out, &tfhe_lut, &nbsk);
        assert_eq!(out.as_slice(), t_out.as_ref(), "m = {m}");
        assert_eq!(
            client.decrypt_message_and_carry(&client.wrap(out)).unwrap(),
            (m + 5) % 16
        );
    }
}

/// The CPU FFT backend on the default set: every message through two tables at batch 7
/// decrypts to f(m).
pub fn fft_backend_decrypts_to_f_of_m() {
    let params = &PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    let client = ClientKey::new(params).unwrap();
    let server = client.server_key().unwrap();
    let backend = CpuFftBackend::new();
    let resident = server.upload(&backend).unwrap();
    for f in [|x: u64| (x + 1) % 4, |x: u64| x * x % 4] {
        let lut = server.generate_lookup_table(f);
        let msgs: Vec<u64> = (0..7).map(|i| i % 4).collect();
        let cts: Vec<Ciphertext> = msgs.iter().map(|&m| client.encrypt(m).unwrap()).collect();
        let refs: Vec<&Ciphertext> = cts.iter().collect();
        let outs = resident
            .apply_lookup_table_batch(&refs, &[&lut; 7])
            .unwrap();
        for (out, &m) in outs.iter().zip(&msgs) {
            assert_eq!(client.decrypt(out).unwrap(), f(m), "m = {m}");
        }
    }
}
