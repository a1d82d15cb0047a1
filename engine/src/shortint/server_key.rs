//! The server side: [`ServerKey`] holds only the public evaluation keys; uploaded to a
//! [`Backend`] it becomes a [`ResidentServerKey`] that bootstraps batches.

use super::batch::keyswitch_bootstrap_batch;
use super::{check_ciphertext, check_table, BootstrapTable, Ciphertext};
use super::{LookupTable, ManyLookupTable};
use crate::algorithms::*;
use crate::backend::{Backend, BootstrapKeyHandle, KeyswitchKeyHandle};
use crate::commons::dimensions::*;
use crate::entities::*;
use crate::error::{Error, Result};
use crate::parameters::Parameters;
use std::sync::OnceLock;

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
        check_key_shapes(
            params,
            (
                bootstrap_key.input_lwe_dimension(),
                bootstrap_key.glwe_size(),
                bootstrap_key.polynomial_size(),
                bootstrap_key.decomposition_base_log(),
                bootstrap_key.decomposition_level_count(),
            ),
            (
                keyswitch_key.input_lwe_dimension(),
                keyswitch_key.output_lwe_dimension(),
                keyswitch_key.decomposition_base_log(),
                keyswitch_key.decomposition_level_count(),
            ),
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
    pub fn generate_many_lookup_table(
        &self,
        fns: &[&dyn Fn(u64) -> u64],
    ) -> Result<ManyLookupTable> {
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
        Ok(ManyLookupTable {
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

    /// Keyswitch then PBS: `f(m)` from an encryption of `m`.
    pub fn apply_lookup_table(&self, ct: &Ciphertext, lut: &LookupTable) -> Result<Ciphertext> {
        check_ciphertext(&self.params, self.key_id, ct)?;
        check_table(&self.params, lut)?;
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

    /// Keyswitch then one PBS through a many-function table: `[f_0(m), f_1(m), …]` from an
    /// encryption of `m` (see [`ServerKey::generate_many_lookup_table`] for the input range).
    ///
    /// ```
    /// use glovebox_engine::prelude::*;
    /// let client = ClientKey::new(&TEST_PARAMS_INSECURE)?;
    /// let server = client.server_key()?;
    /// let lut = server.generate_many_lookup_table(&[&|x| x + 1, &|x| (x >= 5) as u64])?;
    /// let outs = server.apply_many_lookup_table(&client.encrypt(6)?, &lut)?;
    /// assert_eq!(client.decrypt(&outs[0])?, 7 % 4);
    /// assert_eq!(client.decrypt(&outs[1])?, 1);
    /// # Ok::<(), glovebox_engine::Error>(())
    /// ```
    pub fn apply_many_lookup_table(
        &self,
        ct: &Ciphertext,
        lut: &ManyLookupTable,
    ) -> Result<Vec<Ciphertext>> {
        check_ciphertext(&self.params, self.key_id, ct)?;
        check_table(&self.params, lut)?;
        let small = keyswitch_lwe_ciphertext(&self.keyswitch_key, &ct.ct)?;
        let outs = programmable_bootstrap_lwe_ciphertext_at(
            &small,
            &lut.accumulator,
            self.ntt_bootstrap_key()?,
            self.params.modulus_switch,
            &lut.outputs,
        )?;
        Ok(outs
            .into_iter()
            .map(|out| Ciphertext {
                ct: out,
                parameters_fingerprint: ct.parameters_fingerprint,
                key_id: self.key_id,
            })
            .collect())
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

    /// Keyswitch + PBS of a batch on the backend: `cts[j]` through `luts[j]`, one output
    /// each.
    pub fn apply_lookup_table_batch(
        &self,
        cts: &[&Ciphertext],
        luts: &[&LookupTable],
    ) -> Result<Vec<Ciphertext>> {
        let tables: Vec<&dyn BootstrapTable> = luts.iter().map(|&l| l as _).collect();
        let outs = self.apply_tables_batch(cts, &tables)?;
        Ok(outs.into_iter().map(|mut o| o.swap_remove(0)).collect())
    }

    /// Keyswitch + PBS of a batch through many-function tables: output `j` holds one
    /// ciphertext per function of `luts[j]`.
    pub fn apply_many_lookup_table_batch(
        &self,
        cts: &[&Ciphertext],
        luts: &[&ManyLookupTable],
    ) -> Result<Vec<Vec<Ciphertext>>> {
        let tables: Vec<&dyn BootstrapTable> = luts.iter().map(|&l| l as _).collect();
        self.apply_tables_batch(cts, &tables)
    }

    /// Keyswitch + PBS of a batch through any tables, one- and many-function mixed: the
    /// engine's one batched path ([`super::batch`]), which the host driver also runs.
    pub fn apply_tables_batch(
        &self,
        cts: &[&Ciphertext],
        tables: &[&dyn BootstrapTable],
    ) -> Result<Vec<Vec<Ciphertext>>> {
        let sk = self.server_key;
        crate::error::check_dim("lookup tables in the batch", cts.len(), tables.len())?;
        for (ct, table) in cts.iter().zip(tables) {
            check_ciphertext(&sk.params, sk.key_id, ct)?;
            check_table(&sk.params, *table)?;
        }
        keyswitch_bootstrap_batch(
            self.backend,
            &self.ksk,
            &self.bsk,
            &sk.params,
            sk.key_id,
            cts,
            tables,
        )
    }
}

/// The evaluation keys as a client sends them ([`ClientKey::compressed_server_key`]): seeded
/// bootstrapping and keyswitch keys ([`SeededLweBootstrapKey`], [`SeededLweKeyswitchKey`]).
/// The server expands it once ([`Self::expand`]).
///
/// [`ClientKey::compressed_server_key`]: super::ClientKey::compressed_server_key
///
/// ```
/// use glovebox_engine::prelude::*;
/// let client = ClientKey::new(&TEST_PARAMS_INSECURE)?;
/// let compressed = client.compressed_server_key()?;
/// let server = compressed.expand()?;
/// let table = server.generate_lookup_table(|x| (x + 1) % 4);
/// let out = server.apply_lookup_table(&client.encrypt(2)?, &table)?;
/// assert_eq!(client.decrypt(&out)?, 3);
/// # Ok::<(), glovebox_engine::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CompressedServerKey {
    params: Parameters,
    key_id: u64,
    bootstrap_key: SeededLweBootstrapKey,
    keyswitch_key: SeededLweKeyswitchKey,
}

impl CompressedServerKey {
    /// Assembles a compressed key, checking every dimension against the parameters (the
    /// checks [`ServerKey::from_keys`] makes).
    pub fn from_keys(
        params: &Parameters,
        key_id: u64,
        bootstrap_key: SeededLweBootstrapKey,
        keyswitch_key: SeededLweKeyswitchKey,
    ) -> Result<Self> {
        let (b, k) = (&bootstrap_key, &keyswitch_key);
        check_key_shapes(
            params,
            (
                b.input_lwe_dimension(),
                b.glwe_size(),
                b.polynomial_size(),
                b.decomposition_base_log(),
                b.decomposition_level_count(),
            ),
            (
                k.input_lwe_dimension(),
                k.output_lwe_dimension(),
                k.decomposition_base_log(),
                k.decomposition_level_count(),
            ),
        )?;
        crate::error::check_dim(
            "keyswitch key output modulus log",
            params.ks_output_modulus_log as usize,
            k.output_modulus_log() as usize,
        )?;
        Ok(Self {
            params: *params,
            key_id,
            bootstrap_key,
            keyswitch_key,
        })
    }

    pub fn parameters(&self) -> &Parameters {
        &self.params
    }
    /// The id of the client key it belongs to.
    pub fn key_id(&self) -> u64 {
        self.key_id
    }
    pub fn bootstrap_key(&self) -> &SeededLweBootstrapKey {
        &self.bootstrap_key
    }
    pub fn keyswitch_key(&self) -> &SeededLweKeyswitchKey {
        &self.keyswitch_key
    }

    /// Bytes of its words (bodies and seeds).
    pub fn size_bytes(&self) -> usize {
        8 * (self.bootstrap_key.as_slice().len() + self.keyswitch_key.as_slice().len()) + 64
    }

    /// The server key: every mask regenerated from its seed.
    pub fn expand(&self) -> Result<ServerKey> {
        ServerKey::from_keys(
            &self.params,
            self.key_id,
            self.bootstrap_key.decompress()?,
            self.keyswitch_key.decompress()?,
        )
    }
}

/// A bootstrapping key's shape: input dimension, GLWE size, polynomial size, base log, levels.
type BootstrapKeyShape = (
    LweDimension,
    GlweSize,
    PolynomialSize,
    DecompositionBaseLog,
    DecompositionLevelCount,
);
/// A keyswitch key's shape: input and output dimensions, base log, levels.
type KeyswitchKeyShape = (
    LweDimension,
    LweDimension,
    DecompositionBaseLog,
    DecompositionLevelCount,
);

/// The parameters' validation and every dimension of both evaluation keys against them: the
/// one check of [`ServerKey::from_keys`] and [`CompressedServerKey::from_keys`].
fn check_key_shapes(
    params: &Parameters,
    (b_in, b_glwe, b_poly, b_base, b_levels): BootstrapKeyShape,
    (k_in, k_out, k_base, k_levels): KeyswitchKeyShape,
) -> Result<()> {
    use crate::error::check_dim;
    params.validate()?;
    check_dim(
        "bootstrap key input dimension",
        params.lwe_dimension.0,
        b_in.0,
    )?;
    check_dim(
        "bootstrap key GLWE size",
        params.glwe_dimension.0 + 1,
        b_glwe.0,
    )?;
    check_dim(
        "bootstrap key polynomial size",
        params.polynomial_size.0,
        b_poly.0,
    )?;
    check_dim("bootstrap key base log", params.pbs_base_log.0, b_base.0)?;
    check_dim("bootstrap key level count", params.pbs_level.0, b_levels.0)?;
    check_dim(
        "keyswitch key input dimension",
        params.big_lwe_dimension().0,
        k_in.0,
    )?;
    check_dim(
        "keyswitch key output dimension",
        params.lwe_dimension.0,
        k_out.0,
    )?;
    check_dim("keyswitch key base log", params.ks_base_log.0, k_base.0)?;
    check_dim("keyswitch key level count", params.ks_level.0, k_levels.0)
}
