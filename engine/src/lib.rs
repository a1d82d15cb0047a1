//! # glovebox-engine
//!
//! TFHE (CGGI) the way TFHE-rs's FPGA path computes it: keys, ciphertexts and lookup tables on
//! the native torus (`u64`, wrapping arithmetic, modulus 2^64); only the external product runs
//! in a negacyclic NTT over the prime p = 2^64 − 2^32 + 1 (TFHE-rs: "ntt64 bnf").
//!
//! Layers, each importing only the ones above it in this list:
//! - [`commons`]: arithmetic mod p, dimension newtypes, the CSPRNG and noise, gadget decomposition;
//! - [`ntt`]: the transform [`ntt::Plan`] and its O(N²) reference;
//! - [`entities`]: keys and ciphertexts over plain `Vec<u64>` containers (TFHE-rs layouts);
//! - [`algorithms`]: free functions: encryption, key generation, external product, blind
//!   rotation, keyswitch, PBS, lookup tables;
//! - [`parameters`]: named parameter sets with their security source;
//! - [`backend`]: the [`backend::Backend`] trait every accelerator implements, and the CPU backend;
//! - [`shortint`]: the client/server API (message + carry integers);
//! - [`interop`] (feature `tfhe-interop`): conversions to and from TFHE-rs 1.8.
//!
//! Tests: `cargo test --release -p glovebox-engine`. Benchmarks: `cargo bench -p glovebox-benches`.
//!
//! ```
//! use glovebox_engine::prelude::*;
//! let client = ClientKey::new(&TEST_PARAMS_INSECURE)?;
//! let server = client.server_key()?; // only public keys
//! let threshold = server.generate_lookup_table(|x| (x >= 2) as u64);
//! let alert = server.apply_lookup_table(&client.encrypt(3)?, &threshold)?;
//! assert_eq!(client.decrypt(&alert)?, 1);
//! # Ok::<(), glovebox_engine::Error>(())
//! ```

pub mod algorithms;
pub mod backend;
pub mod commons;
pub mod entities;
pub mod error;
pub mod fft;
#[cfg(feature = "tfhe-interop")]
pub mod interop;
pub mod noise;
pub mod ntt;
pub mod parameters;
pub mod serialization;
pub mod shortint;

pub use error::{Error, Result};

/// Everything a typical caller needs, in one import.
pub mod prelude {
    pub use crate::algorithms::*;
    pub use crate::backend::{
        Backend, BootstrapKeyHandle, CpuBackend, CpuFftBackend, KeyswitchKeyHandle, NttBackend,
    };
    pub use crate::commons::dimensions::*;
    pub use crate::commons::random::{CsprngGenerator, NoiseDistribution};
    pub use crate::entities::*;
    pub use crate::error::{Error, Result};
    pub use crate::parameters::*;
    pub use crate::shortint::{
        BootstrapTable, Ciphertext, ClientKey, CompressedServerKey, LookupTable, ManyLookupTable,
        ResidentServerKey, ServerKey,
    };
}
