//! A TFHE-rs service's keys and ciphertexts through Glovebox, no secret key on the server:
//! compressed server keys made by TFHE-rs from a TFHE-rs `ClientKey` (shortint, integer,
//! high-level; classic keyswitch-bootstrap and KS32) are imported; bootstraps through them on
//! `cpu`, `cpu-fft` and `gpu` decrypt under the TFHE-rs `ClientKey`, and on the exact backends
//! equal TFHE-rs's own ntt64-bnf bootstrap (with its keyswitch and modulus switch) word for
//! word; outputs carry the degree and noise level TFHE-rs's `apply_lookup_table` sets; bad
//! input is a typed error.

use glovebox::engine::interop::{
    tfhe_classic_parameters, tfhe_ks32_parameters, TfheRsResidentKey, TfheRsServerKey,
};
use glovebox::prelude::*;
use tfhe::core_crypto::prelude as tc;
use tfhe::core_crypto::prelude::ModulusSwitchedLweCiphertext;
use tfhe::shortint::atomic_pattern::compressed::CompressedAtomicPatternServerKey;
use tfhe::shortint::server_key::{LookupTableOwned, ShortintCompressedBootstrappingKey};

const SOLINAS_P: u128 = (1u128 << 64) - (1u128 << 32) + 1;

/// TFHE-rs's own bootstrap of `ct` through `lut` with the keys of `compressed`: its keyswitch
/// (`keyswitch_lwe_ciphertext`, or `…_with_scalar_change` into u32 for KS32), its modulus
/// switch (standard or `lwe_ciphertext_centered_binary_modulus_switch`), then
/// `programmable_bootstrap_ntt64_bnf_lwe_ciphertext` on the switched input (lifted to exact
/// multiples of 2^64 / 2N, which its own switch leaves unchanged).
struct TfheRsReference {
    ksk64: Option<tc::LweKeyswitchKeyOwned<u64>>,
    ksk32: Option<tc::LweKeyswitchKeyOwned<u32>>,
    nbsk: tc::NttLweBootstrapKeyOwned<u64>,
    centered: bool,
    log_2n: usize,
}

impl TfheRsReference {
    fn new(compressed: &tfhe::shortint::CompressedServerKey) -> Self {
        /// The standard-domain bootstrapping key and the modulus-switch configuration (as
        /// text) of a classic key of either atomic pattern.
        fn classic<S: tc::UnsignedInteger>(
            key: &ShortintCompressedBootstrappingKey<S>,
        ) -> (tc::LweBootstrapKeyOwned<u64>, String) {
            let ShortintCompressedBootstrappingKey::Classic {
                bsk,
                modulus_switch_noise_reduction_key,
            } = key
            else {
                unreachable!("the tests make classic keys")
            };
            (
                bsk.as_view().par_decompress_into_lwe_bootstrap_key(),
                format!("{modulus_switch_noise_reduction_key:?}"),
            )
        }
        let ((bsk, config), ksk64, ksk32) = match &compressed.compressed_ap_server_key {
            CompressedAtomicPatternServerKey::Standard(ap) => (
                classic(ap.bootstrapping_key()),
                Some(
                    ap.key_switching_key()
                        .as_view()
                        .par_decompress_into_lwe_keyswitch_key(),
                ),
                None,
            ),
            CompressedAtomicPatternServerKey::KeySwitch32(ap) => (
                classic(ap.bootstrapping_key()),
                None,
                Some(
                    ap.key_switching_key()
                        .as_view()
                        .par_decompress_into_lwe_keyswitch_key(),
                ),
            ),
        };
        let mut nbsk = tc::NttLweBootstrapKeyOwned::new(
            0u64,
            bsk.input_lwe_dimension(),
            bsk.glwe_size(),
            bsk.polynomial_size(),
            bsk.decomposition_base_log(),
            bsk.decomposition_level_count(),
            tc::CiphertextModulus::try_new(SOLINAS_P).unwrap(),
        );
        tc::par_convert_standard_lwe_bootstrap_key_to_ntt64(
            &bsk,
            &mut nbsk,
            tc::NttLweBootstrapKeyOption::Raw,
        );
        Self {
            ksk64,
            ksk32,
            centered: config.contains("CenteredMean"),
            log_2n: bsk
                .polynomial_size()
                .to_blind_rotation_input_modulus_log()
                .0,
            nbsk,
        }
    }

    fn bootstrap(&self, ct: &tfhe::shortint::Ciphertext, lut: &LookupTableOwned) -> Vec<u64> {
        let n = self.nbsk.input_lwe_dimension();
        let switched: Vec<u64> = if let Some(ksk) = &self.ksk64 {
            let mut small =
                tc::LweCiphertext::new(0u64, n.to_lwe_size(), tc::CiphertextModulus::new_native());
            tc::keyswitch_lwe_ciphertext(ksk, &ct.ct, &mut small);
            self.switch(small.as_view())
        } else {
            let ksk = self.ksk32.as_ref().unwrap();
            let mut small = tc::LweCiphertext::new(0u32, n.to_lwe_size(), ksk.ciphertext_modulus());
            tc::keyswitch_lwe_ciphertext_with_scalar_change(ksk, &ct.ct, &mut small);
            self.switch(small.as_view())
        };
        let lifted: Vec<u64> = switched.iter().map(|&m| m << (64 - self.log_2n)).collect();
        let input = tc::LweCiphertext::from_container(lifted, tc::CiphertextModulus::new_native());
        let mut out =
            tc::LweCiphertext::new(0u64, ct.ct.lwe_size(), tc::CiphertextModulus::new_native());
        tc::programmable_bootstrap_ntt64_bnf_lwe_ciphertext(&input, &mut out, &lut.acc, &self.nbsk);
        out.into_container()
    }

    fn switch<S: tc::UnsignedTorus + tc::CastInto<u64>>(
        &self,
        small: tc::LweCiphertextView<'_, S>,
    ) -> Vec<u64> {
        let log = tc::CiphertextModulusLog(self.log_2n);
        if self.centered {
            let msed = tc::lwe_ciphertext_centered_binary_modulus_switch::<S, S, _>(small, log);
            msed.mask()
                .chain(std::iter::once(msed.body()))
                .map(|m| m.cast_into())
                .collect()
        } else {
            let msed = tc::lwe_ciphertext_modulus_switch::<S, S, _>(small, log);
            msed.mask()
                .chain(std::iter::once(msed.body()))
                .map(|m: S| m.cast_into())
                .collect()
        }
    }
}

fn backends() -> Vec<(Box<dyn Backend>, bool)> {
    vec![
        (Box::new(CpuBackend::new()), true),
        (Box::new(CpuFftBackend::new()), false),
        (
            Box::new(glovebox::kernels::GpuBackend::new().expect("a GPU adapter (llvmpipe in CI)")),
            true,
        ),
    ]
}

/// `count` encryptions by TFHE-rs through Glovebox on every backend, four tables mixed:
/// decrypted by the TFHE-rs client key, word for word TFHE-rs's bootstrap on exact backends,
/// degree and noise level as TFHE-rs's `apply_lookup_table` sets them.
fn bootstraps_through_imported_key(
    client: &tfhe::shortint::ClientKey,
    compressed: &tfhe::shortint::CompressedServerKey,
    expected_params: &str,
    count: usize,
) {
    let key = TfheRsServerKey::from_shortint(compressed).unwrap();
    assert_eq!(key.parameters().name, expected_params);
    let reference = TfheRsReference::new(compressed);
    let tfhe_server = compressed.decompress();
    let space = key.message_modulus().0 * key.carry_modulus().0;
    let fs: [&dyn Fn(u64) -> u64; 4] = [&|x| x, &|x| (x * x + 1) % 4, &|x| (x >= 2) as u64, &|x| {
        3 - x % 4
    }];
    let msgs: Vec<u64> = (0..count as u64).map(|i| (i * 5 + i / 3) % space).collect();
    let cts: Vec<_> = msgs.iter().map(|&m| client.encrypt(m % 4)).collect();
    for (backend, exact) in backends() {
        let resident = key.upload(&*backend).unwrap();
        let luts: Vec<LookupTableOwned> = fs
            .iter()
            .map(|f| resident.generate_lookup_table(f))
            .collect();
        // Glovebox's table is TFHE-rs's, word for word.
        for (lut, f) in luts.iter().zip(fs) {
            let theirs = tfhe_server.generate_lookup_table(f);
            assert_eq!(lut.acc.as_ref(), theirs.acc.as_ref());
            assert_eq!(lut.degree, theirs.degree);
        }
        let ct_refs: Vec<_> = cts.iter().collect();
        let lut_refs: Vec<_> = (0..count).map(|i| &luts[i % 4]).collect();
        let outs = resident
            .apply_lookup_table_batch(&ct_refs, &lut_refs)
            .unwrap();
        for (i, out) in outs.iter().enumerate() {
            let m = msgs[i] % 4;
            assert_eq!(
                client.decrypt(out),
                fs[i % 4](m),
                "{}: ciphertext {i}",
                backend.name()
            );
            let theirs = tfhe_server.apply_lookup_table(&cts[i], lut_refs[i]);
            assert_eq!(out.degree, theirs.degree);
            assert_eq!(out.noise_level(), theirs.noise_level());
            assert_eq!(out.atomic_pattern, theirs.atomic_pattern);
            if exact {
                assert_eq!(
                    out.ct.as_ref(),
                    reference.bootstrap(&cts[i], lut_refs[i]).as_slice(),
                    "{}: ciphertext {i} differs from TFHE-rs's ntt64-bnf bootstrap",
                    backend.name()
                );
            }
        }
    }
}

fn test_params() -> tfhe::shortint::ClassicPBSParameters {
    tfhe_classic_parameters(&TEST_PARAMS_INSECURE).unwrap()
}

#[test]
fn shortint_key_on_the_test_set_bootstraps_bit_exact_on_every_backend() {
    let client = tfhe::shortint::ClientKey::new(test_params());
    let compressed = tfhe::shortint::CompressedServerKey::new(&client);
    bootstraps_through_imported_key(&client, &compressed, TEST_PARAMS_INSECURE.name, 64);
}

#[test]
fn shortint_key_on_tfhe_rs_default_set_bootstraps_bit_exact_on_every_backend() {
    use tfhe::shortint::parameters::PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128;
    let client = tfhe::shortint::ClientKey::new(PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128);
    let compressed = tfhe::shortint::CompressedServerKey::new(&client);
    bootstraps_through_imported_key(
        &client,
        &compressed,
        PARAM_MESSAGE_2_CARRY_2_KS_PBS.name,
        16,
    );
}

#[test]
fn ks32_key_of_the_hpu_set_bootstraps_bit_exact_on_every_backend() {
    // TFHE-rs's own HPU set (built only with its `hpu` feature), field for field.
    let hpu =
        tfhe_ks32_parameters(&V1_8_HPU_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128).unwrap();
    let client = tfhe::shortint::ClientKey::new(hpu);
    let compressed = tfhe::shortint::CompressedServerKey::new(&client);
    bootstraps_through_imported_key(
        &client,
        &compressed,
        V1_8_HPU_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128.name,
        16,
    );
}

#[test]
fn integer_and_high_level_keys_import_the_shortint_key_inside() {
    // Integer API.
    let (integer_client, _) = tfhe::integer::gen_keys_radix(test_params(), 4);
    let integer_key = tfhe::integer::CompressedServerKey::new_radix_compressed_server_key(
        integer_client.as_ref(),
    );
    let key = TfheRsServerKey::from_integer(&integer_key).unwrap();
    assert_eq!(key.parameters().name, TEST_PARAMS_INSECURE.name);
    assert_eq!(
        key.server_key().key_id(),
        TfheRsServerKey::from_shortint(&integer_key.clone().into_raw_parts())
            .unwrap()
            .server_key()
            .key_id(),
        "the key id is a function of the key"
    );
    // High-level API, as TFHE-rs documents it, and its safe-serialized bytes.
    use tfhe::prelude::*;
    let config = tfhe::ConfigBuilder::with_custom_parameters(test_params()).build();
    let client = tfhe::ClientKey::generate(config);
    let compressed = tfhe::CompressedServerKey::new(&client);
    let mut bytes = Vec::new();
    tfhe::safe_serialization::safe_serialize(&compressed, &mut bytes, 1 << 30).unwrap();
    let key = TfheRsServerKey::from_safe_serialized(&bytes).unwrap();
    assert_ne!(
        key.server_key().key_id(),
        TfheRsServerKey::from_integer(&integer_key)
            .unwrap()
            .server_key()
            .key_id()
    );
    let backend = CpuBackend::new();
    let resident = key.upload(&backend).unwrap();
    // The blocks of several FheUint8s through one table, in one batch.
    let values = [0u8, 7, 200, 255, 91];
    let mut radixes: Vec<tfhe::integer::RadixCiphertext> = values
        .iter()
        .map(|&v| tfhe::FheUint8::encrypt(v, &client).into_raw_parts().0)
        .collect();
    let double = resident.generate_lookup_table(|x| (2 * x) % 4);
    let mut refs: Vec<&mut tfhe::integer::RadixCiphertext> = radixes.iter_mut().collect();
    resident
        .apply_lookup_table_to_radix_blocks(&mut refs, &double)
        .unwrap();
    for (radix, &v) in radixes.into_iter().zip(&values) {
        let back = tfhe::FheUint8::from_raw_parts(
            radix,
            tfhe::FheUint8Id,
            tfhe::Tag::default(),
            Default::default(),
        );
        let got: u8 = back.decrypt(&client);
        // Each 2-bit block doubled mod 4.
        let want = (0..4).fold(0u8, |acc, b| {
            let block = (v >> (2 * b)) & 3;
            acc | (((2 * block) % 4) << (2 * b))
        });
        assert_eq!(got, want, "{v}");
    }
}

fn test_resident_pair() -> (
    tfhe::shortint::ClientKey,
    tfhe::shortint::ServerKey,
    TfheRsServerKey,
) {
    let client = tfhe::shortint::ClientKey::new(test_params());
    let compressed = tfhe::shortint::CompressedServerKey::new(&client);
    let key = TfheRsServerKey::from_shortint(&compressed).unwrap();
    (client, compressed.decompress(), key)
}

#[test]
fn many_function_bivariate_and_trivial_inputs_as_tfhe_rs_sets_them() {
    let (client, tfhe_server, key) = test_resident_pair();
    let backend = CpuBackend::new();
    let resident: TfheRsResidentKey = key.upload(&backend).unwrap();
    // Many-function tables: TFHE-rs's own.
    let f1 = |x: u64| x % 2;
    let f2 = |x: u64| (x + 1) % 4;
    let many = tfhe_server.generate_many_lookup_table(&[&f1, &f2]);
    let msgs = [0u64, 1, 2, 3];
    let cts: Vec<_> = msgs.iter().map(|&m| client.encrypt(m)).collect();
    let refs: Vec<_> = cts.iter().collect();
    let outs = resident
        .apply_many_lookup_table_batch(&refs, &vec![&many; 4])
        .unwrap();
    for ((outs, ct), &m) in outs.iter().zip(&cts).zip(&msgs) {
        let theirs = tfhe_server.apply_many_lookup_table(ct, &many);
        assert_eq!(outs.len(), 2);
        assert_eq!(client.decrypt(&outs[0]), f1(m));
        assert_eq!(client.decrypt(&outs[1]), f2(m));
        for (o, t) in outs.iter().zip(&theirs) {
            assert_eq!((o.degree, o.noise_level()), (t.degree, t.noise_level()));
        }
    }
    // Bivariate tables: the table equals TFHE-rs's, and the outputs decrypt to f(a, b).
    let g = |a: u64, b: u64| (a * 2 + b) % 4;
    let biv = resident.generate_lookup_table_bivariate(g);
    assert_eq!(
        biv.acc.acc.as_ref(),
        tfhe_server
            .generate_lookup_table_bivariate(g)
            .acc
            .acc
            .as_ref()
    );
    let pairs: Vec<(u64, u64)> = (0..4).flat_map(|a| (0..4).map(move |b| (a, b))).collect();
    let lhs: Vec<_> = pairs.iter().map(|p| client.encrypt(p.0)).collect();
    let rhs: Vec<_> = pairs.iter().map(|p| client.encrypt(p.1)).collect();
    let pair_refs: Vec<_> = lhs.iter().zip(&rhs).collect();
    let outs = resident
        .apply_bivariate_lookup_table_batch(&pair_refs, &vec![&biv; pairs.len()])
        .unwrap();
    for ((out, &(a, b)), (l, r)) in outs.iter().zip(&pairs).zip(&pair_refs) {
        assert_eq!(client.decrypt(out), g(a, b), "({a}, {b})");
        let theirs = tfhe_server.unchecked_apply_lookup_table_bivariate(l, r, &biv);
        assert_eq!(
            (out.degree, out.noise_level()),
            (theirs.degree, theirs.noise_level())
        );
    }
    // Trivial inputs: evaluated in the clear, word for word TFHE-rs's trivial PBS.
    let lut = resident.generate_lookup_table(|x| (3 * x + 1) % 4);
    for m in 0..4 {
        let trivial = tfhe_server.create_trivial(m);
        let ours = resident
            .apply_lookup_table_batch(&[&trivial], &[&lut])
            .unwrap();
        let theirs = tfhe_server.apply_lookup_table(&trivial, &lut);
        assert_eq!(ours[0], theirs, "trivial {m}");
        let ours = resident
            .apply_many_lookup_table_batch(&[&trivial], &[&many])
            .unwrap();
        assert_eq!(
            ours[0],
            tfhe_server.apply_many_lookup_table(&trivial, &many)
        );
    }
    // A trivial and an encrypted operand mixed in one batch.
    let mixed = resident
        .apply_lookup_table_to_all(&[&tfhe_server.create_trivial(2), &client.encrypt(2)], &lut)
        .unwrap();
    assert_eq!(client.decrypt(&mixed[0]), 3);
    assert_eq!(client.decrypt(&mixed[1]), 3);
}

#[test]
fn bad_tfhe_rs_input_is_a_typed_error() {
    let (client, tfhe_server, key) = test_resident_pair();
    let backend = CpuBackend::new();
    let resident = key.upload(&backend).unwrap();
    let lut = resident.generate_lookup_table(|x| x);
    let ct = client.encrypt(1);

    // A ciphertext of the default set through the test set's key.
    use tfhe::shortint::parameters::PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128;
    let other = tfhe::shortint::ClientKey::new(PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128);
    let e = resident
        .apply_lookup_table_batch(&[&other.encrypt(1)], &[&lut])
        .unwrap_err();
    assert!(matches!(e, Error::DimensionMismatch { .. }), "{e}");

    // Other moduli (message 1 bit, carry 1 bit).
    let mut odd = ct.clone();
    odd.message_modulus = tfhe::shortint::MessageModulus(2);
    let e = resident
        .apply_lookup_table_batch(&[&odd], &[&lut])
        .unwrap_err();
    assert!(matches!(e, Error::ParameterMismatch { .. }), "{e}");

    // Another atomic pattern.
    let mut ks32 = ct.clone();
    ks32.atomic_pattern = tfhe::shortint::AtomicPatternKind::KeySwitch32;
    let e = resident
        .apply_lookup_table_batch(&[&ks32], &[&lut])
        .unwrap_err();
    assert!(matches!(e, Error::ParameterMismatch { .. }), "{e}");

    // A table of the default set (N = 2048) through the test set (N = 512).
    let big = tfhe::shortint::server_key::generate_lookup_table(
        tfhe::shortint::server_key::LookupTableSize::new(tc::GlweSize(2), tc::PolynomialSize(2048)),
        tc::CiphertextModulus::new_native(),
        tfhe::shortint::MessageModulus(4),
        tfhe::shortint::CarryModulus(4),
        |x| x,
    );
    let e = resident
        .apply_lookup_table_batch(&[&ct], &[&big])
        .unwrap_err();
    assert!(matches!(e, Error::DimensionMismatch { .. }), "{e}");

    // Batch lengths that disagree.
    let e = resident
        .apply_lookup_table_batch(&[&ct, &ct], &[&lut])
        .unwrap_err();
    assert!(matches!(e, Error::DimensionMismatch { .. }), "{e}");

    // A many-function table whose input degree bound the ciphertext exceeds.
    let f = |x: u64| x;
    let many = tfhe_server.generate_many_lookup_table(&[&f, &f]);
    let mut wide = ct.clone();
    wide.degree = tfhe::shortint::ciphertext::Degree::new(many.input_max_degree.get() + 1);
    let e = resident
        .apply_many_lookup_table_batch(&[&wide], &[&many])
        .unwrap_err();
    assert!(matches!(e, Error::DegreeOverflow { .. }), "{e}");

    // Bivariate operands that do not pack: a right operand with carries.
    let biv = resident.generate_lookup_table_bivariate(|a, b| a ^ b);
    let mut carried = ct.clone();
    carried.degree = tfhe::shortint::ciphertext::Degree::new(5);
    let e = resident
        .apply_bivariate_lookup_table_batch(&[(&ct, &carried)], &[&biv])
        .unwrap_err();
    assert!(matches!(e, Error::DegreeOverflow { .. }), "{e}");
    // Noise over the key's bound.
    let mut noisy = ct.clone();
    noisy.set_noise_level(
        tfhe::shortint::ciphertext::NoiseLevel::NOMINAL * 2,
        tfhe::shortint::ciphertext::MaxNoiseLevel::new(10),
    );
    let e = resident
        .apply_bivariate_lookup_table_batch(&[(&noisy, &ct)], &[&biv])
        .unwrap_err();
    assert!(matches!(e, Error::NoiseOverflow { .. }), "{e}");

    // Bytes that are not a TFHE-rs key.
    let e = TfheRsServerKey::from_safe_serialized(b"not a key").unwrap_err();
    assert!(matches!(e, Error::MalformedBytes(_)), "{e}");
    // A key of a set Glovebox does not have (1-bit message and carry).
    let mut p1 = test_params();
    p1.message_modulus = tfhe::shortint::MessageModulus(2);
    p1.carry_modulus = tfhe::shortint::CarryModulus(2);
    let e = TfheRsServerKey::from_shortint(&tfhe::shortint::CompressedServerKey::new(
        &tfhe::shortint::ClientKey::new(p1),
    ))
    .unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e}");
    // A multi-bit key (the test set's shapes, grouping factor 2).
    let t = test_params();
    let mb_params = tfhe::shortint::MultiBitPBSParameters {
        lwe_dimension: t.lwe_dimension,
        glwe_dimension: t.glwe_dimension,
        polynomial_size: t.polynomial_size,
        lwe_noise_distribution: t.lwe_noise_distribution,
        glwe_noise_distribution: t.glwe_noise_distribution,
        pbs_base_log: t.pbs_base_log,
        pbs_level: t.pbs_level,
        ks_base_log: t.ks_base_log,
        ks_level: t.ks_level,
        message_modulus: t.message_modulus,
        carry_modulus: t.carry_modulus,
        max_noise_level: t.max_noise_level,
        log2_p_fail: t.log2_p_fail,
        ciphertext_modulus: t.ciphertext_modulus,
        encryption_key_choice: t.encryption_key_choice,
        grouping_factor: tfhe::shortint::parameters::LweBskGroupingFactor(2),
        deterministic_execution: true,
    };
    let mb = tfhe::shortint::CompressedServerKey::new(&tfhe::shortint::ClientKey::new(mb_params));
    let e = TfheRsServerKey::from_shortint(&mb).unwrap_err();
    assert!(
        matches!(&e, Error::Unsupported(m) if m.contains("multi-bit")),
        "{e}"
    );
}
