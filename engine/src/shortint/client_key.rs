//! The secret side: [`ClientKey`] encrypts, decrypts and makes server keys.

use super::{check_ciphertext, Ciphertext, CompressedServerKey, ServerKey};
use crate::algorithms::*;
use crate::commons::random::CsprngGenerator;
use crate::entities::*;
use crate::error::{Error, Result};
use crate::parameters::Parameters;

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
        Self::check_secret_keys(params, &lwe_secret_key, &glwe_secret_key)?;
        let key_id = generator.uniform_u64();
        Self::assemble(params, lwe_secret_key, glwe_secret_key, key_id, generator)
    }

    /// A client key read back from its owner's file ([`crate::serialization`]): the stored
    /// secret keys and key id, fresh encryption randomness from the operating system.
    pub(crate) fn from_stored_keys(
        params: &Parameters,
        lwe_secret_key: LweSecretKey,
        glwe_secret_key: GlweSecretKey,
        key_id: u64,
    ) -> Result<Self> {
        Self::check_secret_keys(params, &lwe_secret_key, &glwe_secret_key)?;
        Self::assemble(
            params,
            lwe_secret_key,
            glwe_secret_key,
            key_id,
            CsprngGenerator::from_os_entropy(),
        )
    }

    fn check_secret_keys(
        params: &Parameters,
        lwe_secret_key: &LweSecretKey,
        glwe_secret_key: &GlweSecretKey,
    ) -> Result<()> {
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
        Ok(())
    }

    fn assemble(
        params: &Parameters,
        lwe_secret_key: LweSecretKey,
        glwe_secret_key: GlweSecretKey,
        key_id: u64,
        generator: CsprngGenerator,
    ) -> Result<Self> {
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

    /// Makes the evaluation keys in their compressed form (masks from fresh public seeds,
    /// errors from this key's generator), to send to a server: about 30 MB on the default set
    /// against 120 MB expanded. `progress(done, total)` counts GGSWs.
    pub fn compressed_server_key_with_progress(
        &self,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<CompressedServerKey> {
        let p = &self.params;
        let (mut g_bsk, mut g_ksk, bsk_seed, ksk_seed) =
            self.with_generator_locked(|g| (g.fork(), g.fork(), g.seed(), g.seed()));
        let total = p.lwe_dimension.0;
        let bsk = generate_seeded_lwe_bootstrap_key(
            &self.lwe_secret_key,
            &self.glwe_secret_key,
            p.pbs_base_log,
            p.pbs_level,
            p.glwe_noise,
            bsk_seed,
            &mut g_bsk,
            &|d| progress(d, total),
        )?;
        let ksk = generate_seeded_lwe_keyswitch_key(
            &self.glwe_secret_key.as_lwe_secret_key(),
            &self.lwe_secret_key,
            p.ks_base_log,
            p.ks_level,
            p.ks_output_modulus_log,
            p.lwe_noise,
            ksk_seed,
            &mut g_ksk,
        )?;
        CompressedServerKey::from_keys(p, self.key_id, bsk, ksk)
    }

    /// [`Self::compressed_server_key_with_progress`] without progress.
    pub fn compressed_server_key(&self) -> Result<CompressedServerKey> {
        self.compressed_server_key_with_progress(&|_, _| {})
    }
}
