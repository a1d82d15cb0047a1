//! The bytes that travel: a versioned binary envelope around each public object (ciphertexts,
//! batches of them, compressed server keys, and public-key encryption's objects: compact public
//! keys, compressed casting keys, compact lists). The same envelope keeps a [`ClientKey`] and a
//! [`CompactPrivateKey`] in their owner's files ([`Kind::ClientKey`],
//! [`Kind::CompactPrivateKey`]); no decoder on the server side accepts those kinds. The compact
//! objects name the compute set they pair with; their own parameters are that set's
//! ([`compact_parameters_for`]).
//!
//! An envelope is a 32-byte header, then the payload:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `GBOX` |
//! | 4..6 | format version (little-endian; this build writes and reads [`VERSION`]) |
//! | 6..8 | kind ([`Kind`]) |
//! | 8..16 | the parameter set's [`Parameters::fingerprint`] |
//! | 16..24 | the client key id |
//! | 24..32 | payload length in bytes |
//!
//! The payload is the object's words, serialized with `serde` as `bincode` (fixed-width
//! little-endian integers); every dimension comes from the parameter set the fingerprint names,
//! so the payload holds no sizes to trust. Decoding checks, in order: the size limit the caller
//! sets, the header, the version, the kind, the parameter set, the key id (when the caller
//! names one), then the payload, which must fill the declared length exactly and give
//! containers of exactly the parameters' sizes. Any failure is a typed [`Error`]; nothing
//! panics on any input (`engine/tests/decoders.rs` fuzzes every decoder).
//!
//! ```
//! use glovebox_engine::prelude::*;
//! use glovebox_engine::serialization::{from_bytes, to_bytes};
//! let client = ClientKey::new(&TEST_PARAMS_INSECURE)?;
//! let ct = client.encrypt(3)?;
//! let bytes = to_bytes(&ct);
//! let back: Ciphertext = from_bytes(&bytes, &TEST_PARAMS_INSECURE, Some(client.key_id()), 1 << 20)?;
//! assert_eq!(back, ct);
//! // Under another parameter set, or truncated: typed errors.
//! assert!(from_bytes::<Ciphertext>(&bytes, &PARAM_MESSAGE_2_CARRY_2_KS_PBS, None, 1 << 20).is_err());
//! assert!(from_bytes::<Ciphertext>(&bytes[..40], &TEST_PARAMS_INSECURE, None, 1 << 20).is_err());
//! # Ok::<(), glovebox_engine::Error>(())
//! ```

use crate::entities::{GlweSecretKey, LweSecretKey};
use crate::entities::{LweCiphertext, SeededLweBootstrapKey, SeededLweKeyswitchKey};
use crate::entities::{LweCompactCiphertextList, LweCompactPublicKey};
use crate::error::{Error, Result};
use crate::parameters::Parameters;
use crate::shortint::public_key::{
    compact_parameters_for, CompactCiphertextList, CompactPrivateKey, CompactPublicKey,
    CompressedCastingKey,
};
use crate::shortint::{check_fingerprint, Ciphertext, ClientKey, CompressedServerKey};
use bincode::Options;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// The first four bytes of every envelope.
pub const MAGIC: [u8; 4] = *b"GBOX";
/// The envelope format this build writes and reads.
pub const VERSION: u16 = 1;
/// Bytes of the header.
pub const HEADER_BYTES: usize = 32;

/// What an envelope holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Kind {
    /// One [`Ciphertext`].
    Ciphertext = 1,
    /// A batch of ciphertexts under one key (`Vec<Ciphertext>`).
    CiphertextBatch = 2,
    /// A [`CompressedServerKey`].
    CompressedServerKey = 3,
    /// A [`ClientKey`]: the secret keys, for the owner's own files only (the service answers
    /// this kind with [`Error::WrongKind`] wherever it expects something else).
    ClientKey = 4,
    /// A [`CompactPublicKey`]: what a device holds.
    CompactPublicKey = 5,
    /// A [`CompressedCastingKey`]: the server's key for expanding compact lists.
    CompressedCastingKey = 6,
    /// A [`CompactCiphertextList`]: what a device uploads.
    CompactCiphertextList = 7,
    /// A [`CompactPrivateKey`]: secret, for the owner's files only, as [`Kind::ClientKey`].
    CompactPrivateKey = 8,
}

impl Kind {
    fn from_u16(x: u16) -> Option<Self> {
        match x {
            1 => Some(Kind::Ciphertext),
            2 => Some(Kind::CiphertextBatch),
            3 => Some(Kind::CompressedServerKey),
            4 => Some(Kind::ClientKey),
            5 => Some(Kind::CompactPublicKey),
            6 => Some(Kind::CompressedCastingKey),
            7 => Some(Kind::CompactCiphertextList),
            8 => Some(Kind::CompactPrivateKey),
            _ => None,
        }
    }
}

/// The header of an envelope (what a server reads to route a request before decoding it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub kind: Kind,
    pub parameters_fingerprint: u64,
    pub key_id: u64,
    pub payload_bytes: u64,
}

impl Header {
    /// Reads and checks the header of `bytes` (magic, version, kind, payload length against the
    /// bytes present); the payload is not decoded.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < HEADER_BYTES {
            return Err(Error::MalformedBytes(format!(
                "{} bytes: shorter than the {HEADER_BYTES}-byte envelope header",
                bytes.len()
            )));
        }
        if bytes[..4] != MAGIC {
            return Err(Error::MalformedBytes(
                "not a Glovebox envelope (bad magic)".into(),
            ));
        }
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        let version = u16_at(4);
        if version != VERSION {
            return Err(Error::UnsupportedVersion {
                got: version,
                supported: VERSION,
            });
        }
        let kind = Kind::from_u16(u16_at(6))
            .ok_or_else(|| Error::MalformedBytes(format!("unknown envelope kind {}", u16_at(6))))?;
        let payload_bytes = u64_at(24);
        let present = (bytes.len() - HEADER_BYTES) as u64;
        if payload_bytes != present {
            return Err(Error::MalformedBytes(format!(
                "the header declares {payload_bytes} payload bytes, {present} are present"
            )));
        }
        Ok(Self {
            version,
            kind,
            parameters_fingerprint: u64_at(8),
            key_id: u64_at(16),
            payload_bytes,
        })
    }
}

/// An object that travels in an envelope.
pub trait Envelope: Sized {
    /// Its kind.
    const KIND: Kind;
    /// The fingerprint of its parameters.
    fn parameters_fingerprint(&self) -> u64;
    /// The client key it belongs to.
    fn key_id(&self) -> u64;
    /// Its payload.
    fn encode_payload(&self) -> Vec<u8>;
    /// The object from a payload whose header names `params` and `key_id` (checked already).
    fn decode_payload(payload: &[u8], params: &Parameters, key_id: u64) -> Result<Self>;
}

/// `x` in its envelope.
pub fn to_bytes<T: Envelope>(x: &T) -> Vec<u8> {
    let payload = x.encode_payload();
    let mut out = Vec::with_capacity(HEADER_BYTES + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(T::KIND as u16).to_le_bytes());
    out.extend_from_slice(&x.parameters_fingerprint().to_le_bytes());
    out.extend_from_slice(&x.key_id().to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Decodes a `T` made under `params` (and under client key `key_id`, when given) from at most
/// `max_bytes` bytes.
pub fn from_bytes<T: Envelope>(
    bytes: &[u8],
    params: &Parameters,
    key_id: Option<u64>,
    max_bytes: usize,
) -> Result<T> {
    if bytes.len() > max_bytes {
        return Err(Error::TooLarge {
            size: bytes.len(),
            limit: max_bytes,
        });
    }
    let header = Header::parse(bytes)?;
    if header.kind != T::KIND {
        return Err(Error::WrongKind {
            expected: format!("{:?}", T::KIND),
            got: format!("{:?}", header.kind),
        });
    }
    check_fingerprint(params, header.parameters_fingerprint)?;
    if let Some(expected) = key_id {
        if header.key_id != expected {
            return Err(Error::KeyMismatch {
                expected,
                got: header.key_id,
            });
        }
    }
    T::decode_payload(&bytes[HEADER_BYTES..], params, header.key_id)
}

fn options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
}

fn encode<W: Serialize>(wire: &W) -> Vec<u8> {
    options()
        .serialize(wire)
        .expect("plain vectors and arrays always serialize")
}

/// Decodes a wire struct from exactly `payload` (its length bounds every allocation).
fn decode<W: DeserializeOwned>(payload: &[u8], what: &str) -> Result<W> {
    options()
        .with_limit(payload.len() as u64)
        .deserialize(payload)
        .map_err(|e| Error::MalformedBytes(format!("{what}: {e}")))
}

#[derive(Serialize, Deserialize)]
struct CiphertextWire {
    lwe: Vec<u64>,
}

fn ciphertext_from_words(lwe: Vec<u64>, params: &Parameters, key_id: u64) -> Result<Ciphertext> {
    let expected = params.big_lwe_dimension().0 + 1;
    if lwe.len() != expected {
        return Err(Error::MalformedContainer {
            entity: "LWE ciphertext",
            expected,
            got: lwe.len(),
        });
    }
    Ok(Ciphertext {
        ct: LweCiphertext::from_container(lwe)?,
        parameters_fingerprint: params.fingerprint(),
        key_id,
    })
}

impl Envelope for Ciphertext {
    const KIND: Kind = Kind::Ciphertext;
    fn parameters_fingerprint(&self) -> u64 {
        self.parameters_fingerprint
    }
    fn key_id(&self) -> u64 {
        self.key_id
    }
    fn encode_payload(&self) -> Vec<u8> {
        encode(&CiphertextWire {
            lwe: self.ct.as_slice().to_vec(),
        })
    }
    fn decode_payload(payload: &[u8], params: &Parameters, key_id: u64) -> Result<Self> {
        let wire: CiphertextWire = decode(payload, "ciphertext")?;
        ciphertext_from_words(wire.lwe, params, key_id)
    }
}

#[derive(Serialize, Deserialize)]
struct BatchWire {
    lwes: Vec<Vec<u64>>,
}

/// A batch of ciphertexts under one key and one parameter set (not empty: an empty batch would
/// encode the fingerprint and key id 0, which no decoder accepts).
impl Envelope for Vec<Ciphertext> {
    const KIND: Kind = Kind::CiphertextBatch;
    fn parameters_fingerprint(&self) -> u64 {
        self.first().map_or(0, |c| c.parameters_fingerprint)
    }
    fn key_id(&self) -> u64 {
        self.first().map_or(0, |c| c.key_id)
    }
    fn encode_payload(&self) -> Vec<u8> {
        debug_assert!(self.iter().all(|c| c.key_id == self[0].key_id
            && c.parameters_fingerprint == self[0].parameters_fingerprint));
        encode(&BatchWire {
            lwes: self.iter().map(|c| c.ct.as_slice().to_vec()).collect(),
        })
    }
    fn decode_payload(payload: &[u8], params: &Parameters, key_id: u64) -> Result<Self> {
        let wire: BatchWire = decode(payload, "ciphertext batch")?;
        if wire.lwes.is_empty() {
            // Nothing in it names its parameters or key: an empty batch does not travel.
            return Err(Error::MalformedBytes("an empty ciphertext batch".into()));
        }
        wire.lwes
            .into_iter()
            .map(|lwe| ciphertext_from_words(lwe, params, key_id))
            .collect()
    }
}

#[derive(Serialize, Deserialize)]
struct CompressedServerKeyWire {
    bootstrap_key_seed: [u8; 32],
    bootstrap_key_bodies: Vec<u64>,
    keyswitch_key_seed: [u8; 32],
    keyswitch_key_bodies: Vec<u64>,
}

impl Envelope for CompressedServerKey {
    const KIND: Kind = Kind::CompressedServerKey;
    fn parameters_fingerprint(&self) -> u64 {
        self.parameters().fingerprint()
    }
    fn key_id(&self) -> u64 {
        CompressedServerKey::key_id(self)
    }
    fn encode_payload(&self) -> Vec<u8> {
        encode(&CompressedServerKeyWire {
            bootstrap_key_seed: self.bootstrap_key().mask_seed(),
            bootstrap_key_bodies: self.bootstrap_key().as_slice().to_vec(),
            keyswitch_key_seed: self.keyswitch_key().mask_seed(),
            keyswitch_key_bodies: self.keyswitch_key().as_slice().to_vec(),
        })
    }
    fn decode_payload(payload: &[u8], p: &Parameters, key_id: u64) -> Result<Self> {
        let wire: CompressedServerKeyWire = decode(payload, "compressed server key")?;
        let bsk = SeededLweBootstrapKey::from_container(
            wire.bootstrap_key_bodies,
            wire.bootstrap_key_seed,
            p.lwe_dimension,
            p.glwe_dimension.to_glwe_size(),
            p.polynomial_size,
            p.pbs_base_log,
            p.pbs_level,
        )?;
        let ksk = SeededLweKeyswitchKey::from_container(
            wire.keyswitch_key_bodies,
            wire.keyswitch_key_seed,
            p.big_lwe_dimension(),
            p.lwe_dimension,
            p.ks_base_log,
            p.ks_level,
            p.ks_output_modulus_log,
        )?;
        CompressedServerKey::from_keys(p, key_id, bsk, ksk)
    }
}
#[derive(Serialize, Deserialize)]
struct ClientKeyWire {
    lwe_secret_key: Vec<u64>,
    glwe_secret_key: Vec<u64>,
}

/// The secret keys, for the owner's files. Decoding checks every dimension and that every key
/// bit is 0 or 1; the decoded key draws fresh encryption randomness from the operating system.
impl Envelope for ClientKey {
    const KIND: Kind = Kind::ClientKey;
    fn parameters_fingerprint(&self) -> u64 {
        self.parameters().fingerprint()
    }
    fn key_id(&self) -> u64 {
        ClientKey::key_id(self)
    }
    fn encode_payload(&self) -> Vec<u8> {
        encode(&ClientKeyWire {
            lwe_secret_key: self.lwe_secret_key().as_slice().to_vec(),
            glwe_secret_key: self.glwe_secret_key().as_slice().to_vec(),
        })
    }
    fn decode_payload(payload: &[u8], p: &Parameters, key_id: u64) -> Result<Self> {
        let wire: ClientKeyWire = decode(payload, "client key")?;
        let binary = |v: &[u64]| v.iter().all(|&b| b <= 1);
        if !binary(&wire.lwe_secret_key) || !binary(&wire.glwe_secret_key) {
            return Err(Error::MalformedBytes(
                "client key: a secret key bit other than 0 or 1".into(),
            ));
        }
        let lwe = LweSecretKey::from_container(wire.lwe_secret_key)?;
        let glwe = GlweSecretKey::from_container(wire.glwe_secret_key, p.polynomial_size)?;
        ClientKey::from_stored_keys(p, lwe, glwe, key_id)
    }
}

#[derive(Serialize, Deserialize)]
struct WordsWire {
    words: Vec<u64>,
}

/// The compact public key of the set's paired compact parameters.
impl Envelope for CompactPublicKey {
    const KIND: Kind = Kind::CompactPublicKey;
    fn parameters_fingerprint(&self) -> u64 {
        self.compute_fingerprint()
    }
    fn key_id(&self) -> u64 {
        CompactPublicKey::key_id(self)
    }
    fn encode_payload(&self) -> Vec<u8> {
        encode(&WordsWire {
            words: self.key().as_slice().to_vec(),
        })
    }
    fn decode_payload(payload: &[u8], p: &Parameters, key_id: u64) -> Result<Self> {
        let pke = compact_parameters_for(p)?;
        let wire: WordsWire = decode(payload, "compact public key")?;
        let expected = 2 * pke.lwe_dimension.0;
        if wire.words.len() != expected {
            return Err(Error::MalformedContainer {
                entity: "compact public key",
                expected,
                got: wire.words.len(),
            });
        }
        CompactPublicKey::from_parts(LweCompactPublicKey::from_container(wire.words)?, p, key_id)
    }
}

#[derive(Serialize, Deserialize)]
struct SeededWire {
    seed: [u8; 32],
    bodies: Vec<u64>,
}

impl Envelope for CompressedCastingKey {
    const KIND: Kind = Kind::CompressedCastingKey;
    fn parameters_fingerprint(&self) -> u64 {
        self.compute_fingerprint()
    }
    fn key_id(&self) -> u64 {
        CompressedCastingKey::key_id(self)
    }
    fn encode_payload(&self) -> Vec<u8> {
        encode(&SeededWire {
            seed: self.keyswitch_key().mask_seed(),
            bodies: self.keyswitch_key().as_slice().to_vec(),
        })
    }
    fn decode_payload(payload: &[u8], p: &Parameters, key_id: u64) -> Result<Self> {
        let pke = compact_parameters_for(p)?;
        let wire: SeededWire = decode(payload, "compressed casting key")?;
        let ksk = SeededLweKeyswitchKey::from_container(
            wire.bodies,
            wire.seed,
            pke.lwe_dimension,
            p.lwe_dimension,
            pke.casting_base_log,
            pke.casting_level,
            64,
        )?;
        CompressedCastingKey::from_parts(ksk, p, key_id)
    }
}

#[derive(Serialize, Deserialize)]
struct CompactListWire {
    count: u64,
    bound: u64,
    words: Vec<u64>,
}

/// A compact list: its count and its values' bound (the message modulus, or message · carry
/// for a packed list), then its words, which must be exactly the count's.
impl Envelope for CompactCiphertextList {
    const KIND: Kind = Kind::CompactCiphertextList;
    fn parameters_fingerprint(&self) -> u64 {
        self.compute_fingerprint
    }
    fn key_id(&self) -> u64 {
        self.key_id
    }
    fn encode_payload(&self) -> Vec<u8> {
        encode(&CompactListWire {
            count: self.list.count() as u64,
            bound: self.message_modulus,
            words: self.list.as_slice().to_vec(),
        })
    }
    fn decode_payload(payload: &[u8], p: &Parameters, key_id: u64) -> Result<Self> {
        let pke = compact_parameters_for(p)?;
        let wire: CompactListWire = decode(payload, "compact ciphertext list")?;
        if wire.count == 0 || wire.count > wire.words.len() as u64 {
            return Err(Error::MalformedBytes(format!(
                "compact list: {} values in {} words",
                wire.count,
                wire.words.len()
            )));
        }
        let list = LweCompactCiphertextList::from_container(
            wire.words,
            pke.lwe_dimension,
            wire.count as usize,
        )?;
        CompactCiphertextList::from_parts(list, p, key_id, wire.bound)
    }
}

/// The compact secret key, for the owner's files (every bit checked to be 0 or 1).
impl Envelope for CompactPrivateKey {
    const KIND: Kind = Kind::CompactPrivateKey;
    fn parameters_fingerprint(&self) -> u64 {
        self.compute_fingerprint()
    }
    fn key_id(&self) -> u64 {
        CompactPrivateKey::key_id(self)
    }
    fn encode_payload(&self) -> Vec<u8> {
        encode(&WordsWire {
            words: self.secret_key().as_slice().to_vec(),
        })
    }
    fn decode_payload(payload: &[u8], p: &Parameters, key_id: u64) -> Result<Self> {
        let pke = compact_parameters_for(p)?;
        let wire: WordsWire = decode(payload, "compact private key")?;
        if wire.words.iter().any(|&b| b > 1) {
            return Err(Error::MalformedBytes(
                "compact private key: a secret key bit other than 0 or 1".into(),
            ));
        }
        let key = LweSecretKey::from_container(wire.words)?;
        if key.lwe_dimension() != pke.lwe_dimension {
            return Err(Error::MalformedContainer {
                entity: "compact private key",
                expected: pke.lwe_dimension.0,
                got: key.lwe_dimension().0,
            });
        }
        CompactPrivateKey::from_stored_key(key, p, key_id)
    }
}
