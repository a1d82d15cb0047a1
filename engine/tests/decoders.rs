//! Property-based fuzz of every envelope decoder: arbitrary bytes, and valid envelopes with
//! bytes flipped, cut or appended, never panic; whatever decodes re-encodes to the same bytes
//! (the encoding is canonical). 10,000 cases per property in CI; set `GLOVEBOX_FUZZ_CASES` for
//! more, e.g. `GLOVEBOX_FUZZ_CASES=1000000 cargo test --release -p glovebox-engine --test
//! decoders`.

use glovebox_engine::prelude::*;
use glovebox_engine::serialization::{from_bytes, to_bytes, Envelope};
use glovebox_engine::shortint::public_key::{
    CompactCiphertextList, CompactPrivateKey, CompactPublicKey, CompressedCastingKey,
};
use proptest::prelude::*;
use std::sync::OnceLock;

const LIMIT: usize = 1 << 26;

fn cases() -> u32 {
    std::env::var("GLOVEBOX_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

/// Valid envelopes of every kind under the test set: a ciphertext, a batch, a compressed
/// server key, a client key, then the compact objects (public key, compressed casting key, a
/// packed list, private key).
fn samples() -> &'static [Vec<u8>; 8] {
    static S: OnceLock<[Vec<u8>; 8]> = OnceLock::new();
    S.get_or_init(|| {
        let client =
            ClientKey::with_generator(&TEST_PARAMS_INSECURE, CsprngGenerator::from_seed([3; 32]))
                .unwrap();
        let cts: Vec<Ciphertext> = (0..3).map(|m| client.encrypt(m).unwrap()).collect();
        let private = CompactPrivateKey::new(&client).unwrap();
        let public = private.public_key().unwrap();
        [
            to_bytes(&cts[0]),
            to_bytes(&cts),
            to_bytes(&client.compressed_server_key().unwrap()),
            to_bytes(&client),
            to_bytes(&public),
            to_bytes(&private.compressed_casting_key(&client).unwrap()),
            to_bytes(&public.encrypt_packed(&[1, 15, 7]).unwrap()),
            to_bytes(&private),
        ]
    })
}

/// Decodes as `T`; if that succeeds, the re-encoding must be the input.
fn decode_is_total_and_canonical<T: Envelope>(
    bytes: &[u8],
) -> std::result::Result<(), TestCaseError> {
    if let Ok(x) = from_bytes::<T>(bytes, &TEST_PARAMS_INSECURE, None, LIMIT) {
        prop_assert_eq!(to_bytes(&x), bytes.to_vec());
    }
    Ok(())
}

fn all_decoders(bytes: &[u8]) -> std::result::Result<(), TestCaseError> {
    decode_is_total_and_canonical::<Ciphertext>(bytes)?;
    decode_is_total_and_canonical::<Vec<Ciphertext>>(bytes)?;
    decode_is_total_and_canonical::<CompressedServerKey>(bytes)?;
    decode_is_total_and_canonical::<ClientKey>(bytes)?;
    compact_decoders(bytes)
}

fn compact_decoders(bytes: &[u8]) -> std::result::Result<(), TestCaseError> {
    decode_is_total_and_canonical::<CompactPublicKey>(bytes)?;
    decode_is_total_and_canonical::<CompressedCastingKey>(bytes)?;
    decode_is_total_and_canonical::<CompactCiphertextList>(bytes)?;
    decode_is_total_and_canonical::<CompactPrivateKey>(bytes)
}

/// Every sample decodes as its own kind and re-encodes to itself (so the mutations below
/// start from envelopes that decode).
#[test]
fn samples_round_trip() {
    fn round<T: Envelope>(b: &[u8]) {
        let x: T = from_bytes(b, &TEST_PARAMS_INSECURE, None, LIMIT).unwrap();
        assert_eq!(to_bytes(&x), b);
    }
    let s = samples();
    round::<Ciphertext>(&s[0]);
    round::<Vec<Ciphertext>>(&s[1]);
    round::<CompressedServerKey>(&s[2]);
    round::<ClientKey>(&s[3]);
    round::<CompactPublicKey>(&s[4]);
    round::<CompressedCastingKey>(&s[5]);
    round::<CompactCiphertextList>(&s[6]);
    round::<CompactPrivateKey>(&s[7]);
}

/// A mutation: flip bytes at (position, xor) pairs, then cut or extend (each one time in five,
/// so that most mutations reach the payload decoders past the header's length check).
fn mutate(base: &[u8], flips: &[(usize, u8)], cut: Option<usize>, extra: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    for &(i, x) in flips {
        let i = i % b.len();
        b[i] ^= x;
    }
    if let Some(c) = cut {
        b.truncate(c % (b.len() + 1));
    }
    b.extend_from_slice(extra);
    b
}

/// Flips land in the header a third of the time (it is 32 bytes of a long envelope).
fn position(len: usize) -> impl Strategy<Value = usize> {
    prop_oneof![0..32usize, 0..len]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        all_decoders(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_header(kind in 1u16..9, body in proptest::collection::vec(any::<u8>(), 0..512)) {
        // A header that passes every check, so the payload decoders see the bytes.
        let mut b = samples()[0][..32].to_vec();
        b[6..8].copy_from_slice(&kind.to_le_bytes());
        b[24..32].copy_from_slice(&(body.len() as u64).to_le_bytes());
        b.extend_from_slice(&body);
        all_decoders(&b)?;
    }

    #[test]
    fn mutated_ciphertexts(
        flips in proptest::collection::vec((position(1000), 1u8..=255), 0..4),
        cut in proptest::option::weighted(0.2, 0usize..100_000),
        extra in proptest::option::weighted(0.2, proptest::collection::vec(any::<u8>(), 1..16)),
    ) {
        let [one, batch, ..] = samples();
        let extra = extra.unwrap_or_default();
        all_decoders(&mutate(one, &flips, cut, &extra))?;
        all_decoders(&mutate(batch, &flips, cut, &extra))?;
    }

    #[test]
    fn mutated_compressed_keys(
        flips in proptest::collection::vec((position(3_000_000), 1u8..=255), 0..4),
        cut in proptest::option::weighted(0.2, 0usize..3_000_000),
        extra in proptest::option::weighted(0.2, proptest::collection::vec(any::<u8>(), 1..16)),
    ) {
        let key = &samples()[2];
        let extra = extra.unwrap_or_default();
        decode_is_total_and_canonical::<CompressedServerKey>(&mutate(key, &flips, cut, &extra))?;
    }

    #[test]
    fn mutated_client_keys(
        flips in proptest::collection::vec((position(40_000), 1u8..=255), 0..4),
        cut in proptest::option::weighted(0.2, 0usize..40_000),
        extra in proptest::option::weighted(0.2, proptest::collection::vec(any::<u8>(), 1..16)),
    ) {
        let key = &samples()[3];
        let extra = extra.unwrap_or_default();
        decode_is_total_and_canonical::<ClientKey>(&mutate(key, &flips, cut, &extra))?;
    }

    #[test]
    fn mutated_compact_objects(
        which in 4usize..8,
        flips in proptest::collection::vec((position(40_000), 1u8..=255), 0..4),
        cut in proptest::option::weighted(0.2, 0usize..40_000),
        extra in proptest::option::weighted(0.2, proptest::collection::vec(any::<u8>(), 1..16)),
    ) {
        let extra = extra.unwrap_or_default();
        compact_decoders(&mutate(&samples()[which], &flips, cut, &extra))?;
    }
}
