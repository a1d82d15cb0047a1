//! Data: keys and ciphertexts over plain `Vec<u64>` containers.
//!
//! Every entity is built with `from_container`, which checks that the container's length fits
//! the claimed dimensions (returning [`crate::Error::MalformedContainer`] otherwise), and gives
//! its words back with `into_container` / `as_slice`: easy to hand to a GPU buffer, a DMA
//! engine or another library. Layouts are TFHE-rs's, word for word.

mod compact;
mod ggsw_ciphertext;
mod glwe_ciphertext;
mod lwe_bootstrap_key;
mod lwe_ciphertext;
mod lwe_keyswitch_key;
mod secret_keys;
mod seeded_keys;

pub use compact::{LweCompactCiphertextList, LweCompactPublicKey};
pub use ggsw_ciphertext::GgswCiphertext;
pub use glwe_ciphertext::GlweCiphertext;
pub use lwe_bootstrap_key::{FourierLweBootstrapKey, LweBootstrapKey, NttLweBootstrapKey};
pub use lwe_ciphertext::{LweCiphertext, LweCiphertextList};
pub(crate) use lwe_keyswitch_key::check_keyswitch_decomposition;
pub use lwe_keyswitch_key::LweKeyswitchKey;
pub use secret_keys::{GlweSecretKey, LweSecretKey};
pub(crate) use seeded_keys::low_mask;
pub use seeded_keys::{SeededLweBootstrapKey, SeededLweKeyswitchKey};

use crate::error::{Error, Result};

pub(crate) fn check_len(entity: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::MalformedContainer {
            entity,
            expected,
            got,
        })
    }
}
