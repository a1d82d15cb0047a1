//! Compressed server keys and the envelopes: a compressed key expands to a working server key
//! (every message through a table decrypts to f(m), on the test and the default set) at about a
//! quarter of the full keys' size; every envelope comes back equal to what was sent; and every
//! kind of bad envelope is its typed error.

use glovebox_engine::prelude::*;
use glovebox_engine::serialization::{from_bytes, to_bytes, Header, HEADER_BYTES, VERSION};

const LIMIT: usize = 1 << 30;

fn expanded_key_bootstraps(params: &Parameters) {
    let client = ClientKey::new(params).unwrap();
    let compressed = client.compressed_server_key().unwrap();
    let full = params.bootstrap_key_bytes() + params.keyswitch_key_bytes();
    assert!(
        compressed.size_bytes() * 3 < full,
        "{}: compressed {} bytes against {full}",
        params.name,
        compressed.size_bytes()
    );
    // Through the envelope, as a server receives it.
    let bytes = to_bytes(&compressed);
    let received: CompressedServerKey =
        from_bytes(&bytes, params, Some(client.key_id()), LIMIT).unwrap();
    assert_eq!(received, compressed);
    let server = received.expand().unwrap();
    let space = params.message_modulus * params.carry_modulus;
    let table = server.generate_lookup_table(|x| (3 * x + 1) % params.message_modulus);
    for m in 0..space {
        let out = server
            .apply_lookup_table(&client.encrypt(m).unwrap(), &table)
            .unwrap();
        assert_eq!(
            client.decrypt(&out).unwrap(),
            (3 * m + 1) % params.message_modulus,
            "{}: m = {m}",
            params.name
        );
    }
}

#[test]
fn compressed_test_key_expands_and_bootstraps() {
    expanded_key_bootstraps(&TEST_PARAMS_INSECURE);
}

#[test]
fn compressed_default_key_expands_and_bootstraps() {
    expanded_key_bootstraps(&PARAM_MESSAGE_2_CARRY_2_KS_PBS);
}

#[test]
fn compressed_hpu_key_expands_and_bootstraps() {
    // The keyswitch key's masks live in the top 21 bits: regenerated with the same mask.
    expanded_key_bootstraps(&V1_8_HPU_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128);
}

#[test]
fn ciphertexts_and_batches_round_trip() {
    let p = TEST_PARAMS_INSECURE;
    let client = ClientKey::new(&p).unwrap();
    let cts: Vec<Ciphertext> = (0..5).map(|m| client.encrypt(m).unwrap()).collect();
    let bytes = to_bytes(&cts[2]);
    let header = Header::parse(&bytes).unwrap();
    assert_eq!(header.key_id, client.key_id());
    assert_eq!(header.parameters_fingerprint, p.fingerprint());
    let back: Ciphertext = from_bytes(&bytes, &p, Some(client.key_id()), LIMIT).unwrap();
    assert_eq!(back, cts[2]);
    let bytes = to_bytes(&cts);
    let back: Vec<Ciphertext> = from_bytes(&bytes, &p, None, LIMIT).unwrap();
    assert_eq!(back, cts);
    let empty: Vec<Ciphertext> = Vec::new();
    let back: Vec<Ciphertext> =
        from_bytes(&to_bytes(&empty), &p, None, LIMIT).unwrap_or_else(|e| {
            // An empty batch names no parameters: refused, typed.
            assert!(matches!(e, Error::ParameterMismatch { .. }), "{e:?}");
            Vec::new()
        });
    assert!(back.is_empty());
}

/// The clinic's own file: the secret keys and key id come back; a server expecting a public
/// object refuses a client key as the wrong kind.
#[test]
fn client_keys_round_trip_and_are_never_taken_for_public_objects() {
    let p = TEST_PARAMS_INSECURE;
    let client = ClientKey::new(&p).unwrap();
    let bytes = to_bytes(&client);
    let back: ClientKey = from_bytes(&bytes, &p, Some(client.key_id()), LIMIT).unwrap();
    assert_eq!(back.key_id(), client.key_id());
    for m in 0..4 {
        assert_eq!(back.decrypt(&client.encrypt(m).unwrap()).unwrap(), m);
        assert_eq!(client.decrypt(&back.encrypt(m).unwrap()).unwrap(), m);
    }
    let as_key = from_bytes::<CompressedServerKey>(&bytes, &p, None, LIMIT).unwrap_err();
    assert!(matches!(as_key, Error::WrongKind { .. }), "{as_key:?}");
    let as_ct = from_bytes::<Vec<Ciphertext>>(&bytes, &p, None, LIMIT).unwrap_err();
    assert!(matches!(as_ct, Error::WrongKind { .. }), "{as_ct:?}");
    // A key bit other than 0 or 1.
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] = 2;
    let e = from_bytes::<ClientKey>(&bad, &p, None, LIMIT).unwrap_err();
    assert!(matches!(e, Error::MalformedBytes(_)), "{e:?}");
}

/// Each bad envelope, and the error it must give.
#[test]
fn bad_envelopes_are_typed_errors() {
    let p = TEST_PARAMS_INSECURE;
    let client = ClientKey::new(&p).unwrap();
    let ct = client.encrypt(1).unwrap();
    let good = to_bytes(&ct);
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        b
    };
    let set_len = |b: &mut Vec<u8>| {
        let n = (b.len() - HEADER_BYTES) as u64;
        b[24..32].copy_from_slice(&n.to_le_bytes());
    };
    type Check = fn(&Error) -> bool;
    let cases: Vec<(&str, Vec<u8>, Option<u64>, usize, Check)> = vec![
        ("empty", vec![], None, LIMIT, |e| {
            matches!(e, Error::MalformedBytes(_))
        }),
        ("truncated header", good[..20].to_vec(), None, LIMIT, |e| {
            matches!(e, Error::MalformedBytes(_))
        }),
        (
            "truncated payload",
            good[..good.len() - 8].to_vec(),
            None,
            LIMIT,
            |e| matches!(e, Error::MalformedBytes(_)),
        ),
        (
            "truncated payload, length patched",
            with(&|b| {
                b.truncate(b.len() - 8);
                set_len(b)
            }),
            None,
            LIMIT,
            |e| matches!(e, Error::MalformedBytes(_)),
        ),
        (
            "trailing bytes",
            with(&|b| {
                b.extend_from_slice(&[0; 8]);
                set_len(b)
            }),
            None,
            LIMIT,
            |e| matches!(e, Error::MalformedBytes(_)),
        ),
        ("bad magic", with(&|b| b[0] = b'X'), None, LIMIT, |e| {
            matches!(e, Error::MalformedBytes(_))
        }),
        (
            "other version",
            with(&|b| b[4..6].copy_from_slice(&(VERSION + 1).to_le_bytes())),
            None,
            LIMIT,
            |e| matches!(e, Error::UnsupportedVersion { .. }),
        ),
        ("unknown kind", with(&|b| b[6] = 99), None, LIMIT, |e| {
            matches!(e, Error::MalformedBytes(_))
        }),
        ("another kind", with(&|b| b[6] = 2), None, LIMIT, |e| {
            matches!(e, Error::WrongKind { .. })
        }),
        (
            "other parameters",
            with(&|b| {
                b[8..16]
                    .copy_from_slice(&PARAM_MESSAGE_2_CARRY_2_KS_PBS.fingerprint().to_le_bytes())
            }),
            None,
            LIMIT,
            |e| matches!(e, Error::ParameterMismatch { .. }),
        ),
        (
            "foreign key id",
            good.clone(),
            Some(client.key_id() ^ 1),
            LIMIT,
            |e| matches!(e, Error::KeyMismatch { .. }),
        ),
        ("over the limit", good.clone(), None, good.len() - 1, |e| {
            matches!(e, Error::TooLarge { .. })
        }),
        (
            "container of the wrong size",
            with(&|b| {
                b[HEADER_BYTES..HEADER_BYTES + 8].copy_from_slice(&3u64.to_le_bytes());
                b.truncate(HEADER_BYTES + 8 + 24);
                set_len(b)
            }),
            None,
            LIMIT,
            |e| matches!(e, Error::MalformedContainer { .. }),
        ),
        (
            "a length claiming 2^60 words",
            with(&|b| {
                b[HEADER_BYTES..HEADER_BYTES + 8].copy_from_slice(&(1u64 << 60).to_le_bytes())
            }),
            None,
            LIMIT,
            |e| matches!(e, Error::MalformedBytes(_)),
        ),
    ];
    for (name, bytes, key, limit, check) in cases {
        match from_bytes::<Ciphertext>(&bytes, &p, key, limit) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => assert!(check(&e), "{name}: {e:?}"),
        }
    }
    // The untouched envelope still decodes (the cases above are each one change away).
    assert!(from_bytes::<Ciphertext>(&good, &p, Some(client.key_id()), LIMIT).is_ok());
}
