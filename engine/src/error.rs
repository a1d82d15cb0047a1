//! The typed errors of the engine's public API. Nothing a caller passes in makes the engine
//! panic: mismatches come back as one of these, naming both values.

use thiserror::Error;

/// Everything that can go wrong when calling the engine.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The NTT supports powers of two from 256 to 16384.
    #[error("unsupported polynomial size {0}: the NTT supports powers of two from 256 to 16384")]
    UnsupportedPolynomialSize(usize),

    /// Two dimensions that must agree do not.
    #[error("{what} mismatch: expected {expected}, got {got}")]
    DimensionMismatch {
        what: &'static str,
        expected: usize,
        got: usize,
    },

    /// A container's length does not fit the dimensions it is claimed to have.
    #[error("malformed {entity}: container of {got} words, but the dimensions require {expected}")]
    MalformedContainer {
        entity: &'static str,
        expected: usize,
        got: usize,
    },

    /// A ciphertext or key made under other parameters.
    #[error("parameter mismatch: this key was made for `{expected}`, the input for `{got}`")]
    ParameterMismatch { expected: String, got: String },

    /// A ciphertext encrypted under another client key than the one behind this server key.
    #[error(
        "key mismatch: the ciphertext was encrypted under client key {got:#018x}, \
         this server key belongs to client key {expected:#018x}"
    )]
    KeyMismatch { expected: u64, got: u64 },

    /// A parameter set that the engine cannot run (or that fails validation).
    #[error("invalid parameters: {0}")]
    InvalidParameters(String),

    /// A word of an input batch outside the range the operation accepts.
    #[error("{what}: word {index} is {value}, must be below {bound}")]
    WordOutOfRange {
        what: &'static str,
        index: usize,
        value: u64,
        bound: u64,
    },

    /// A linear combination of ciphertexts whose value could leave the plaintext space: its
    /// degree (the largest value it can hold, from its operands' degrees) reaches the space, or
    /// its smallest possible value is negative. Computing it would give a wrong value silently;
    /// clean the carries (a bootstrap) first.
    #[error(
        "degree overflow in {what}: the value can range over [{min}, {max}], outside the \
         plaintext space [0, {space}); clean the carries first"
    )]
    DegreeOverflow {
        what: &'static str,
        min: i64,
        max: i64,
        space: u64,
    },

    /// A linear combination `Σ kᵢ·ctᵢ` whose noise exceeds what the parameter set's failure
    /// probability was computed for: its squared 2-norm `Σ kᵢ²·νᵢ` (νᵢ the operands' own, 1
    /// for a fresh encryption or a PBS output) is above the set's `max_noise_norm²`.
    /// Bootstrapping it would fail more often than the set promises; bootstrap the operands
    /// first.
    #[error(
        "noise overflow in {what}: squared norm {norm2} above the parameter set's {max} \
         (its p_fail holds up to there); bootstrap the operands first"
    )]
    NoiseOverflow {
        what: &'static str,
        norm2: u64,
        max: u64,
    },

    /// A message outside the plaintext space.
    #[error("message {message} is outside the plaintext space [0, {modulus})")]
    MessageOutOfRange { message: u64, modulus: u64 },

    /// Bytes that do not decode to what they claim to be.
    #[error("malformed bytes: {0}")]
    MalformedBytes(String),

    /// An envelope of a format version this build does not read.
    #[error("unsupported envelope version {got}: this build reads version {supported}")]
    UnsupportedVersion { got: u16, supported: u16 },

    /// An envelope holding another kind of object than the one asked for.
    #[error("wrong envelope kind: expected {expected}, got {got}")]
    WrongKind { expected: String, got: String },

    /// An input larger than the limit the caller set.
    #[error("input of {size} bytes is over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },

    /// A backend (device) failed; the message says how.
    #[error("backend `{backend}` failed: {reason}")]
    Backend { backend: String, reason: String },

    /// A handle handed to a backend that did not create it, or that was released.
    #[error("invalid handle: {0}")]
    InvalidHandle(String),

    /// An input of another library (a TFHE-rs key or ciphertext) of a kind that Glovebox does
    /// not run: the message names the kind and what Glovebox accepts instead.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// `Result` with the engine's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Returns `DimensionMismatch` unless `expected == got`.
pub(crate) fn check_dim(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::DimensionMismatch {
            what,
            expected,
            got,
        })
    }
}
