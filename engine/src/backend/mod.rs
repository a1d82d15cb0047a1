//! The seam every accelerator implements: upload keys once, get resident handles, run batches.
//!
//! A [`Backend`] does the heavy, regular work of TFHE: batched blind rotations (the external
//! products) and batched keyswitches. A backend whose transform is the NTT also implements
//! [`NttBackend`] (batched NTTs, for testing the device's transform against
//! [`crate::ntt::Plan`]). Everything else (modulus switch, sample extraction, lookup-table
//! construction) stays on the host, in the batched path of [`crate::shortint::batch`], which
//! the host driver schedules.
//! Every implementation must agree **bit for bit** with [`CpuBackend`].
//!
//! Batches are flat slices of words, so a device can take them as one buffer:
//! - `msed`: `batch × (n + 1)` modulus-switched words in `[0, 2N)`, mask then body;
//! - `accumulators`: `batch × (k + 1) · N` words, one lookup table per job on entry and the
//!   rotated accumulator on return.

mod cpu;
mod cpu_fft;
mod cpu_keyswitch;

pub use cpu::CpuBackend;
pub use cpu_fft::CpuFftBackend;

use crate::algorithms::modulus_switch::lwe_modulus_switch_batch_into;
use crate::commons::dimensions::*;
use crate::entities::{LweBootstrapKey, LweKeyswitchKey};
use crate::error::{check_dim, Error, Result};
use crate::parameters::ModulusSwitchType;

/// A bootstrapping key resident on a backend, with the shape it was uploaded with. The shape
/// is read-only (getters): [`BootstrapKeyHandle::check_batch`] trusts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootstrapKeyHandle {
    pub(crate) backend_instance: u64,
    pub(crate) slot: usize,
    input_lwe_dimension: LweDimension,
    glwe_size: GlweSize,
    polynomial_size: PolynomialSize,
    decomposition_base_log: DecompositionBaseLog,
    decomposition_level_count: DecompositionLevelCount,
}

/// A keyswitch key resident on a backend, with its read-only shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyswitchKeyHandle {
    pub(crate) backend_instance: u64,
    pub(crate) slot: usize,
    input_lwe_dimension: LweDimension,
    output_lwe_dimension: LweDimension,
    output_modulus_log: u32,
}

/// The keys a backend keeps resident, one kind per store: slots handed out in upload order,
/// looked up by the (instance, slot) of a handle, so a handle from another backend or a slot
/// that was never filled is an [`Error::InvalidHandle`], never a panic.
pub struct ResidentKeys<T> {
    instance: u64,
    kind: &'static str,
    /// Slots are never reused: a released key leaves `None`, so a stale handle is refused.
    slots: std::sync::RwLock<Vec<Option<std::sync::Arc<T>>>>,
}

impl<T> ResidentKeys<T> {
    /// An empty store of `kind` ("bootstrap key", …) for backend `instance`.
    pub fn new(instance: u64, kind: &'static str) -> Self {
        Self {
            instance,
            kind,
            slots: std::sync::RwLock::new(Vec::new()),
        }
    }

    /// Keeps `key`; returns its slot.
    pub fn insert(&self, key: T) -> usize {
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        slots.push(Some(std::sync::Arc::new(key)));
        slots.len() - 1
    }

    /// Frees the key in `slot` (its memory goes once no batch in flight holds it); the
    /// handle is refused from then on.
    pub fn remove(&self, backend_instance: u64, slot: usize) -> Result<()> {
        self.check_instance(backend_instance)?;
        self.slots
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(slot)
            .and_then(Option::take)
            .map(drop)
            .ok_or_else(|| Error::InvalidHandle(format!("no {} in slot {slot}", self.kind)))
    }

    /// Keys resident now.
    pub fn resident(&self) -> usize {
        self.slots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|s| s.is_some())
            .count()
    }

    fn check_instance(&self, backend_instance: u64) -> Result<()> {
        if backend_instance != self.instance {
            return Err(Error::InvalidHandle(format!(
                "{} handle from another backend",
                self.kind
            )));
        }
        Ok(())
    }

    /// The key in `slot`, if `backend_instance` is this store's backend.
    pub fn get(&self, backend_instance: u64, slot: usize) -> Result<std::sync::Arc<T>> {
        self.check_instance(backend_instance)?;
        self.slots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slot)
            .cloned()
            .flatten()
            .ok_or_else(|| Error::InvalidHandle(format!("no {} in slot {slot}", self.kind)))
    }
}

/// A fresh backend instance number, unique in the process across every backend kind, so a
/// handle made by one backend is refused by any other (see [`Error::InvalidHandle`]).
pub fn next_backend_instance() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);
    NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed)
}

impl BootstrapKeyHandle {
    /// The handle a backend returns for `bsk` stored in its `slot` (for backend implementors;
    /// `backend_instance` comes from [`next_backend_instance`]).
    pub fn new(backend_instance: u64, slot: usize, bsk: &LweBootstrapKey) -> Self {
        Self {
            backend_instance,
            slot,
            input_lwe_dimension: bsk.input_lwe_dimension(),
            glwe_size: bsk.glwe_size(),
            polynomial_size: bsk.polynomial_size(),
            decomposition_base_log: bsk.decomposition_base_log(),
            decomposition_level_count: bsk.decomposition_level_count(),
        }
    }

    /// The backend instance that made this handle.
    pub fn backend_instance(&self) -> u64 {
        self.backend_instance
    }

    /// The backend's storage slot for the key.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// n: the LWE dimension of the blind rotation's input.
    pub fn input_lwe_dimension(&self) -> LweDimension {
        self.input_lwe_dimension
    }

    /// k + 1.
    pub fn glwe_size(&self) -> GlweSize {
        self.glwe_size
    }

    /// N.
    pub fn polynomial_size(&self) -> PolynomialSize {
        self.polynomial_size
    }

    pub fn decomposition_base_log(&self) -> DecompositionBaseLog {
        self.decomposition_base_log
    }

    pub fn decomposition_level_count(&self) -> DecompositionLevelCount {
        self.decomposition_level_count
    }

    /// Checks that a batch of `msed` and `accumulators` fits this key; returns the batch size.
    pub fn check_batch(&self, msed: &[u64], accumulators: &[u64]) -> Result<usize> {
        let in_size = self.input_lwe_dimension.0 + 1;
        let acc_size = self.glwe_size.0 * self.polynomial_size.0;
        if !msed.len().is_multiple_of(in_size) {
            return Err(Error::MalformedContainer {
                entity: "modulus-switched input batch",
                expected: in_size * (msed.len() / in_size + 1),
                got: msed.len(),
            });
        }
        let batch = msed.len() / in_size;
        check_dim(
            "accumulator batch words",
            batch * acc_size,
            accumulators.len(),
        )?;
        let two_n = 2 * self.polynomial_size.0 as u64;
        if let Some(index) = msed.iter().position(|&x| x >= two_n) {
            return Err(Error::WordOutOfRange {
                what: "modulus-switched input",
                index,
                value: msed[index],
                bound: two_n,
            });
        }
        Ok(batch)
    }

    /// What every backend's blind rotation does first: [`Self::check_batch`], and `None` for
    /// an empty batch (nothing to run).
    pub fn nonempty_batch(&self, msed: &[u64], accumulators: &[u64]) -> Result<Option<usize>> {
        Ok(Some(self.check_batch(msed, accumulators)?).filter(|&b| b > 0))
    }
}

impl KeyswitchKeyHandle {
    /// The handle a backend returns for `ksk` stored in its `slot` (for backend implementors).
    pub fn new(backend_instance: u64, slot: usize, ksk: &LweKeyswitchKey) -> Self {
        Self {
            backend_instance,
            slot,
            input_lwe_dimension: ksk.input_lwe_dimension(),
            output_lwe_dimension: ksk.output_lwe_dimension(),
            output_modulus_log: ksk.output_modulus_log(),
        }
    }

    /// The backend instance that made this handle.
    pub fn backend_instance(&self) -> u64 {
        self.backend_instance
    }

    /// The backend's storage slot for the key.
    pub fn slot(&self) -> usize {
        self.slot
    }

    pub fn input_lwe_dimension(&self) -> LweDimension {
        self.input_lwe_dimension
    }

    pub fn output_lwe_dimension(&self) -> LweDimension {
        self.output_lwe_dimension
    }

    /// log2 of the keyswitch's output modulus (64: the native torus).
    pub fn output_modulus_log(&self) -> u32 {
        self.output_modulus_log
    }

    /// Checks a keyswitch batch; returns the batch size.
    pub fn check_batch(&self, inputs: &[u64], outputs: &[u64]) -> Result<usize> {
        let in_size = self.input_lwe_dimension.0 + 1;
        let out_size = self.output_lwe_dimension.0 + 1;
        if !inputs.len().is_multiple_of(in_size) {
            return Err(Error::MalformedContainer {
                entity: "keyswitch input batch",
                expected: in_size * (inputs.len() / in_size + 1),
                got: inputs.len(),
            });
        }
        let batch = inputs.len() / in_size;
        check_dim(
            "keyswitch output batch words",
            batch * out_size,
            outputs.len(),
        )?;
        Ok(batch)
    }

    /// What every backend's keyswitch does first: [`Self::check_batch`], and `None` for an
    /// empty batch (nothing to run).
    pub fn nonempty_batch(&self, inputs: &[u64], outputs: &[u64]) -> Result<Option<usize>> {
        Ok(Some(self.check_batch(inputs, outputs)?).filter(|&b| b > 0))
    }
}

/// A TFHE accelerator.
pub trait Backend: Send + Sync {
    /// A short name for reports (`"cpu"`, `"gpu: NVIDIA H100"`, …).
    fn name(&self) -> String;

    /// Uploads a standard-domain bootstrapping key (the backend converts it to its own
    /// domain) and keeps it resident until the backend is dropped.
    fn upload_bootstrap_key(&self, bsk: &LweBootstrapKey) -> Result<BootstrapKeyHandle>;

    /// Uploads a keyswitch key and keeps it resident.
    fn upload_keyswitch_key(&self, ksk: &LweKeyswitchKey) -> Result<KeyswitchKeyHandle>;

    /// Frees a resident bootstrapping key (its memory goes once no batch in flight holds it);
    /// the handle, and every copy of it, is an [`Error::InvalidHandle`] from then on. A
    /// service that evicts a clinic's keys frees them here.
    fn release_bootstrap_key(&self, bsk: &BootstrapKeyHandle) -> Result<()>;

    /// Frees a resident keyswitch key, as [`Self::release_bootstrap_key`].
    fn release_keyswitch_key(&self, ksk: &KeyswitchKeyHandle) -> Result<()>;

    /// Blind-rotates a batch: accumulator `j` is rotated by `X^{−b_j + Σ a_{j,i} s_i}`.
    fn blind_rotate_batch(
        &self,
        bsk: &BootstrapKeyHandle,
        msed: &[u64],
        accumulators: &mut [u64],
    ) -> Result<()>;

    /// Keyswitches a batch of `inputs` (each n_in + 1 words) into `outputs` (each n_out + 1).
    fn keyswitch_batch(
        &self,
        ksk: &KeyswitchKeyHandle,
        inputs: &[u64],
        outputs: &mut [u64],
    ) -> Result<()>;

    /// Keyswitch and blind rotation of one batch: `inputs` (each n_in + 1 words) keyswitched,
    /// each result switched to Z/2NZ ([`lwe_modulus_switch_batch_into`] with
    /// `log_2n` and `switch`), then `accumulators` blind-rotated by them.
    ///
    /// The default runs the three steps one after the other. A backend whose keyswitch and
    /// blind rotation run on separate units overrides it to overlap them: the keyswitch of the
    /// batch's next chunk while the current chunk is blind-rotated. Every implementation gives
    /// the default's result.
    ///
    fn keyswitch_blind_rotate_batch(
        &self,
        ksk: &KeyswitchKeyHandle,
        bsk: &BootstrapKeyHandle,
        inputs: &[u64],
        log_2n: u32,
        switch: ModulusSwitchType,
        accumulators: &mut [u64],
    ) -> Result<()> {
        let small = ksk.output_lwe_dimension().0 + 1;
        let batch = inputs.len() / (ksk.input_lwe_dimension().0 + 1);
        let mut switched = vec![0u64; batch * small];
        self.keyswitch_batch(ksk, inputs, &mut switched)?;
        let mut msed = vec![0u64; batch * small];
        lwe_modulus_switch_batch_into(&mut msed, &switched, small, log_2n, switch)?;
        self.blind_rotate_batch(bsk, &msed, accumulators)
    }
}

/// A backend whose external product runs in the NTT over p = 2^64 − 2^32 + 1 exposes its
/// transform, so tests can compare the device's NTT with [`crate::ntt::Plan`] word for word. A
/// backend built on another transform implements [`Backend`] alone.
pub trait NttBackend: Backend {
    /// Forward NTT of `data.len() / n` polynomials (canonical residues mod p), in the order of
    /// [`crate::ntt::Plan::fwd`].
    fn ntt_forward_batch(&self, polynomial_size: PolynomialSize, data: &mut [u64]) -> Result<()>;

    /// Inverse of [`NttBackend::ntt_forward_batch`].
    fn ntt_inverse_batch(&self, polynomial_size: PolynomialSize, data: &mut [u64]) -> Result<()>;
}

/// Checks an NTT batch: whole polynomials of a supported size, canonical residues mod p.
pub fn check_poly_batch(polynomial_size: PolynomialSize, data: &[u64]) -> Result<()> {
    let len = data.len();
    crate::ntt::Plan::check_size(polynomial_size.0)?;
    if let Some(index) = data.iter().position(|&x| x >= crate::commons::modp::P) {
        return Err(Error::WordOutOfRange {
            what: "NTT input (residues mod p)",
            index,
            value: data[index],
            bound: crate::commons::modp::P,
        });
    }
    if !len.is_multiple_of(polynomial_size.0) {
        return Err(Error::MalformedContainer {
            entity: "polynomial batch",
            expected: polynomial_size.0 * (len / polynomial_size.0.max(1) + 1),
            got: len,
        });
    }
    Ok(())
}
