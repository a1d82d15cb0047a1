//! The client/server API: short integers (message and carry bits) under one parameter set,
//! like TFHE-rs's `shortint` with `EncryptionKeyChoice::Big`.
//!
//! The [`ClientKey`] holds the secret keys and stays with the data owner; the [`ServerKey`]
//! holds only public evaluation keys (bootstrapping and keyswitch keys) and has no path to a
//! secret key. Ciphertexts carry the fingerprint of their parameters and the id of their
//! client key, so a server key refuses a ciphertext made under anything else.
//!
//! - [`client_key`]: [`ClientKey`];
//! - [`server_key`]: [`ServerKey`] and its resident form [`ResidentServerKey`];
//! - [`lookup_table`]: one-function tables ([`LookupTable`]) and many-function tables
//!   ([`ManyLookupTable`]), both [`BootstrapTable`]s;
//! - [`batch`]: the one batched keyswitch + bootstrap path, in the stages the host driver
//!   pipelines (keyswitch and modulus switch, blind rotation, sample extraction).
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

pub mod batch;
pub mod client_key;
pub mod lookup_table;
pub mod public_key;
pub mod server_key;

pub use client_key::ClientKey;
pub use lookup_table::{BootstrapTable, LookupTable, ManyLookupTable};
pub use server_key::{CompressedServerKey, ResidentServerKey, ServerKey};

use crate::entities::LweCiphertext;
use crate::error::{check_dim, Error, Result};
use crate::parameters::Parameters;

/// A ciphertext of a short integer, under the big (GLWE-as-LWE) key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ciphertext {
    pub ct: LweCiphertext,
    /// [`Parameters::fingerprint`] of the parameters it was made under.
    pub parameters_fingerprint: u64,
    /// The id of the client key it is encrypted under.
    pub key_id: u64,
}

/// The name of the parameter set with this fingerprint, for error messages.
pub(crate) fn parameters_name(fingerprint: u64) -> String {
    crate::parameters::ALL
        .iter()
        .find(|p| p.fingerprint() == fingerprint)
        .map(|p| p.name.to_string())
        .unwrap_or_else(|| format!("unknown parameters {fingerprint:#018x}"))
}

pub(crate) fn check_fingerprint(params: &Parameters, fingerprint: u64) -> Result<()> {
    if fingerprint != params.fingerprint() {
        return Err(Error::ParameterMismatch {
            expected: params.name.into(),
            got: parameters_name(fingerprint),
        });
    }
    Ok(())
}

/// Checks that `ct` was made under `params` and the client key `key_id`, with the big LWE
/// dimension: the one input check of every key, the driver and the integer layer.
pub fn check_ciphertext(params: &Parameters, key_id: u64, ct: &Ciphertext) -> Result<()> {
    check_fingerprint(params, ct.parameters_fingerprint)?;
    if ct.key_id != key_id {
        return Err(Error::KeyMismatch {
            expected: key_id,
            got: ct.key_id,
        });
    }
    check_dim(
        "ciphertext LWE dimension",
        params.big_lwe_dimension().0,
        ct.ct.lwe_dimension().0,
    )
}

/// Checks that `table` was made for `params`: its fingerprint, its accumulator's shape, and
/// its sampled coefficients (one or more, each below N).
pub fn check_table(params: &Parameters, table: &dyn BootstrapTable) -> Result<()> {
    check_fingerprint(params, table.parameters_fingerprint())?;
    let acc = table.accumulator();
    check_dim(
        "lookup table GLWE size",
        params.glwe_dimension.0 + 1,
        acc.glwe_size().0,
    )?;
    check_dim(
        "lookup table polynomial size",
        params.polynomial_size.0,
        acc.polynomial_size().0,
    )?;
    let n = params.polynomial_size.0;
    let indices = table.sample_indices();
    if indices.is_empty() || indices.iter().any(|&i| i >= n) {
        return Err(Error::InvalidParameters(format!(
            "lookup table outputs must be 1 or more coefficients below N = {n}, got {indices:?}"
        )));
    }
    Ok(())
}
