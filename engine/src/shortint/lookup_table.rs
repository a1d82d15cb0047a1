//! Lookup tables for one parameter set: [`LookupTable`] computes one function per blind
//! rotation, [`ManyLookupTable`] several (TFHE-rs: `LookupTable` and `ManyLookupTable`). Both
//! are [`BootstrapTable`]s, which is all the batched path needs of them.

use crate::entities::GlweCiphertext;

/// What a bootstrap needs of a table: the accumulator it rotates and the coefficients it
/// samples afterwards (one output ciphertext each).
pub trait BootstrapTable: Send + Sync {
    /// The accumulator (a trivial GLWE) that the blind rotation rotates.
    fn accumulator(&self) -> &GlweCiphertext;
    /// [`crate::parameters::Parameters::fingerprint`] of the parameters it was made for.
    fn parameters_fingerprint(&self) -> u64;
    /// Coefficients sampled after the blind rotation, in output order: `[0]` for a
    /// one-function table.
    fn sample_indices(&self) -> &[usize];
}

/// A table of one function `f` on `[0, message_modulus · carry_modulus)`
/// ([`crate::shortint::ServerKey::generate_lookup_table`]): one output per bootstrap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupTable {
    pub accumulator: GlweCiphertext,
    pub parameters_fingerprint: u64,
}

impl BootstrapTable for LookupTable {
    fn accumulator(&self) -> &GlweCiphertext {
        &self.accumulator
    }
    fn parameters_fingerprint(&self) -> u64 {
        self.parameters_fingerprint
    }
    fn sample_indices(&self) -> &[usize] {
        &[0]
    }
}

/// A table of several functions evaluated in one blind rotation
/// ([`crate::shortint::ServerKey::generate_many_lookup_table`]): one output per function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManyLookupTable {
    pub accumulator: GlweCiphertext,
    pub parameters_fingerprint: u64,
    /// The coefficient sampled for each function, in the functions' order (each below N;
    /// checked by [`crate::shortint::check_table`] before any bootstrap).
    pub outputs: Vec<usize>,
}

impl ManyLookupTable {
    /// How many functions (outputs) the table holds.
    pub fn function_count(&self) -> usize {
        self.outputs.len()
    }
}

impl BootstrapTable for ManyLookupTable {
    fn accumulator(&self) -> &GlweCiphertext {
        &self.accumulator
    }
    fn parameters_fingerprint(&self) -> u64 {
        self.parameters_fingerprint
    }
    fn sample_indices(&self) -> &[usize] {
        &self.outputs
    }
}
