//! What the healthcare application can fail with, typed at its boundary: the engine's errors
//! (a backend fault, malformed or mismatched ciphertexts) pass through; input that the
//! application itself cannot take is its own variant, so that a command can answer it as a
//! usage error and a service as a bad request.

/// An error of the healthcare application.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The engine, a backend or the integer layer refused or failed.
    #[error(transparent)]
    Engine(#[from] glovebox_engine::Error),
    /// Input the application cannot take: alert rules out of order, an empty ward, a lab value
    /// or a window out of range, a cohort too large, a parameter set too small for the job, a
    /// model that does not fit the parameter set.
    #[error("{0}")]
    InvalidInput(String),
}

/// The application's result type.
pub type Result<T> = std::result::Result<T, Error>;
