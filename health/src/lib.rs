//! Glovebox's healthcare application: what a clinic and its monitoring server compute on
//! encrypted patient data, over the engine ([`engine`]), the host driver ([`driver`]) and the
//! encrypted integers ([`integer`]).
//!
//! - [`vitals`]: the main job, encrypted vitals alerts (heart rate, SpO2, any, sustained) and
//!   per-patient counts; the clinic, its devices and the monitoring server as separate types.
//! - [`records`]: encrypted lab records compared with each patient's past, and cohort
//!   statistics.
//! - [`inference`]: encrypted diagnosis on the Breast Cancer Wisconsin data (a logistic
//!   regression and a random forest compiled to bootstraps).
//! - [`service`] (feature `service`, on by default): the clinic service over HTTP with a
//!   durable store, and its clients.
//!
//! It imports the engine, the driver and the integers, never a backend: the caller chooses
//! one ([`prelude::CpuBackend`], the GPU or the simulated accelerator) and hands it in.
//!
//! ```
//! use glovebox_health::prelude::*;
//! use glovebox_health::vitals::{AlertRules, Reading};
//! let rules = AlertRules::default();
//! let plain = rules.evaluate(&[Reading::new(72, 97), Reading::new(131, 96)]);
//! assert_eq!(plain.heart_rate, [false, true]);
//! # Ok::<(), glovebox_health::Error>(())
//! ```
pub use glovebox_driver as driver;
pub use glovebox_engine as engine;
pub use glovebox_engine::prelude;
pub use glovebox_integer as integer;

pub use error::{Error, Result};

mod error;
pub mod inference;
pub mod records;
#[cfg(feature = "service")]
pub mod service;
pub mod vitals;
