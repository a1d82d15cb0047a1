//! The client/server API: short integers (message and carry bits) under one parameter set,
//! like TFHE-rs's `shortint` with `EncryptionKeyChoice::Big`.
//!
//! The [`ClientKey`] holds the secret keys and stays with the data owner; the [`ServerKey`]
//! holds only public evaluation keys (bootstrapping and keyswitch keys) and has no path to a
//! secret key. Ciphertexts carry the fingerprint of their parameters and the id of their
//! client key, so a server key refuses a ciphertext made under anything else.
//!
//! ```
//! use glovebox_engine::prelude::*;
//! let client = ClientKey::new(&TEST_PARAMS_INSECURE).unwrap();
//! let server = client.server_key().unwrap();
//! let square = server.generate_lookup_table(|x| x * x % 4);
//! let ct = client.encrypt(3).unwrap();
//! let out = server.apply_lookup_table(&ct, &square).unwrap();
//! assert_eq!(client.decrypt(&out).unwrap(), 1);
//! ```

use crate::algorithms::*;
use crate::backend::{Backend, BootstrapKeyHandle, KeyswitchKeyHandle};
use crate::commons::random::CsprngGenerator;
use crate::entities::*;
use crate::error::{Error, Result};
use crate::parameters::Parameters;
use std::sync::OnceLock;

/// A ciphertext of a short integer, under the big (GLWE-as-LWE) key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ciphertext {
    pub ct: LweCiphertext,
    /// [`Parameters::fingerprint`] of the parameters it was made under.
    pub parameters_fingerprint: u64,
    /// The id of the client key it is encrypted under.
    pub key_id: u64,
}

/// A lookup table for one parameter set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupTable {
    pub accumulator: GlweCiphertext,
    pub parameters_fingerprint: u64,
    /// Coefficients sampled after the blind rotation, one output ciphertext each: `[0]` for
    /// an ordinary table, more for a table that holds several functions
    /// ([`ServerKey::generate_many_lookup_table`]). Single-output paths use the first.
    pub outputs: Vec<usize>,
}

/// The secret side: encrypts, decrypts, and makes server keys.
pub struct ClientKey {
    params: Parameters,
    /// The small key n (keyswitch output, blind-rotation input).
    lwe_secret_key: LweSecretKey,
    /// The GLWE key; read as an LWE key of dimension k·N it encrypts ciphertexts.
    glwe_secret_key: GlweSecretKey,
    key_id: u64,
    generator: std::sync::Mutex<CsprngGenerator>,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ClientKey {{ params: {}, key_id: {:#018x}, .. }}",
            self.params.name, self.key_id
        )
    }
}

impl ClientKey {
    /// New secret keys from the operating system's entropy.
    pub fn new(params: &Parameters) -> Result<Self> {
        Self::with_generator(params, CsprngGenerator::from_os_entropy())
    }

    /// New secret keys from an explicit generator (seeded generators are for tests only).
    pub fn with_generator(params: &Parameters, mut generator: CsprngGenerator) -> Result<Self> {
        params.validate()?;
        let lwe_secret_key = LweSecretKey::generate(params.lwe_dimension, &mut generator);
        let glwe_secret_key = GlweSecretKey::generate(
            params.glwe_dimension,
            params.polynomial_size,
            &mut generator,
        );
        Self::from_secret_keys(params, lwe_secret_key, glwe_secret_key, generator)
    }

    /// A client key from existing secret keys (e.g. converted from TFHE-rs).
    pub fn from_secret_keys(
        params: &Parameters,
        lwe_secret_key: LweSecretKey,
        glwe_secret_key: GlweSecretKey,
        mut generator: CsprngGenerator,
    ) -> Result<Self> {
        params.validate()?;
        crate::error::check_dim(
            "LWE secret key dimension",
            params.lwe_dimension.0,
            lwe_secret_key.lwe_dimension().0,
        )?;
        crate::error::check_dim(
            "GLWE secret key dimension",
            params.glwe_dimension.0,
            glwe_secret_key.glwe_dimension().0,
        )?;
        crate::error::check_dim(
            "GLWE secret key polynomial size",
            params.polynomial_size.0,
            glwe_secret_key.polynomial_size().0,
        )?;
        let key_id = generator.uniform_u64();
        Ok(Self {
            params: *params,
            lwe_secret_key,
            glwe_secret_key,
            key_id,
            generator: std::sync::Mutex::new(generator),
        })
    }

    pub fn parameters(&self) -> &Parameters {
        &self.params
    }
    pub fn key_id(&self) -> u64 {
        self.key_id
    }
    pub fn lwe_secret_key(&self) -> &LweSecretKey {
        &self.lwe_secret_key
    }
    pub fn glwe_secret_key(&self) -> &GlweSecretKey {
        &self.glwe_secret_key
    }

    fn with_generator_locked<T>(&self, f: impl FnOnce(&mut CsprngGenerator) -> T) -> T {
        let mut g = self.generator.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    /// Encrypts `message ∈ [0, message_modulus · carry_modulus)` under the big key.
    pub fn encrypt(&self, message: u64) -> Result<Ciphertext> {
        let space = self.params.message_modulus * self.params.carry_modulus;
        if message >= space {
            return Err(Error::MessageOutOfRange {
                message,
                modulus: space,
            });
        }
        let big = self.glwe_secret_key.as_lwe_secret_key();
        let ct = self.with_generator_locked(|g| {
            encrypt_lwe_ciphertext(
                &big,
                message * self.params.delta(),
                self.params.glwe_noise,
                64,
                g,
            )
        });
        Ok(self.wrap(ct))
    }

    /// Wraps a raw LWE ciphertext under this key's big key (e.g. a converted TFHE-rs one).
    pub fn wrap(&self, ct: LweCiphertext) -> Ciphertext {
        Ciphertext {
            ct,
            parameters_fingerprint: self.params.fingerprint(),
            key_id: self.key_id,
        }
    }

    fn check(&self, ct: &Ciphertext) -> Result<()> {
        check_ciphertext(&self.params, self.key_id, ct)
    }

    /// Decrypts message and carry: the phase rounded to a multiple of Δ, in
    /// `[0, message_modulus · carry_modulus)`.
    pub fn decrypt_message_and_carry(&self, ct: &Ciphertext) -> Result<u64> {
        self.check(ct)?;
        let phase = decrypt_lwe_ciphertext(&self.glwe_secret_key.as_lwe_secret_key(), &ct.ct)?;
        let delta = self.params.delta();
        let space = self.params.message_modulus * self.params.carry_modulus;
        Ok((phase.wrapping_add(delta / 2) / delta) % space)
    }

    /// Decrypts the message bits (message and carry, reduced mod `message_modulus`).
    pub fn decrypt(&self, ct: &Ciphertext) -> Result<u64> {
        Ok(self.decrypt_message_and_carry(ct)? % self.params.message_modulus)
    }

    /// The signed error of `ct` against the encoding of `expected`, in torus units (2^64).
    pub fn decryption_error(&self, ct: &Ciphertext, expected: u64) -> Result<i64> {
        self.check(ct)?;
        let phase = decrypt_lwe_ciphertext(&self.glwe_secret_key.as_lwe_secret_key(), &ct.ct)?;
        Ok(phase.wrapping_sub(expected.wrapping_mul(self.params.delta())) as i64)
    }

    /// Makes the evaluation keys. `progress(done, total)` is called as GGSWs are finished.
    pub fn server_key_with_progress(
        &self,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ServerKey> {
        let p = &self.params;
        let (mut g_bsk, mut g_ksk) = self.with_generator_locked(|g| (g.fork(), g.fork()));
        let total = p.lwe_dimension.0;
        let bsk = generate_lwe_bootstrap_key(
            &self.lwe_secret_key,
            &self.glwe_secret_key,
            p.pbs_base_log,
            p.pbs_level,
            p.glwe_noise,
            &mut g_bsk,
            &|d| progress(d, total),
        )?;
        let ksk = generate_lwe_keyswitch_key(
            &self.glwe_secret_key.as_lwe_secret_key(),
            &self.lwe_secret_key,
            p.ks_base_log,
            p.ks_level,
            p.ks_output_modulus_log,
            p.lwe_noise,
            &mut g_ksk,
        )?;
        ServerKey::from_keys(p, self.key_id, bsk, ksk)
    }

    /// Makes the evaluation keys.
    pub fn server_key(&self) -> Result<ServerKey> {
        self.server_key_with_progress(&|_, _| {})
    }
}

fn check_ciphertext(params: &Parameters, key_id: u64, ct: &Ciphertext) -> Result<()> {
    if ct.parameters_fingerprint != params.fingerprint() {
        let got = crate::parameters::ALL
            .iter()
            .find(|p| p.fingerprint() == ct.parameters_fingerprint)
            .map(|p| p.name.to_string())
            .unwrap_or_else(|| format!("unknown parameters {:#018x}", ct.parameters_fingerprint));
        return Err(Error::ParameterMismatch {
            expected: params.name.into(),
            got,
        });
    }
    if ct.key_id != key_id {
        return Err(Error::KeyMismatch {
            expected: key_id,
            got: ct.key_id,
        });
    }
    crate::error::check_dim(
        "ciphertext LWE dimension",
        params.big_lwe_dimension().0,
        ct.ct.lwe_dimension().0,
    )
}

/// The public evaluation keys: all the server holds.
pub struct ServerKey {
    params: Parameters,
    key_id: u64,
    bootstrap_key: LweBootstrapKey,
    keyswitch_key: LweKeyswitchKey,
    ntt_bootstrap_key: OnceLock<NttLweBootstrapKey>,
}

impl ServerKey {
    /// Assembles a server key from evaluation keys (e.g. converted from TFHE-rs), checking
    /// every dimension against the parameters.
    pub fn from_keys(
        params: &Parameters,
        key_id: u64,
        bootstrap_key: LweBootstrapKey,
        keyswitch_key: LweKeyswitchKey,
    ) -> Result<Self> {
        use crate::error::check_dim;
        params.validate()?;
        check_dim(
            "bootstrap key input dimension",
            params.lwe_dimension.0,
            bootstrap_key.input_lwe_dimension().0,
        )?;
        check_dim(
            "bootstrap key GLWE size",
            params.glwe_dimension.0 + 1,
            bootstrap_key.glwe_size().0,
        )?;
        check_dim(
            "bootstrap key polynomial size",
            params.polynomial_size.0,
            bootstrap_key.polynomial_size().0,
        )?;
        check_dim(
            "bootstrap key base log",
            params.pbs_base_log.0,
            bootstrap_key.decomposition_base_log().0,
        )?;
        check_dim(
            "bootstrap key level count",
            params.pbs_level.0,
            bootstrap_key.decomposition_level_count().0,
        )?;
        check_dim(
            "keyswitch key input dimension",
            params.big_lwe_dimension().0,
            keyswitch_key.input_lwe_dimension().0,
        )?;
        check_dim(
            "keyswitch key output dimension",
            params.lwe_dimension.0,
            keyswitch_key.output_lwe_dimension().0,
        )?;
        check_dim(
            "keyswitch key base log",
            params.ks_base_log.0,
            keyswitch_key.decomposition_base_log().0,
        )?;
        check_dim(
            "keyswitch key level count",
            params.ks_level.0,
            keyswitch_key.decomposition_level_count().0,
        )?;
        Ok(Self {
            params: *params,
            key_id,
            bootstrap_key,
            keyswitch_key,
            ntt_bootstrap_key: OnceLock::new(),
        })
    }

    pub fn parameters(&self) -> &Parameters {
        &self.params
    }
    pub fn key_id(&self) -> u64 {
        self.key_id
    }
    pub fn bootstrap_key(&self) -> &LweBootstrapKey {
        &self.bootstrap_key
    }
    pub fn keyswitch_key(&self) -> &LweKeyswitchKey {
        &self.keyswitch_key
    }

    /// The bootstrapping key in the NTT domain (converted on first use).
    pub fn ntt_bootstrap_key(&self) -> Result<&NttLweBootstrapKey> {
        if let Some(k) = self.ntt_bootstrap_key.get() {
            return Ok(k);
        }
        let k = convert_standard_lwe_bootstrap_key_to_ntt(&self.bootstrap_key)?;
        Ok(self.ntt_bootstrap_key.get_or_init(|| k))
    }

    /// The lookup table of `f` on `[0, message_modulus · carry_modulus)`.
    pub fn generate_lookup_table(&self, f: impl Fn(u64) -> u64) -> LookupTable {
        let p = &self.params;
        LookupTable {
            accumulator: generate_lookup_table(
                p.glwe_dimension.to_glwe_size(),
                p.polynomial_size,
                p.message_modulus * p.carry_modulus,
                p.delta(),
                f,
            ),
            parameters_fingerprint: p.fingerprint(),
            outputs: vec![0],
        }
    }

    /// One table that computes several functions in one blind rotation ("many-LUT"): with
    /// `c = fns.len()` functions the input must lie in `[0, M)`, `M = (message_modulus ·
    /// carry_modulus) / c`; box `j·M + v` holds `fns[j](v)`, and output `j` is sampled at
    /// coefficient `j·M·N/(message_modulus · carry_modulus)`. The noise margin per input is the
    /// same as an ordinary table's.
    ///
    /// ```
    /// use glovebox_engine::prelude::*;
    /// let client = ClientKey::new(&TEST_PARAMS_INSECURE)?;
    /// let server = client.server_key()?;
    /// let lut = server.generate_many_lookup_table(&[&|x| x % 4, &|x| (x >= 3) as u64])?;
    /// assert_eq!(lut.outputs, [0, 256]); // N = 512, 16 boxes of 32, M = 8
    /// # Ok::<(), glovebox_engine::Error>(())
    /// ```
    pub fn generate_many_lookup_table(&self, fns: &[&dyn Fn(u64) -> u64]) -> Result<LookupTable> {
        let p = &self.params;
        let space = p.message_modulus * p.carry_modulus;
        let count = fns.len() as u64;
        if count == 0 || count > space {
            return Err(Error::InvalidParameters(format!(
                "a many-function table holds 1..={space} functions, got {count}"
            )));
        }
        let m = space / count;
        let box_size = p.polynomial_size.0 / space as usize;
        Ok(LookupTable {
            accumulator: generate_lookup_table(
                p.glwe_dimension.to_glwe_size(),
                p.polynomial_size,
                space,
                p.delta(),
                |b| {
                    let (j, v) = (b / m, b % m);
                    if j < count {
                        fns[j as usize](v)
                    } else {
                        0
                    }
                },
            ),
            parameters_fingerprint: p.fingerprint(),
            outputs: (0..count as usize)
                .map(|j| j * m as usize * box_size)
                .collect(),
        })
    }

    fn check_lut(&self, lut: &LookupTable) -> Result<()> {
        if lut.parameters_fingerprint != self.params.fingerprint() {
            return Err(Error::ParameterMismatch {
                expected: self.params.name.into(),
                got: format!("lookup table for {:#018x}", lut.parameters_fingerprint),
            });
        }
        Ok(())
    }

    /// Keyswitch then PBS: `f(m)` from an encryption of `m`.
    pub fn apply_lookup_table(&self, ct: &Ciphertext, lut: &LookupTable) -> Result<Ciphertext> {
        check_ciphertext(&self.params, self.key_id, ct)?;
        self.check_lut(lut)?;
        let out = keyswitch_then_bootstrap(
            &ct.ct,
            &lut.accumulator,
            &self.keyswitch_key,
            self.ntt_bootstrap_key()?,
            self.params.modulus_switch,
        )?;
        Ok(Ciphertext {
            ct: out,
            parameters_fingerprint: ct.parameters_fingerprint,
            key_id: self.key_id,
        })
    }

    /// Uploads the evaluation keys to a backend, once, for batched work.
    pub fn upload<'a>(&'a self, backend: &'a dyn Backend) -> Result<ResidentServerKey<'a>> {
        Ok(ResidentServerKey {
            server_key: self,
            backend,
            bsk: backend.upload_bootstrap_key(&self.bootstrap_key)?,
            ksk: backend.upload_keyswitch_key(&self.keyswitch_key)?,
        })
    }
}

/// A server key whose evaluation keys live on a backend.
pub struct ResidentServerKey<'a> {
    server_key: &'a ServerKey,
    backend: &'a dyn Backend,
    bsk: BootstrapKeyHandle,
    ksk: KeyswitchKeyHandle,
}

impl ResidentServerKey<'_> {
    pub fn server_key(&self) -> &ServerKey {
        self.server_key
    }
    pub fn backend(&self) -> &dyn Backend {
        self.backend
    }
    pub fn bootstrap_key_handle(&self) -> &BootstrapKeyHandle {
        &self.bsk
    }
    pub fn keyswitch_key_handle(&self) -> &KeyswitchKeyHandle {
        &self.ksk
    }

    /// Keyswitch + PBS of a batch on the backend: `cts[j]` through `luts[j]`.
    pub fn apply_lookup_table_batch(
        &self,
        cts: &[&Ciphertext],
        luts: &[&LookupTable],
    ) -> Result<Vec<Ciphertext>> {
        let sk = self.server_key;
        let p = &sk.params;
        crate::error::check_dim("lookup tables in the batch", cts.len(), luts.len())?;
        for (ct, lut) in cts.iter().zip(luts) {
            check_ciphertext(p, sk.key_id, ct)?;
            sk.check_lut(lut)?;
        }
        let big = p.big_lwe_dimension().0 + 1;
        let small = p.lwe_dimension.0 + 1;
        let mut inputs = Vec::with_capacity(cts.len() * big);
        for ct in cts {
            inputs.extend_from_slice(ct.ct.as_slice());
        }
        let mut switched = vec![0u64; cts.len() * small];
        self.backend
            .keyswitch_batch(&self.ksk, &inputs, &mut switched)?;
        let log_2n = p.polynomial_size.log2_2n();
        let mut msed = vec![0u64; cts.len() * small];
        for (m, s) in msed
            .chunks_exact_mut(small)
            .zip(switched.chunks_exact(small))
        {
            let lwe = LweCiphertext::from_container(s.to_vec())?;
            crate::algorithms::modulus_switch::lwe_modulus_switch_into(
                m,
                &lwe,
                log_2n,
                p.modulus_switch,
            );
        }
        let acc_size = (p.glwe_dimension.0 + 1) * p.polynomial_size.0;
        let mut accs = Vec::with_capacity(cts.len() * acc_size);
        for lut in luts {
            accs.extend_from_slice(lut.accumulator.as_slice());
        }
        self.backend
            .blind_rotate_batch(&self.bsk, &msed, &mut accs)?;
        let n = p.polynomial_size.0;
        accs.chunks_exact(acc_size)
            .map(|acc| {
                let mut out = vec![0u64; big];
                extract_lwe_sample_into(&mut out, acc, n);
                Ok(Ciphertext {
                    ct: LweCiphertext::from_container(out)?,
                    parameters_fingerprint: p.fingerprint(),
                    key_id: sk.key_id,
                })
            })
            .collect()
    }
}
