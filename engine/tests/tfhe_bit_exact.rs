//! Bit-exactness with TFHE-rs 1.8: from the same secret keys, the same standard bootstrapping
//! key and the same inputs, Glovebox's PBS equals `programmable_bootstrap_ntt64_bnf_lwe_ciphertext`
//! word for word, its keyswitch equals `keyswitch_lwe_ciphertext`, its centered modulus switch
//! equals `lwe_ciphertext_centered_binary_modulus_switch`; and TFHE-rs shortint ciphertexts
//! bootstrapped by Glovebox with converted keys decrypt correctly with the TFHE-rs `ClientKey`.

use gb::{Backend, ModulusSwitchType, Parameters};
use glovebox_engine::interop::*;
use glovebox_engine::prelude as gb;
use tfhe::core_crypto::prelude::*;

const SOLINAS_P: u128 = (1u128 << 64) - (1u128 << 32) + 1;

struct TfheKeys {
    lwe_sk: LweSecretKeyOwned<u64>,
    glwe_sk: GlweSecretKeyOwned<u64>,
    bsk: LweBootstrapKeyOwned<u64>,
    ksk: LweKeyswitchKeyOwned<u64>,
    enc: EncryptionRandomGenerator<DefaultRandomGenerator>,
}

fn dist(d: gb::NoiseDistribution) -> DynamicDistribution<u64> {
    match d {
        gb::NoiseDistribution::TUniform { bound_log2 } => {
            DynamicDistribution::new_t_uniform(bound_log2)
        }
        gb::NoiseDistribution::Gaussian { std_dev } => {
            DynamicDistribution::new_gaussian_from_std_dev(StandardDev(std_dev))
        }
    }
}

fn tfhe_keys(p: &Parameters) -> TfheKeys {
    let mut seeder = new_seeder();
    let seeder = seeder.as_mut();
    let mut secret = SecretRandomGenerator::<DefaultRandomGenerator>::new(seeder.seed());
    let mut enc = EncryptionRandomGenerator::<DefaultRandomGenerator>::new(seeder.seed(), seeder);
    let lwe_sk = allocate_and_generate_new_binary_lwe_secret_key(
        LweDimension(p.lwe_dimension.0),
        &mut secret,
    );
    let glwe_sk = allocate_and_generate_new_binary_glwe_secret_key(
        GlweDimension(p.glwe_dimension.0),
        PolynomialSize(p.polynomial_size.0),
        &mut secret,
    );
    let bsk = par_allocate_and_generate_new_lwe_bootstrap_key(
        &lwe_sk,
        &glwe_sk,
        DecompositionBaseLog(p.pbs_base_log.0),
        DecompositionLevelCount(p.pbs_level.0),
        dist(p.glwe_noise),
        CiphertextModulus::new_native(),
        &mut enc,
    );
    let ksk = allocate_and_generate_new_lwe_keyswitch_key(
        &glwe_sk.as_lwe_secret_key(),
        &lwe_sk,
        DecompositionBaseLog(p.ks_base_log.0),
        DecompositionLevelCount(p.ks_level.0),
        dist(p.lwe_noise),
        CiphertextModulus::new_native(),
        &mut enc,
    );
    TfheKeys {
        lwe_sk,
        glwe_sk,
        bsk,
        ksk,
        enc,
    }
}

fn bit_exact_pbs_and_keyswitch(p: &Parameters) {
    let mut keys = tfhe_keys(p);
    let delta = p.delta();
    // TFHE-rs's NTT-domain key and its bnf PBS.
    let mut nbsk = NttLweBootstrapKeyOwned::new(
        0u64,
        keys.bsk.input_lwe_dimension(),
        keys.bsk.glwe_size(),
        keys.bsk.polynomial_size(),
        keys.bsk.decomposition_base_log(),
        keys.bsk.decomposition_level_count(),
        CiphertextModulus::try_new(SOLINAS_P).unwrap(),
    );
    par_convert_standard_lwe_bootstrap_key_to_ntt64(
        &keys.bsk,
        &mut nbsk,
        NttLweBootstrapKeyOption::Raw,
    );

    // Glovebox: the same key, converted container for container.
    let gb_bsk = lwe_bootstrap_key_from_tfhe(&keys.bsk).unwrap();
    let gb_ntt = gb::convert_standard_lwe_bootstrap_key_to_ntt(&gb_bsk).unwrap();
    let gb_ksk = lwe_keyswitch_key_from_tfhe(&keys.ksk).unwrap();
    assert_eq!(
        lwe_bootstrap_key_to_tfhe(&gb_bsk).as_ref(),
        keys.bsk.as_ref()
    );

    let backend = gb::CpuBackend::new();
    let bsk_handle = backend.upload_bootstrap_key(&gb_bsk).unwrap();
    let ksk_handle = backend.upload_keyswitch_key(&gb_ksk).unwrap();

    let space = p.message_modulus * p.carry_modulus;
    let lut = gb::generate_lookup_table(
        p.glwe_dimension.to_glwe_size(),
        p.polynomial_size,
        space,
        delta,
        |x| (x * x + 3) % space,
    );
    let tfhe_lut = glwe_ciphertext_to_tfhe(&lut);
    let big_sk = keys.glwe_sk.as_lwe_secret_key();
    for m in 0..space {
        // Encrypted by TFHE-rs under the big key.
        let ct_big: LweCiphertextOwned<u64> = allocate_and_encrypt_new_lwe_ciphertext(
            &big_sk,
            Plaintext(m * delta),
            dist(p.glwe_noise),
            CiphertextModulus::new_native(),
            &mut keys.enc,
        );
        // Keyswitch.
        let mut tfhe_small = LweCiphertext::new(
            0u64,
            keys.lwe_sk.lwe_dimension().to_lwe_size(),
            CiphertextModulus::new_native(),
        );
        keyswitch_lwe_ciphertext(&keys.ksk, &ct_big, &mut tfhe_small);
        let gb_big = lwe_ciphertext_from_tfhe(&ct_big).unwrap();
        let gb_small = gb::keyswitch_lwe_ciphertext(&gb_ksk, &gb_big).unwrap();
        assert_eq!(
            gb_small.as_slice(),
            tfhe_small.as_ref(),
            "{} keyswitch m={m}",
            p.name
        );
        let mut batch_small = vec![0u64; p.lwe_dimension.0 + 1];
        backend
            .keyswitch_batch(&ksk_handle, gb_big.as_slice(), &mut batch_small)
            .unwrap();
        assert_eq!(
            batch_small.as_slice(),
            tfhe_small.as_ref(),
            "{} batched keyswitch m={m}",
            p.name
        );

        // Centered modulus switch.
        let log_2n = p.polynomial_size.log2_2n();
        let tfhe_msed = lwe_ciphertext_centered_binary_modulus_switch::<u64, u64, _>(
            tfhe_small.as_view(),
            CiphertextModulusLog(log_2n as usize),
        );
        let want: Vec<u64> = tfhe_msed
            .mask()
            .chain(std::iter::once(tfhe_msed.body()))
            .collect();
        assert_eq!(
            gb::lwe_modulus_switch(
                &gb_small,
                log_2n,
                ModulusSwitchType::CenteredMeanNoiseReduction
            ),
            want
        );

        // PBS (plain modulus switch, as TFHE-rs's bnf PBS does it).
        let mut tfhe_out = LweCiphertext::new(
            0u64,
            big_sk.lwe_dimension().to_lwe_size(),
            CiphertextModulus::new_native(),
        );
        programmable_bootstrap_ntt64_bnf_lwe_ciphertext(
            &tfhe_small,
            &mut tfhe_out,
            &tfhe_lut,
            &nbsk,
        );
        let gb_out = gb::programmable_bootstrap_lwe_ciphertext(
            &gb_small,
            &lut,
            &gb_ntt,
            ModulusSwitchType::Standard,
        )
        .unwrap();
        assert_eq!(gb_out.as_slice(), tfhe_out.as_ref(), "{} PBS m={m}", p.name);

        // The batched CPU backend gives the same words.
        let msed = gb::lwe_modulus_switch(&gb_small, log_2n, ModulusSwitchType::Standard);
        let mut acc = lut.as_slice().to_vec();
        backend
            .blind_rotate_batch(&bsk_handle, &msed, &mut acc)
            .unwrap();
        let mut extracted = vec![0u64; p.big_lwe_dimension().0 + 1];
        gb::extract_lwe_sample_into(&mut extracted, &acc, p.polynomial_size.0);
        assert_eq!(
            extracted.as_slice(),
            tfhe_out.as_ref(),
            "{} batched PBS m={m}",
            p.name
        );

        // And it decrypts to the right value.
        let phase = decrypt_lwe_ciphertext(&big_sk, &tfhe_out).0;
        assert_eq!(
            (phase.wrapping_add(delta / 2) / delta) % space,
            (m * m + 3) % space
        );
    }
}

#[test]
fn bit_exact_with_tfhe_rs_on_default_parameters() {
    bit_exact_pbs_and_keyswitch(&gb::PARAM_MESSAGE_2_CARRY_2_KS_PBS);
}

#[test]
fn bit_exact_with_tfhe_rs_on_two_level_test_parameters() {
    bit_exact_pbs_and_keyswitch(&gb::TEST_PARAMS_INSECURE);
}

#[test]
fn tfhe_rs_shortint_ciphertexts_bootstrapped_by_glovebox() {
    use tfhe::shortint::parameters::PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    let p = gb::PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    let tfhe_ck = tfhe::shortint::ClientKey::new(PARAM_MESSAGE_2_CARRY_2_KS_PBS);
    // The secret keys, converted.
    let gb_ck = client_key_from_tfhe_shortint(&tfhe_ck, &p).unwrap();
    // Evaluation keys generated by TFHE-rs core from the same secrets, then converted.
    use tfhe::shortint::client_key::atomic_pattern::AtomicPatternClientKey;
    let AtomicPatternClientKey::Standard(ap) = &tfhe_ck.atomic_pattern else {
        unreachable!()
    };
    let small = LweSecretKey::from_container(ap.small_lwe_secret_key().as_ref().to_vec());
    let glwe = glwe_secret_key_to_tfhe(gb_ck.glwe_secret_key());
    let mut seeder = new_seeder();
    let seeder = seeder.as_mut();
    let mut enc = EncryptionRandomGenerator::<DefaultRandomGenerator>::new(seeder.seed(), seeder);
    let bsk = par_allocate_and_generate_new_lwe_bootstrap_key(
        &small,
        &glwe,
        DecompositionBaseLog(p.pbs_base_log.0),
        DecompositionLevelCount(p.pbs_level.0),
        dist(p.glwe_noise),
        CiphertextModulus::new_native(),
        &mut enc,
    );
    let ksk = allocate_and_generate_new_lwe_keyswitch_key(
        &glwe.as_lwe_secret_key(),
        &small,
        DecompositionBaseLog(p.ks_base_log.0),
        DecompositionLevelCount(p.ks_level.0),
        dist(p.lwe_noise),
        CiphertextModulus::new_native(),
        &mut enc,
    );
    let server = gb::ServerKey::from_keys(
        &p,
        gb_ck.key_id(),
        lwe_bootstrap_key_from_tfhe(&bsk).unwrap(),
        lwe_keyswitch_key_from_tfhe(&ksk).unwrap(),
    )
    .unwrap();
    let luts = [
        server.generate_lookup_table(|x| x),
        server.generate_lookup_table(|x| (x * x) % 4),
        server.generate_lookup_table(|x| (x >= 2) as u64),
        server.generate_lookup_table(|x| 3 - x % 4),
    ];
    let f = |l: usize, x: u64| match l {
        0 => x,
        1 => x * x % 4,
        2 => (x >= 2) as u64,
        _ => 3 - x % 4,
    };
    let trials = 200;
    let msgs: Vec<u64> = (0..trials)
        .map(|i| (i as u64 * 7 + i as u64 / 4) % 4)
        .collect();
    let cts: Vec<gb::Ciphertext> = msgs
        .iter()
        .map(|&m| ciphertext_from_tfhe_shortint(&tfhe_ck.encrypt(m), &gb_ck).unwrap())
        .collect();
    // On both CPU backends: the exact one and the FFT one (whose contract is decryption).
    let (cpu, fft) = (gb::CpuBackend::new(), gb::CpuFftBackend::new());
    for backend in [&cpu as &dyn gb::Backend, &fft] {
        let resident = server.upload(backend).unwrap();
        let mut correct = 0;
        for chunk in 0..trials / 50 {
            let range = chunk * 50..(chunk + 1) * 50;
            let ct_refs: Vec<&gb::Ciphertext> = cts[range.clone()].iter().collect();
            let lut_refs: Vec<&gb::LookupTable> = range.clone().map(|i| &luts[i % 4]).collect();
            let outs = resident
                .apply_lookup_table_batch(&ct_refs, &lut_refs)
                .unwrap();
            for (i, out) in range.zip(outs) {
                let back = ciphertext_to_tfhe_shortint(&out, &p);
                let got = tfhe_ck.decrypt(&back);
                assert_eq!(got, f(i % 4, msgs[i]), "{}: trial {i}", backend.name());
                correct += 1;
            }
        }
        assert_eq!(correct, trials);
    }
}

#[test]
fn secret_keys_and_ciphertexts_round_trip() {
    let p = gb::TEST_PARAMS_INSECURE;
    let ck = gb::ClientKey::new(&p).unwrap();
    let lwe = lwe_secret_key_to_tfhe(ck.lwe_secret_key());
    assert_eq!(
        &lwe_secret_key_from_tfhe(&lwe).unwrap(),
        ck.lwe_secret_key()
    );
    let glwe = glwe_secret_key_to_tfhe(ck.glwe_secret_key());
    assert_eq!(
        &glwe_secret_key_from_tfhe(&glwe).unwrap(),
        ck.glwe_secret_key()
    );
    let ct = ck.encrypt(3).unwrap();
    let t = lwe_ciphertext_to_tfhe(&ct.ct);
    assert_eq!(lwe_ciphertext_from_tfhe(&t).unwrap(), ct.ct);
    // TFHE-rs decrypts a Glovebox ciphertext.
    let phase = decrypt_lwe_ciphertext(&glwe.as_lwe_secret_key(), &t).0;
    assert_eq!((phase.wrapping_add(p.delta() / 2) / p.delta()) % 16, 3);
    // The whole client key, to TFHE-rs and back.
    let default = gb::ClientKey::new(&gb::PARAM_MESSAGE_2_CARRY_2_KS_PBS).unwrap();
    let tck = client_key_to_tfhe_shortint(
        &default,
        tfhe::shortint::parameters::PARAM_MESSAGE_2_CARRY_2_KS_PBS,
    )
    .unwrap();
    for m in 0..4 {
        let ct = default.encrypt(m).unwrap();
        assert_eq!(
            tck.decrypt(&ciphertext_to_tfhe_shortint(&ct, default.parameters())),
            m
        );
        let back = ciphertext_from_tfhe_shortint(&tck.encrypt(m), &default).unwrap();
        assert_eq!(default.decrypt(&back).unwrap(), m);
    }
    let round = client_key_from_tfhe_shortint(&tck, &gb::PARAM_MESSAGE_2_CARRY_2_KS_PBS).unwrap();
    assert_eq!(round.lwe_secret_key(), default.lwe_secret_key());
    assert_eq!(round.glwe_secret_key(), default.glwe_secret_key());
    // Shapes that do not match are refused.
    assert!(client_key_to_tfhe_shortint(
        &ck,
        tfhe::shortint::parameters::PARAM_MESSAGE_2_CARRY_2_KS_PBS
    )
    .is_err());
    // A non-native TFHE-rs ciphertext is refused.
    let odd = LweCiphertext::from_container(
        vec![0u64; 10],
        CiphertextModulus::try_new(SOLINAS_P).unwrap(),
    );
    assert!(lwe_ciphertext_from_tfhe(&odd).is_err());
    // A key switching key on 2^21 converts both ways.
    let ksk = gb::LweKeyswitchKey::from_container(
        vec![0; 4 * 8 * 3],
        gb::LweDimension(4),
        gb::LweDimension(2),
        gb::DecompositionBaseLog(2),
        gb::DecompositionLevelCount(8),
        21,
    )
    .unwrap();
    assert_eq!(
        lwe_keyswitch_key_from_tfhe(&lwe_keyswitch_key_to_tfhe(&ksk).unwrap()).unwrap(),
        ksk
    );
}
