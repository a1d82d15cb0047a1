//! Compact public-key encryption against TFHE-rs 1.8: a TFHE-rs compact list expands here to
//! TFHE-rs's own expansion word for word and decrypts to its messages; a list encrypted here
//! expands and decrypts in TFHE-rs; and the whole cast (keyswitch + bootstrap) leaves
//! ciphertexts under the client key on the default set.

use glovebox_engine::algorithms::compact_pke::*;
use glovebox_engine::interop;
use glovebox_engine::prelude::*;
use tfhe::core_crypto::prelude as tc;
use tfhe::core_crypto::prelude::ContiguousEntityContainer;

fn tfhe_generators() -> (
    tc::SecretRandomGenerator<tc::DefaultRandomGenerator>,
    tc::EncryptionRandomGenerator<tc::DefaultRandomGenerator>,
) {
    let mut seeder = tc::new_seeder();
    let seeder = seeder.as_mut();
    (
        tc::SecretRandomGenerator::new(seeder.seed()),
        tc::EncryptionRandomGenerator::new(seeder.seed(), seeder),
    )
}

#[test]
fn tfhe_rs_compact_lists_expand_here_word_for_word() {
    let n = 2048;
    let (mut secret, mut enc) = tfhe_generators();
    let noise = tc::DynamicDistribution::new_t_uniform(17);
    let modulus = tc::CiphertextModulus::new_native();
    let sk = tc::allocate_and_generate_new_binary_lwe_secret_key(tc::LweDimension(n), &mut secret);
    let pk = tc::allocate_and_generate_new_lwe_compact_public_key(&sk, noise, modulus, &mut enc);
    let count = n + 5;
    let delta = 1u64 << 59;
    let messages: Vec<u64> = (0..count as u64).map(|i| (i * 5) % 4).collect();
    let plaintexts =
        tc::PlaintextList::from_container(messages.iter().map(|&m| m * delta).collect::<Vec<_>>());
    let mut list = tc::LweCompactCiphertextList::new(
        0u64,
        tc::LweDimension(n).to_lwe_size(),
        tc::LweCiphertextCount(count),
        modulus,
    );
    tc::encrypt_lwe_compact_ciphertext_list_with_compact_public_key(
        &pk,
        &mut list,
        &plaintexts,
        noise,
        noise,
        enc.noise_generator_mut(),
    );
    let ours = interop::lwe_compact_ciphertext_list_from_tfhe(&list).unwrap();
    let want = list.expand_into_lwe_ciphertext_list();
    let got = expand_lwe_compact_ciphertext_list(&ours).unwrap();
    assert_eq!(got.len(), count);
    let key = interop::lwe_secret_key_from_tfhe(&sk).unwrap();
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        assert_eq!(g.as_slice(), w.as_ref(), "ciphertext {i}");
        let phase = decrypt_lwe_ciphertext(&key, g).unwrap();
        assert_eq!(
            phase.wrapping_add(delta / 2) / delta % 4,
            messages[i],
            "ciphertext {i}"
        );
    }
    // The public key converts too, and its mask and body are TFHE-rs's.
    let ours_pk = interop::lwe_compact_public_key_from_tfhe(&pk).unwrap();
    assert_eq!(ours_pk.as_slice(), pk.as_ref());
}

#[test]
fn lists_encrypted_here_expand_and_decrypt_in_tfhe_rs() {
    let n = 1024;
    let mut g = CsprngGenerator::from_os_entropy();
    let noise = NoiseDistribution::TUniform { bound_log2: 17 };
    let sk = LweSecretKey::generate(LweDimension(n), &mut g);
    let pk = generate_lwe_compact_public_key(&sk, noise, &mut g).unwrap();
    let delta = 1u64 << 59;
    let messages: Vec<u64> = (0..n as u64 / 2).map(|i| (i * 3) % 4).collect();
    let plaintexts: Vec<u64> = messages.iter().map(|&m| m * delta).collect();
    let list = encrypt_lwe_compact_ciphertext_list(&pk, &plaintexts, noise, noise, &mut g).unwrap();
    let theirs = interop::lwe_compact_ciphertext_list_to_tfhe(&list);
    let expanded = theirs.expand_into_lwe_ciphertext_list();
    let tsk = interop::lwe_secret_key_to_tfhe(&sk);
    for (i, ct) in expanded.iter().enumerate() {
        let phase = tc::decrypt_lwe_ciphertext(&tsk, &ct).0;
        assert_eq!(
            phase.wrapping_add(delta / 2) / delta % 4,
            messages[i],
            "ciphertext {i}"
        );
    }
}

/// The whole way on the default set: a TFHE-rs device (its shortint `CompactPublicKey` under
/// `PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128`) encrypts a list; Glovebox casts it with
/// a casting key made from the same compact secret key into its client key (keyswitch base
/// 2^4 × 4, then a bootstrap), and the client decrypts the messages.
#[test]
fn tfhe_rs_device_lists_cast_into_a_glovebox_client_key() {
    use glovebox_engine::shortint::public_key::*;
    use tfhe::shortint::parameters::PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128;
    use tfhe::shortint::public_key::{
        CompactPrivateKey as TfheCompactPrivateKey, CompactPublicKey as TfheCompactPublicKey,
    };
    let client = ClientKey::new(&PARAM_MESSAGE_2_CARRY_2_KS_PBS).unwrap();
    let theirs = TfheCompactPrivateKey::new(PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128);
    let device = TfheCompactPublicKey::new(&theirs);
    let messages = [0u64, 1, 2, 3, 3, 2, 1];
    let list = device.encrypt_slice(&messages);
    let secret = tc::LweSecretKey::from_container(theirs.key().as_ref().to_vec());
    let private = CompactPrivateKey::from_secret_key(
        interop::lwe_secret_key_from_tfhe(&secret).unwrap(),
        &PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS,
        &client,
    )
    .unwrap();
    let casting = private.casting_key(&client).unwrap();
    let ours = CompactCiphertextList::from_parts(
        interop::lwe_compact_ciphertext_list_from_tfhe(&list.ct_list).unwrap(),
        &PARAM_MESSAGE_2_CARRY_2_KS_PBS,
        client.key_id(),
        4,
    )
    .unwrap();
    let server = client.server_key().unwrap();
    let cpu = CpuBackend::new();
    let resident = server.upload(&cpu).unwrap();
    let cts = resident
        .expand_compact_list(&casting.upload(&cpu).unwrap(), &ours)
        .unwrap();
    let got: Vec<u64> = cts.iter().map(|c| client.decrypt(c).unwrap()).collect();
    assert_eq!(got, messages);
    // A list for another client key is refused.
    let other = ClientKey::new(&PARAM_MESSAGE_2_CARRY_2_KS_PBS).unwrap();
    let wrong = CompactCiphertextList {
        key_id: other.key_id(),
        ..ours
    };
    assert!(matches!(
        resident.expand_compact_list(&casting.upload(&cpu).unwrap(), &wrong),
        Err(Error::KeyMismatch { .. })
    ));
}
