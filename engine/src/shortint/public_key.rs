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
//! let private = CompactPrivateKey::new(&TEST_PKE_PARAMS_INSECURE)?;
//! let public = private.public_key(&client)?;
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
use crate::algorithms::generate_lwe_keyswitch_key;
use crate::backend::{Backend, KeyswitchKeyHandle};
use crate::commons::dimensions::*;
use crate::commons::random::{CsprngGenerator, NoiseDistribution};
use crate::entities::{
    LweCompactCiphertextList, LweCompactPublicKey, LweKeyswitchKey, LweSecretKey,
};
use crate::error::{Error, Result};
use crate::parameters::SecurityLevel;

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

/// The clinic's compact secret key (a binary LWE key of dimension n). Never leaves the clinic.
pub struct CompactPrivateKey {
    key: LweSecretKey,
    params: CompactPkeParameters,
}

impl std::fmt::Debug for CompactPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CompactPrivateKey {{ params: {}, .. }}",
            self.params.name
        )
    }
}

fn check_pair(params: &CompactPkeParameters, client: &ClientKey) -> Result<()> {
    let p = client.parameters();
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
    /// A fresh key from the operating system's entropy.
    pub fn new(params: &CompactPkeParameters) -> Result<Self> {
        Self::with_generator(params, &mut CsprngGenerator::from_os_entropy())
    }

    /// A key from an explicit generator (seeded generators are for tests only).
    pub fn with_generator(
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
        Ok(Self {
            key: LweSecretKey::generate(params.lwe_dimension, generator),
            params: *params,
        })
    }

    pub fn parameters(&self) -> &CompactPkeParameters {
        &self.params
    }

    /// A compact key from an existing secret key (e.g. TFHE-rs's `CompactPrivateKey`, through
    /// [`crate::interop::lwe_secret_key_from_tfhe`]).
    pub fn from_secret_key(key: LweSecretKey, params: &CompactPkeParameters) -> Result<Self> {
        if key.lwe_dimension() != params.lwe_dimension {
            return Err(Error::DimensionMismatch {
                what: "compact secret key dimension",
                expected: params.lwe_dimension.0,
                got: key.lwe_dimension().0,
            });
        }
        Ok(Self {
            key,
            params: *params,
        })
    }

    /// The public key devices encrypt with, bound to `client`'s key (its ciphertexts expand
    /// into ciphertexts under that key).
    pub fn public_key(&self, client: &ClientKey) -> Result<CompactPublicKey> {
        check_pair(&self.params, client)?;
        let key = generate_lwe_compact_public_key(
            &self.key,
            self.params.noise,
            &mut CsprngGenerator::from_os_entropy(),
        )?;
        Ok(CompactPublicKey {
            key,
            params: self.params,
            key_id: client.key_id(),
        })
    }

    /// The server's key for the cast: a keyswitching key from this key to `client`'s small
    /// key, with the client set's keyswitch noise.
    pub fn casting_key(&self, client: &ClientKey) -> Result<CastingKey> {
        check_pair(&self.params, client)?;
        let p = client.parameters();
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
            key_id: client.key_id(),
        })
    }
}

/// What a device holds: encrypts, and can do nothing else.
#[derive(Clone, Debug, PartialEq)]
pub struct CompactPublicKey {
    key: LweCompactPublicKey,
    params: CompactPkeParameters,
    key_id: u64,
}

impl CompactPublicKey {
    /// A public key from its parts (e.g. read back from storage).
    pub fn from_parts(
        key: LweCompactPublicKey,
        params: CompactPkeParameters,
        key_id: u64,
    ) -> Result<Self> {
        if key.lwe_dimension() != params.lwe_dimension {
            return Err(Error::DimensionMismatch {
                what: "compact public key dimension",
                expected: params.lwe_dimension.0,
                got: key.lwe_dimension().0,
            });
        }
        Ok(Self {
            key,
            params,
            key_id,
        })
    }

    pub fn key(&self) -> &LweCompactPublicKey {
        &self.key
    }

    pub fn parameters(&self) -> &CompactPkeParameters {
        &self.params
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
        let modulus = self.params.message_modulus;
        if let Some(&m) = messages.iter().find(|&&m| m >= modulus) {
            return Err(Error::MessageOutOfRange {
                message: m,
                modulus,
            });
        }
        // TFHE-rs's shortint encoding with a padding bit: Δ = 2^63 / (message · carry).
        let delta = (1u64 << 63) / (modulus * self.params.carry_modulus);
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
        })
    }
}

/// Several encrypted values sharing masks: what a device uploads.
#[derive(Clone, Debug, PartialEq)]
pub struct CompactCiphertextList {
    pub list: LweCompactCiphertextList,
    /// The client key the list expands under.
    pub key_id: u64,
    /// The values' bound (exclusive): the cast keeps `x mod message_modulus`.
    pub message_modulus: u64,
}

impl CompactCiphertextList {
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

/// A casting key resident on a backend.
pub struct ResidentCastingKey<'a> {
    handle: KeyswitchKeyHandle,
    key: &'a CastingKey,
}

impl ResidentServerKey<'_> {
    /// Expands `list` into ciphertexts under the client key: each value keyswitched with the
    /// casting key and bootstrapped through `x mod message_modulus` (so it leaves with the
    /// noise and the degree of a bootstrap's output), batched on the backend.
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
        let cast_in = casting.key.ksk.input_lwe_dimension();
        if list.list.lwe_dimension() != cast_in {
            return Err(Error::DimensionMismatch {
                what: "compact list dimension against the casting key's input",
                expected: cast_in.0,
                got: list.list.lwe_dimension().0,
            });
        }
        let big = params.glwe_dimension.0 * params.polynomial_size.0;
        if cast_in.0 != big {
            return Err(Error::InvalidParameters(format!(
                "casting from dimension {} into {}: the batched path keyswitches from k N = {big}",
                cast_in.0, params.name
            )));
        }
        let modulus = list.message_modulus.min(params.message_modulus);
        let table: LookupTable = sk.generate_lookup_table(|x| x % modulus);
        let inputs: Vec<Ciphertext> = expand_lwe_compact_ciphertext_list(&list.list)?
            .into_iter()
            .map(|ct| Ciphertext {
                ct,
                parameters_fingerprint: params.fingerprint(),
                key_id: sk.key_id(),
            })
            .collect();
        let refs: Vec<&Ciphertext> = inputs.iter().collect();
        let tables: Vec<&dyn BootstrapTable> =
            refs.iter().map(|_| &table as &dyn BootstrapTable).collect();
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
