//! Bad input comes back as a typed error, never a panic or a wrong answer.

use glovebox_engine::prelude::*;

#[test]
fn ciphertext_from_other_parameters_or_key_is_refused() {
    let client = ClientKey::new(&TEST_PARAMS_INSECURE).unwrap();
    let server = client.server_key().unwrap();
    let lut = server.generate_lookup_table(|x| x);

    let other_client = ClientKey::new(&TEST_PARAMS_INSECURE).unwrap();
    let foreign = other_client.encrypt(1).unwrap();
    assert!(matches!(
        server.apply_lookup_table(&foreign, &lut),
        Err(Error::KeyMismatch { .. })
    ));
    assert!(matches!(
        client.decrypt(&foreign),
        Err(Error::KeyMismatch { .. })
    ));

    let mut other_params = client.encrypt(1).unwrap();
    other_params.parameters_fingerprint = PARAM_MESSAGE_2_CARRY_2_KS_PBS.fingerprint();
    match server.apply_lookup_table(&other_params, &lut) {
        Err(Error::ParameterMismatch { expected, got }) => {
            assert_eq!(expected, "TEST_PARAMS_INSECURE");
            assert_eq!(got, "PARAM_MESSAGE_2_CARRY_2_KS_PBS");
        }
        other => panic!("{other:?}"),
    }

    let mut truncated = client.encrypt(1).unwrap();
    truncated.ct = LweCiphertext::from_container(truncated.ct.as_slice()[1..].to_vec()).unwrap();
    assert!(matches!(
        server.apply_lookup_table(&truncated, &lut),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        client.encrypt(16),
        Err(Error::MessageOutOfRange {
            message: 16,
            modulus: 16
        })
    ));
}

#[test]
fn malformed_containers_are_refused() {
    assert!(matches!(
        LweCiphertext::from_container(vec![1]),
        Err(Error::MalformedContainer { .. })
    ));
    assert!(matches!(
        GlweCiphertext::from_container(vec![0; 1000], PolynomialSize(512)),
        Err(Error::MalformedContainer { .. })
    ));
    assert!(matches!(
        LweSecretKey::from_container(vec![0, 1, 2]),
        Err(Error::MalformedBytes(_))
    ));
    assert!(matches!(
        LweBootstrapKey::from_container(
            vec![0; 10],
            LweDimension(2),
            GlweSize(2),
            PolynomialSize(256),
            DecompositionBaseLog(10),
            DecompositionLevelCount(1)
        ),
        Err(Error::MalformedContainer { .. })
    ));
    assert!(LweKeyswitchKey::from_container(
        vec![0; 2 * 3 * 5],
        LweDimension(2),
        LweDimension(4),
        DecompositionBaseLog(4),
        DecompositionLevelCount(3),
        64
    )
    .is_ok());
    assert!(matches!(
        LweKeyswitchKey::from_container(
            vec![0; 2 * 3 * 5],
            LweDimension(2),
            LweDimension(4),
            DecompositionBaseLog(8),
            DecompositionLevelCount(3),
            21
        ),
        Err(Error::InvalidParameters(_))
    ));
    assert_eq!(ntt_plan_error(300), Error::UnsupportedPolynomialSize(300));
}

fn ntt_plan_error(n: usize) -> Error {
    glovebox_engine::ntt::Plan::try_new(n).unwrap_err()
}

#[test]
fn mismatched_keys_and_batches_are_refused() {
    let params = TEST_PARAMS_INSECURE;
    let client = ClientKey::new(&params).unwrap();
    let server = client.server_key().unwrap();
    // A server key assembled from keys of the wrong shape.
    let mut wrong = PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    wrong.name = "wrong";
    assert!(matches!(
        ServerKey::from_keys(
            &wrong,
            0,
            server.bootstrap_key().clone(),
            server.keyswitch_key().clone()
        ),
        Err(Error::DimensionMismatch { .. })
    ));
    // PBS with a lookup table of another polynomial size.
    let small = LweCiphertext::zero(params.lwe_dimension);
    let lut = GlweCiphertext::zero(GlweSize(2), PolynomialSize(1024));
    assert!(matches!(
        programmable_bootstrap_lwe_ciphertext(
            &small,
            &lut,
            server.ntt_bootstrap_key().unwrap(),
            ModulusSwitchType::Standard
        ),
        Err(Error::DimensionMismatch { .. })
    ));
    // Backend batches of the wrong length, out-of-range inputs, foreign handles.
    let backend = CpuBackend::new();
    let bsk = backend
        .upload_bootstrap_key(server.bootstrap_key())
        .unwrap();
    let n1 = params.lwe_dimension.0 + 1;
    let acc = 2 * params.polynomial_size.0;
    let mut accs = vec![0u64; 2 * acc];
    assert!(backend
        .blind_rotate_batch(&bsk, &vec![0; 2 * n1 + 1], &mut accs)
        .is_err());
    assert!(backend
        .blind_rotate_batch(&bsk, &vec![0; n1], &mut accs)
        .is_err());
    assert!(backend
        .blind_rotate_batch(&bsk, &vec![5000; 2 * n1], &mut accs)
        .is_err());
    let other = CpuBackend::new();
    assert!(matches!(
        other.blind_rotate_batch(&bsk, &vec![0; 2 * n1], &mut accs),
        Err(Error::InvalidHandle(_))
    ));
    let ksk = backend
        .upload_keyswitch_key(server.keyswitch_key())
        .unwrap();
    let mut out = vec![0u64; n1];
    assert!(backend.keyswitch_batch(&ksk, &[0; 7], &mut out).is_err());
    assert!(backend
        .ntt_forward_batch(PolynomialSize(300), &mut [0; 600])
        .is_err());
    assert!(backend
        .ntt_forward_batch(PolynomialSize(256), &mut [0; 300])
        .is_err());
    assert!(backend
        .ntt_forward_batch(PolynomialSize(256), &mut [u64::MAX; 256])
        .is_err());
}
