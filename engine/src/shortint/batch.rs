//! The one batched keyswitch + bootstrap path. [`ResidentServerKey`] runs it whole
//! ([`keyswitch_bootstrap_batch`], through [`Backend::keyswitch_blind_rotate_batch`], which a
//! backend with separate keyswitch and blind-rotation units overlaps); the host driver runs its three stages on three threads,
//! batch i's blind rotation overlapping batch i+1's keyswitch and batch i−1's extraction:
//!
//! 1. [`keyswitch_and_modulus_switch_batch`]: pack the inputs, keyswitch them on the backend
//!    (big key → small key), switch each to Z/2NZ;
//! 2. [`pack_accumulators`], then [`Backend::blind_rotate_batch`];
//! 3. [`extract_outputs`]: per job, one LWE sample per coefficient its table names
//!    ([`BootstrapTable::sample_indices`]), so a many-function table yields all its outputs.
//!
//! Inputs are checked by the callers with [`check_ciphertext`] and [`check_table`] (once per
//! job, at submission); every stage checks the lengths it is handed.
//!
//! [`ResidentServerKey`]: super::ResidentServerKey
//! [`check_ciphertext`]: super::check_ciphertext
//! [`check_table`]: super::check_table

use super::{BootstrapTable, Ciphertext};
use crate::algorithms::extract_lwe_sample_at_into;
use crate::algorithms::modulus_switch::lwe_modulus_switch_batch_into;
use crate::backend::{Backend, BootstrapKeyHandle, KeyswitchKeyHandle};
use crate::entities::LweCiphertext;
use crate::error::{check_dim, Result};
use crate::parameters::Parameters;

/// Stage 1: keyswitches `inputs` on `backend` and switches each result to Z/2NZ. Returns
/// `inputs.len() × (n + 1)` words in `[0, 2N)`, the blind rotation's input.
pub fn keyswitch_and_modulus_switch_batch(
    backend: &dyn Backend,
    ksk: &KeyswitchKeyHandle,
    params: &Parameters,
    inputs: &[&Ciphertext],
) -> Result<Vec<u64>> {
    let small = params.lwe_dimension.0 + 1;
    let packed = pack_inputs(params, inputs)?;
    let mut switched = vec![0u64; inputs.len() * small];
    backend.keyswitch_batch(ksk, &packed, &mut switched)?;
    let mut msed = vec![0u64; inputs.len() * small];
    lwe_modulus_switch_batch_into(
        &mut msed,
        &switched,
        small,
        params.polynomial_size.log2_2n(),
        params.modulus_switch,
    )?;
    Ok(msed)
}

/// The inputs of a batch, one after another: `inputs.len() × (k N + 1)` words, the
/// keyswitch's input.
pub fn pack_inputs(params: &Parameters, inputs: &[&Ciphertext]) -> Result<Vec<u64>> {
    let big = params.big_lwe_dimension().0 + 1;
    let mut packed = Vec::with_capacity(inputs.len() * big);
    for ct in inputs {
        check_dim("ciphertext words", big, ct.ct.as_slice().len())?;
        packed.extend_from_slice(ct.ct.as_slice());
    }
    Ok(packed)
}

/// The accumulators of a batch, one table's after another: `tables.len() × (k + 1) · N`
/// words, the blind rotation's in-out buffer.
pub fn pack_accumulators(tables: &[&dyn BootstrapTable]) -> Vec<u64> {
    let size = tables
        .first()
        .map(|t| t.accumulator().as_slice().len())
        .unwrap_or(0);
    let mut accumulators = Vec::with_capacity(tables.len() * size);
    for t in tables {
        accumulators.extend_from_slice(t.accumulator().as_slice());
    }
    accumulators
}

/// Stage 3: from the rotated `accumulators` (one per table, in order), each job's outputs:
/// one ciphertext per coefficient of [`BootstrapTable::sample_indices`], under the client key
/// `key_id`.
pub fn extract_outputs(
    params: &Parameters,
    key_id: u64,
    accumulators: &[u64],
    tables: &[&dyn BootstrapTable],
) -> Result<Vec<Vec<Ciphertext>>> {
    let n = params.polynomial_size.0;
    let acc_size = (params.glwe_dimension.0 + 1) * n;
    let big = params.big_lwe_dimension().0 + 1;
    check_dim(
        "rotated accumulator words",
        tables.len() * acc_size,
        accumulators.len(),
    )?;
    tables
        .iter()
        .zip(accumulators.chunks_exact(acc_size))
        .map(|(table, acc)| {
            table
                .sample_indices()
                .iter()
                .map(|&index| {
                    let mut out = vec![0u64; big];
                    extract_lwe_sample_at_into(&mut out, acc, n, index);
                    Ok(Ciphertext {
                        ct: LweCiphertext::from_container(out)?,
                        parameters_fingerprint: params.fingerprint(),
                        key_id,
                    })
                })
                .collect()
        })
        .collect()
}

/// Keyswitch + PBS of a batch on `backend`, the three stages in a row: `inputs[j]` through
/// `tables[j]`, one output per sampled coefficient of each table.
pub fn keyswitch_bootstrap_batch(
    backend: &dyn Backend,
    ksk: &KeyswitchKeyHandle,
    bsk: &BootstrapKeyHandle,
    params: &Parameters,
    key_id: u64,
    inputs: &[&Ciphertext],
    tables: &[&dyn BootstrapTable],
) -> Result<Vec<Vec<Ciphertext>>> {
    check_dim("lookup tables in the batch", inputs.len(), tables.len())?;
    let packed = pack_inputs(params, inputs)?;
    let mut accumulators = pack_accumulators(tables);
    backend.keyswitch_blind_rotate_batch(
        ksk,
        bsk,
        &packed,
        params.polynomial_size.log2_2n(),
        params.modulus_switch,
        &mut accumulators,
    )?;
    extract_outputs(params, key_id, &accumulators, tables)
}
