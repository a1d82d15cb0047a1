//! Glovebox: hardware-accelerated TFHE for computing on medical data that the server never sees.
//!
//! This facade re-exports the engine ([`engine`]), the GPU backend ([`kernels`]), the
//! cycle-accurate simulation of the accelerator RTL (`sim`, with the feature `sim`), the host
//! driver ([`driver`]), the encrypted integers over it ([`integer`]) and the healthcare
//! application (`glovebox-health`: [`vitals`], [`records`], [`inference`], [`service`]); the
//! `glovebox` command is built on it.
//!
//! ```
//! use glovebox::prelude::*;
//! let client = ClientKey::new(&TEST_PARAMS_INSECURE)?;
//! let server = client.server_key()?;
//! let tachycardia = server.generate_lookup_table(|hr_bucket| (hr_bucket >= 3) as u64);
//! let alert = server.apply_lookup_table(&client.encrypt(3)?, &tachycardia)?;
//! assert_eq!(client.decrypt(&alert)?, 1);
//! # Ok::<(), glovebox::engine::Error>(())
//! ```
pub use glovebox_driver as driver;
pub use glovebox_engine as engine;
pub use glovebox_engine::prelude;
pub use glovebox_integer as integer;
pub use glovebox_kernels as kernels;
#[cfg(feature = "sim")]
pub use glovebox_sim as sim;

pub use glovebox_health as health;
pub use glovebox_health::{inference, records, service, vitals};
