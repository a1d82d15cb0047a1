//! Public-key encryption for devices that must not hold a secret key, TFHE-rs's compact way:
//! the clinic makes a [`CompactPrivateKey`] (a fresh binary key of dimension 2048, as
//! TFHE-rs's dedicated compact public-key parameters do), publishes its [`CompactPublicKey`]
//! to the devices and gives the server a [`CastingKey`] (a keyswitching key from the compact
//! key to the client key's small key). A device encrypts several values as one
//! [`CompactCiphertextList`]; the server expands it, keyswitches every value with the casting
//! key and bootstraps it through `x mod message_modulus` on its backend (the engine's one
//! batched path, [`super::batch::keyswitch_bootstrap_batch`]), which leaves ordinary
//! ciphertexts under the client key. Nothing a device holds gives a secret key.
//!
//! ```
//! use glovebox_engine::prelude::*;
//! use glovebox_engine::shortint::public_key::*;
//! let client = ClientKey::new(&TEST_PARAMS_INSECURE)?;
//! let private = CompactPrivateKey::new(&client)?;
//! let public = private.public_key()?;
//! let casting = private.casting_key(&client)?;
//! let list = public.encrypt(&[1, 3, 2])?;
//! let server = client.server_key()?;
//! let cpu = CpuBackend::new();
//! let resident = server.upload(&cpu)?;
//! let cts = resident.expand_compact_list(&casting.upload(&cpu)?, &list)?;
//! let m: Vec<u64> = cts.iter().map(|c| client.decrypt(c)).collect::<Result<_>>()?;
//! assert_eq!(m, [1, 3, 2]);
//! # Ok::<(), glovebox_engine::Error>(())
//! ```

use super::batch::keyswitch_bootstrap_batch;
use super::{BootstrapTable, Ciphertext, ClientKey, LookupTable, ResidentServerKey};
use crate::algorithms::compact_pke::{
    encrypt_lwe_compact_ciphertext_list, expand_lwe_compact_ciphertext_list,
    generate_lwe_compact_public_key,
};
use crate::algorithms::{generate_lwe_keyswitch_key, generate_seeded_lwe_keyswitch_key};
use crate::backend::{Backend, KeyswitchKeyHandle};
use crate::commons::dimensions::*;
use crate::commons::random::{CsprngGenerator, NoiseDistribution};
use crate::entities::{
    LweCiphertext, LweCompactCiphertextList, LweCompactPublicKey, LweKeyswitchKey, LweSecretKey,
    SeededLweKeyswitchKey,
};
use crate::error::{check_dim, Error, Result};
use crate::parameters::{Parameters, SecurityLevel};

/// The parameters of compact public-key encryption and of the cast into a compute set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompactPkeParameters {
    pub name: &'static str,
    /// n: the compact key's dimension (a power of two).
    pub lwe_dimension: LweDimension,
    /// The noise of the public key and of each encryption (mask and body).
    pub noise: NoiseDistribution,
    pub message_modulus: u64,
    pub carry_modulus: u64,
    /// The casting keyswitch into the compute set's small key.
    pub casting_base_log: DecompositionBaseLog,
    pub casting_level: DecompositionLevelCount,
    pub security: SecurityLevel,
    pub source: &'static str,
}

/// TFHE-rs 1.8's `V1_8_PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128` with its casting key
/// `V1_8_PARAM_KEYSWITCH_PKE_TO_SMALL_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128`, paired with
/// the default set ([`crate::parameters::PARAM_MESSAGE_2_CARRY_2_KS_PBS`]).
pub const PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS: CompactPkeParameters = CompactPkeParameters {
    name: "V1_8_PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128",
    lwe_dimension: LweDimension(2048),
    noise: NoiseDistribution::TUniform { bound_log2: 17 },
    message_modulus: 4,
    carry_modulus: 4,
    casting_base_log: DecompositionBaseLog(4),
    casting_level: DecompositionLevelCount(4),
    security: SecurityLevel::Secure {
        bits: 128,
        source: "TFHE-rs 1.8 documentation (\"Security and cryptography\"): default parameter \
                 sets, the compact public-key ones included, guarantee 128-bit security, \
                 estimated with the lattice estimator",
    },
    source: "tfhe 1.8.2, shortint/parameters/v1_8/compact_public_key_only/p_fail_2_minus_128/\
             ks_pbs.rs and v1_8/key_switching/p_fail_2_minus_128/ks_pbs.rs",
};

/// The compact parameters for [`crate::parameters::TEST_PARAMS_INSECURE`] (logic tests only:
/// no security).
pub const TEST_PKE_PARAMS_INSECURE: CompactPkeParameters = CompactPkeParameters {
    name: "TEST_PKE_PARAMS_INSECURE",
    lwe_dimension: LweDimension(512),
    noise: NoiseDistribution::TUniform { bound_log2: 17 },
    message_modulus: 4,
    carry_modulus: 4,
    casting_base_log: DecompositionBaseLog(3),
    casting_level: DecompositionLevelCount(5),
    security: SecurityLevel::Insecure {
        reason: "a 512-dimensional compact key: for tests only",
    },
    source: "glovebox: a small compact key for tests",
};

/// The compact parameters paired with a compute set: [`PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS`]
/// with [`crate::parameters::PARAM_MESSAGE_2_CARRY_2_KS_PBS`] (as TFHE-rs 1.8 pairs them),
/// [`TEST_PKE_PARAMS_INSECURE`] with [`crate::parameters::TEST_PARAMS_INSECURE`]; any other
/// set has none (a typed error).
pub fn compact_parameters_for(params: &Parameters) -> Result<&'static CompactPkeParameters> {
    use crate::parameters::{PARAM_MESSAGE_2_CARRY_2_KS_PBS, TEST_PARAMS_INSECURE};
    let f = params.fingerprint();
    if f == PARAM_MESSAGE_2_CARRY_2_KS_PBS.fingerprint() {
        Ok(&PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS)
    } else if f == TEST_PARAMS_INSECURE.fingerprint() {
        Ok(&TEST_PKE_PARAMS_INSECURE)
    } else {
        Err(Error::InvalidParameters(format!(
            "{}: no compact public-key parameters are paired with this set",
            params.name
        )))
    }
}

/// The clinic's compact secret key (a binary LWE key of dimension n), bound to one client key
/// (the one its lists expand under). Never leaves the clinic.
pub struct CompactPrivateKey {
    key: LweSecretKey,
    params: CompactPkeParameters,
    /// The compute set of the client key it is bound to.
    compute: Parameters,
    key_id: u64,
}

impl std::fmt::Debug for CompactPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CompactPrivateKey {{ params: {}, key_id: {:#x}, .. }}",
            self.params.name, self.key_id
        )
    }
}

fn check_pair(params: &CompactPkeParameters, p: &Parameters) -> Result<()> {
    if params.message_modulus != p.message_modulus || params.carry_modulus != p.carry_modulus {
        return Err(Error::InvalidParameters(format!(
            "compact parameters {} encode {} x {} values; the client key's set {} encodes {} x {}",
            params.name,
            params.message_modulus,
            params.carry_modulus,
            p.name,
            p.message_modulus,
            p.carry_modulus
        )));
    }
    if p.ks_output_modulus_log != 64 {
        return Err(Error::InvalidParameters(format!(
            "{}: the cast keyswitches onto the native torus; this set's keyswitch outputs 2^{}",
            p.name, p.ks_output_modulus_log
        )));
    }
    Ok(())
}

impl CompactPrivateKey {
    /// A fresh key for `client`, of the compact parameters paired with its set
    /// ([`compact_parameters_for`]), from the operating system's entropy.
    pub fn new(client: &ClientKey) -> Result<Self> {
        let params = compact_parameters_for(client.parameters())?;
        Self::with_generator(client, params, &mut CsprngGenerator::from_os_entropy())
    }

    /// A key for `client` of explicit compact parameters, from an explicit generator (seeded
    /// generators are for tests only).
    pub fn with_generator(
        client: &ClientKey,
        params: &CompactPkeParameters,
        generator: &mut CsprngGenerator,
    ) -> Result<Self> {
        let n = params.lwe_dimension.0;
        if n == 0 || !n.is_power_of_two() {
            return Err(Error::InvalidParameters(format!(
                "{}: compact dimension {n} is not a power of two",
                params.name
            )));
        }
        let key = LweSecretKey::generate(params.lwe_dimension, generator);
        Self::from_secret_key(key, params, client)
    }

    /// A compact key for `client` from an existing secret key (e.g. TFHE-rs's
    /// `CompactPrivateKey`, through [`crate::interop::lwe_secret_key_from_tfhe`]).
    pub fn from_secret_key(
        key: LweSecretKey,
        params: &CompactPkeParameters,
        client: &ClientKey,
    ) -> Result<Self> {
        Self::bound(key, params, client.parameters(), client.key_id())
    }

    /// The key read back from its owner's files: bound to client key `key_id` of the set
    /// `compute`, of that set's paired compact parameters.
    pub fn from_stored_key(key: LweSecretKey, compute: &Parameters, key_id: u64) -> Result<Self> {
        Self::bound(key, compact_parameters_for(compute)?, compute, key_id)
    }

    fn bound(
        key: LweSecretKey,
        params: &CompactPkeParameters,
        compute: &Parameters,
        key_id: u64,
    ) -> Result<Self> {
        check_pair(params, compute)?;
        check_dim(
            "compact secret key dimension",
            params.lwe_dimension.0,
            key.lwe_dimension().0,
        )?;
        Ok(Self {
            key,
            params: *params,
            compute: *compute,
            key_id,
        })
    }

    pub fn parameters(&self) -> &CompactPkeParameters {
        &self.params
    }

    /// The client key it is bound to.
    pub fn key_id(&self) -> u64 {
        self.key_id
    }

    /// The fingerprint of the bound client key's set.
    pub fn compute_fingerprint(&self) -> u64 {
        self.compute.fingerprint()
    }

    /// The secret key (for the owner's files: [`crate::serialization`]).
    pub fn secret_key(&self) -> &LweSecretKey {
        &self.key
    }

    /// The public key devices encrypt with (its lists expand under the bound client key).
    pub fn public_key(&self) -> Result<CompactPublicKey> {
        let key = generate_lwe_compact_public_key(
            &self.key,
            self.params.noise,
            &mut CsprngGenerator::from_os_entropy(),
        )?;
        Ok(CompactPublicKey {
            key,
            params: self.params,
            compute_fingerprint: self.compute.fingerprint(),
            key_id: self.key_id,
        })
    }

    /// `client`, checked to be the bound client key.
    fn check_client<'c>(&self, client: &'c ClientKey) -> Result<&'c Parameters> {
        if client.key_id() != self.key_id {
            return Err(Error::KeyMismatch {
                expected: self.key_id,
                got: client.key_id(),
            });
        }
        Ok(client.parameters())
    }

    /// The server's key for the cast: a keyswitching key from this key to the bound client
    /// key's small key (`client`), with the client set's keyswitch noise.
    pub fn casting_key(&self, client: &ClientKey) -> Result<CastingKey> {
        let p = self.check_client(client)?;
        let ksk = generate_lwe_keyswitch_key(
            &self.key,
            client.lwe_secret_key(),
            self.params.casting_base_log,
            self.params.casting_level,
            64,
            p.lwe_noise,
            &mut CsprngGenerator::from_os_entropy(),
        )?;
        Ok(CastingKey {
            ksk,
            key_id: self.key_id,
        })
    }

    /// [`Self::casting_key`] compressed: every mask drawn from one public seed, so only the
    /// bodies travel (n · levels words: 64 KiB on the default set, against 57 MiB expanded).
    pub fn compressed_casting_key(&self, client: &ClientKey) -> Result<CompressedCastingKey> {
        let p = self.check_client(client)?;
        let mut g = CsprngGenerator::from_os_entropy();
        let seed = g.seed();
        let ksk = generate_seeded_lwe_keyswitch_key(
            &self.key,
            client.lwe_secret_key(),
            self.params.casting_base_log,
            self.params.casting_level,
            64,
            p.lwe_noise,
            seed,
            &mut g,
        )?;
        CompressedCastingKey::from_parts(ksk, p, self.key_id)
    }
}

/// What a device holds: encrypts, and can do nothing else.
#[derive(Clone, Debug, PartialEq)]
pub struct CompactPublicKey {
    key: LweCompactPublicKey,
    params: CompactPkeParameters,
    compute_fingerprint: u64,
    key_id: u64,
}

impl CompactPublicKey {
    /// A public key from its parts (e.g. read back from storage): of the compact parameters
    /// paired with `compute`, for client key `key_id`.
    pub fn from_parts(key: LweCompactPublicKey, compute: &Parameters, key_id: u64) -> Result<Self> {
        let params = compact_parameters_for(compute)?;
        check_dim(
            "compact public key dimension",
            params.lwe_dimension.0,
            key.lwe_dimension().0,
        )?;
        Ok(Self {
            key,
            params: *params,
            compute_fingerprint: compute.fingerprint(),
            key_id,
        })
    }

    pub fn key(&self) -> &LweCompactPublicKey {
        &self.key
    }

    pub fn parameters(&self) -> &CompactPkeParameters {
        &self.params
    }

    /// The fingerprint of the compute set its lists expand in.
    pub fn compute_fingerprint(&self) -> u64 {
        self.compute_fingerprint
    }

    /// The client key its lists expand under.
    pub fn key_id(&self) -> u64 {
        self.key_id
    }

    /// Encrypts `messages` (each below the message modulus) as one compact list.
    pub fn encrypt(&self, messages: &[u64]) -> Result<CompactCiphertextList> {
        self.encrypt_with_generator(messages, &mut CsprngGenerator::from_os_entropy())
    }

    /// [`Self::encrypt`] from an explicit generator (seeded generators are for tests only).
    pub fn encrypt_with_generator(
        &self,
        messages: &[u64],
        generator: &mut CsprngGenerator,
    ) -> Result<CompactCiphertextList> {
        self.encrypt_below(messages, self.params.message_modulus, generator)
    }

    /// Encrypts `values` (each below message · carry modulus: two blocks `lo + hi · message`,
    /// TFHE-rs's packed lists) as one compact list: half the ciphertexts of [`Self::encrypt`]
    /// for the same blocks. Expanded, a value gives both blocks
    /// ([`ResidentServerKey::expand_compact_list`]), or feeds one table of the whole value
    /// (the vitals predicates' nibbles).
    pub fn encrypt_packed(&self, values: &[u64]) -> Result<CompactCiphertextList> {
        let bound = self.params.message_modulus * self.params.carry_modulus;
        self.encrypt_below(values, bound, &mut CsprngGenerator::from_os_entropy())
    }

    fn encrypt_below(
        &self,
        messages: &[u64],
        modulus: u64,
        generator: &mut CsprngGenerator,
    ) -> Result<CompactCiphertextList> {
        if let Some(&m) = messages.iter().find(|&&m| m >= modulus) {
            return Err(Error::MessageOutOfRange {
                message: m,
                modulus,
            });
        }
        // TFHE-rs's shortint encoding with a padding bit: Δ = 2^63 / (message · carry).
        let delta = (1u64 << 63) / (self.params.message_modulus * self.params.carry_modulus);
        let plaintexts: Vec<u64> = messages.iter().map(|&m| m * delta).collect();
        let list = encrypt_lwe_compact_ciphertext_list(
            &self.key,
            &plaintexts,
            self.params.noise,
            self.params.noise,
            generator,
        )?;
        Ok(CompactCiphertextList {
            list,
            key_id: self.key_id,
            message_modulus: modulus,
            compute_fingerprint: self.compute_fingerprint,
        })
    }
}

/// Several encrypted values sharing masks: what a device uploads.
#[derive(Clone, Debug, PartialEq)]
pub struct CompactCiphertextList {
    pub list: LweCompactCiphertextList,
    /// The client key the list expands under.
    pub key_id: u64,
    /// The values' bound (exclusive): the message modulus, or message · carry for a packed
    /// list ([`CompactPublicKey::encrypt_packed`]).
    pub message_modulus: u64,
    /// The fingerprint of the compute set it expands in.
    pub compute_fingerprint: u64,
}

/// One value of a compact list, expanded: an LWE ciphertext of the compact key's dimension
/// under the compact secret key. Only a keyswitch with the casting key reads it (it is not a
/// ciphertext under the client key); the host driver's `submit_cast` and
/// [`ResidentServerKey::expand_compact_list`] take it there.
#[derive(Clone, Debug, PartialEq)]
pub struct CompactCiphertext {
    ct: LweCiphertext,
    key_id: u64,
    bound: u64,
}

impl CompactCiphertext {
    /// The client key its list expands under.
    pub fn key_id(&self) -> u64 {
        self.key_id
    }

    /// Its value's bound (exclusive).
    pub fn bound(&self) -> u64 {
        self.bound
    }

    pub fn lwe(&self) -> &LweCiphertext {
        &self.ct
    }

    /// The words as the batched keyswitch's input under `params`: a [`Ciphertext`] in form
    /// only (its dimension is the compact key's, k N on the paired sets), for a keyswitch with
    /// the casting key and nothing else.
    pub fn into_keyswitch_input(self, params: &Parameters) -> Ciphertext {
        Ciphertext {
            ct: self.ct,
            parameters_fingerprint: params.fingerprint(),
            key_id: self.key_id,
        }
    }
}

impl CompactCiphertextList {
    /// A list from its parts (e.g. TFHE-rs's, through
    /// [`crate::interop::lwe_compact_ciphertext_list_from_tfhe`]): of the compact parameters
    /// paired with `compute`, for client key `key_id`, its values below `bound` (the message
    /// modulus, or message · carry for a packed list).
    pub fn from_parts(
        list: LweCompactCiphertextList,
        compute: &Parameters,
        key_id: u64,
        bound: u64,
    ) -> Result<Self> {
        let pke = compact_parameters_for(compute)?;
        check_dim(
            "compact list dimension",
            pke.lwe_dimension.0,
            list.lwe_dimension().0,
        )?;
        let (plain, packed) = (
            compute.message_modulus,
            compute.message_modulus * compute.carry_modulus,
        );
        if bound != plain && bound != packed {
            return Err(Error::InvalidParameters(format!(
                "compact list values below {bound}; {} encodes below {plain} or {packed} (packed)",
                compute.name
            )));
        }
        if list.count() == 0 {
            return Err(Error::MalformedBytes("an empty compact list".into()));
        }
        Ok(Self {
            list,
            key_id,
            message_modulus: bound,
            compute_fingerprint: compute.fingerprint(),
        })
    }

    /// The list's values, each an LWE under the compact key (a mask rotation each: no
    /// bootstrap, no keyswitch yet).
    pub fn expand(&self) -> Result<Vec<CompactCiphertext>> {
        Ok(expand_lwe_compact_ciphertext_list(&self.list)?
            .into_iter()
            .map(|ct| CompactCiphertext {
                ct,
                key_id: self.key_id,
                bound: self.message_modulus,
            })
            .collect())
    }

    /// Values in the list.
    pub fn len(&self) -> usize {
        self.list.count()
    }

    pub fn is_empty(&self) -> bool {
        self.list.count() == 0
    }

    /// Bytes of its words (what travels, before framing).
    pub fn size_bytes(&self) -> usize {
        self.list.as_slice().len() * 8
    }
}

/// The server's key for expanding compact lists of one client key.
#[derive(Clone, Debug, PartialEq)]
pub struct CastingKey {
    ksk: LweKeyswitchKey,
    key_id: u64,
}

impl CastingKey {
    /// A casting key from its parts (e.g. read back from storage).
    pub fn from_parts(ksk: LweKeyswitchKey, key_id: u64) -> Self {
        Self { ksk, key_id }
    }

    pub fn keyswitch_key(&self) -> &LweKeyswitchKey {
        &self.ksk
    }

    pub fn key_id(&self) -> u64 {
        self.key_id
    }

    /// The key on `backend`, for [`ResidentServerKey::expand_compact_list`].
    pub fn upload<'a>(&'a self, backend: &'a dyn Backend) -> Result<ResidentCastingKey<'a>> {
        Ok(ResidentCastingKey {
            handle: backend.upload_keyswitch_key(&self.ksk)?,
            key: self,
        })
    }
}

/// A [`CastingKey`] compressed: its masks from one public seed (what a clinic uploads).
#[derive(Clone, Debug, PartialEq)]
pub struct CompressedCastingKey {
    ksk: SeededLweKeyswitchKey,
    compute_fingerprint: u64,
    key_id: u64,
}

impl CompressedCastingKey {
    /// A compressed key from its parts, checked against the compute set `params` and its
    /// paired compact parameters ([`compact_parameters_for`]): from the compact dimension
    /// into the set's small key, at the pair's decomposition, onto the native torus.
    pub fn from_parts(
        ksk: SeededLweKeyswitchKey,
        params: &Parameters,
        key_id: u64,
    ) -> Result<Self> {
        let pke = compact_parameters_for(params)?;
        let shape = (
            ksk.input_lwe_dimension().0,
            ksk.output_lwe_dimension().0,
            ksk.decomposition_base_log().0,
            ksk.decomposition_level_count().0,
            ksk.output_modulus_log(),
        );
        let want = (
            pke.lwe_dimension.0,
            params.lwe_dimension.0,
            pke.casting_base_log.0,
            pke.casting_level.0,
            64,
        );
        if shape != want {
            return Err(Error::InvalidParameters(format!(
                "casting key of shape (input, output, base log, levels, modulus log) {shape:?}; \
                 {} with {} needs {want:?}",
                params.name, pke.name
            )));
        }
        Ok(Self {
            ksk,
            compute_fingerprint: params.fingerprint(),
            key_id,
        })
    }

    pub fn keyswitch_key(&self) -> &SeededLweKeyswitchKey {
        &self.ksk
    }

    pub fn key_id(&self) -> u64 {
        self.key_id
    }

    /// The fingerprint of the compute set it casts into.
    pub fn compute_fingerprint(&self) -> u64 {
        self.compute_fingerprint
    }

    /// The key with its masks regenerated from the seed.
    pub fn expand(&self) -> Result<CastingKey> {
        Ok(CastingKey {
            ksk: self.ksk.decompress()?,
            key_id: self.key_id,
        })
    }
}

/// A casting key resident on a backend.
pub struct ResidentCastingKey<'a> {
    handle: KeyswitchKeyHandle,
    key: &'a CastingKey,
}

impl ResidentServerKey<'_> {
    /// Expands `list` into ciphertexts under the client key: each value keyswitched with the
    /// casting key and bootstrapped through `x mod message_modulus` (so it leaves with the
    /// noise and the degree of a bootstrap's output), batched on the backend. A packed list
    /// gives two blocks a value, low then high.
    pub fn expand_compact_list(
        &self,
        casting: &ResidentCastingKey,
        list: &CompactCiphertextList,
    ) -> Result<Vec<Ciphertext>> {
        let sk = self.server_key();
        let params = sk.parameters();
        if list.key_id != sk.key_id() || casting.key.key_id != sk.key_id() {
            let got = if list.key_id != sk.key_id() {
                list.key_id
            } else {
                casting.key.key_id
            };
            return Err(Error::KeyMismatch {
                expected: sk.key_id(),
                got,
            });
        }
        super::check_fingerprint(params, list.compute_fingerprint)?;
        let cast_in = casting.key.ksk.input_lwe_dimension();
        check_dim(
            "compact list dimension against the casting key's input",
            cast_in.0,
            list.list.lwe_dimension().0,
        )?;
        let big = params.glwe_dimension.0 * params.polynomial_size.0;
        if cast_in.0 != big {
            return Err(Error::InvalidParameters(format!(
                "casting from dimension {} into {}: the batched path keyswitches from k N = {big}",
                cast_in.0, params.name
            )));
        }
        // A plain list gives one block a value (`x mod message`); a packed one two, low then
        // high (`x mod message`, `x / message`), one bootstrap each, as TFHE-rs expands them.
        let msg = params.message_modulus;
        let packed = list.message_modulus > msg;
        let low: LookupTable = sk.generate_lookup_table(|x| x % msg);
        let high: LookupTable = sk.generate_lookup_table(|x| (x / msg) % msg);
        let values = list.expand()?;
        let mut inputs = Vec::with_capacity(values.len() * (1 + packed as usize));
        let mut tables: Vec<&dyn BootstrapTable> = Vec::with_capacity(inputs.capacity());
        for v in values {
            let ct = v.into_keyswitch_input(params);
            if packed {
                inputs.push(ct.clone());
                tables.push(&low);
                tables.push(&high);
            } else {
                tables.push(&low);
            }
            inputs.push(ct);
        }
        let refs: Vec<&Ciphertext> = inputs.iter().collect();
        let outs = keyswitch_bootstrap_batch(
            self.backend(),
            &casting.handle,
            self.bootstrap_key_handle(),
            params,
            sk.key_id(),
            &refs,
            &tables,
        )?;
        Ok(outs.into_iter().map(|mut o| o.swap_remove(0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use crate::parameters::TEST_PARAMS_INSECURE;

    /// A packed list expands to two blocks a value, low then high, through a compressed
    /// casting key read back from its seed; a plain list to one block a value.
    #[test]
    fn packed_lists_expand_to_both_blocks_through_a_compressed_casting_key() {
        let client = ClientKey::new(&TEST_PARAMS_INSECURE).unwrap();
        let private = CompactPrivateKey::new(&client).unwrap();
        let public = private.public_key().unwrap();
        let casting = private
            .compressed_casting_key(&client)
            .unwrap()
            .expand()
            .unwrap();
        let server = client.server_key().unwrap();
        let cpu = CpuBackend::new();
        let resident = server.upload(&cpu).unwrap();
        let handle = casting.upload(&cpu).unwrap();
        let values = [0u64, 7, 9, 15, 4];
        let packed = public.encrypt_packed(&values).unwrap();
        assert_eq!(packed.len(), 5);
        let blocks = resident.expand_compact_list(&handle, &packed).unwrap();
        let got: Vec<u64> = blocks.iter().map(|c| client.decrypt(c).unwrap()).collect();
        let want: Vec<u64> = values.iter().flat_map(|v| [v % 4, v / 4]).collect();
        assert_eq!(got, want);
        assert!(public.encrypt_packed(&[16]).is_err());
        assert!(matches!(
            public.encrypt(&[4]),
            Err(Error::MessageOutOfRange { .. })
        ));
        let plain = public.encrypt(&[3, 1]).unwrap();
        let got: Vec<u64> = resident
            .expand_compact_list(&handle, &plain)
            .unwrap()
            .iter()
            .map(|c| client.decrypt(c).unwrap())
            .collect();
        assert_eq!(got, [3, 1]);
    }

    /// The private key is bound to one client key: a casting key for another is a typed
    /// error, and a list claiming another compute set is refused.
    #[test]
    fn keys_and_lists_are_bound_to_their_client_key_and_set() {
        let client = ClientKey::new(&TEST_PARAMS_INSECURE).unwrap();
        let other = ClientKey::new(&TEST_PARAMS_INSECURE).unwrap();
        let private = CompactPrivateKey::new(&client).unwrap();
        assert!(matches!(
            private.casting_key(&other),
            Err(Error::KeyMismatch { .. })
        ));
        assert!(matches!(
            private.compressed_casting_key(&other),
            Err(Error::KeyMismatch { .. })
        ));
        let hpu = crate::parameters::V1_8_HPU_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128;
        assert!(compact_parameters_for(&hpu).is_err());
        let server = client.server_key().unwrap();
        let cpu = CpuBackend::new();
        let resident = server.upload(&cpu).unwrap();
        let casting = private.casting_key(&client).unwrap();
        let handle = casting.upload(&cpu).unwrap();
        let mut list = private.public_key().unwrap().encrypt(&[1]).unwrap();
        list.compute_fingerprint ^= 1;
        assert!(matches!(
            resident.expand_compact_list(&handle, &list),
            Err(Error::ParameterMismatch { .. })
        ));
    }
}
