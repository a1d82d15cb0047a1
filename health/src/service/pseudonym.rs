//! Patient pseudonyms: the server sees `p-` and 32 hex digits where the clinic has a name —
//! the first 128 bits of HMAC-SHA256 of the name under a key the clinic keeps (its
//! directory's `pseudonym.key`). The same name always gives the same pseudonym, so a patient's
//! records form one series at the server; without the key, a pseudonym says nothing of the
//! name (not even by trying names). Names stay in the clinic's directory.
//!
//! ```
//! use glovebox_health::service::pseudonym::Pseudonyms;
//! let p = Pseudonyms::from_key([7; 32]);
//! let id = p.of("Ana Lopez");
//! assert!(id.starts_with("p-") && id.len() == 34);
//! assert_eq!(id, p.of("Ana Lopez"));
//! assert_ne!(id, Pseudonyms::from_key([8; 32]).of("Ana Lopez"));
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The clinic's pseudonym key.
#[derive(Clone)]
pub struct Pseudonyms {
    key: [u8; 32],
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms(..)")
    }
}

impl Pseudonyms {
    /// A fresh key from the operating system's cryptographic generator.
    pub fn new() -> Self {
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self { key }
    }

    /// The key read back from the clinic's files.
    pub fn from_key(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The key, for the clinic's files (secret).
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The pseudonym of `name`.
    pub fn of(&self, name: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(name.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("p-{}", hex::encode(&tag[..16]))
    }
}

impl Default for Pseudonyms {
    fn default() -> Self {
        Self::new()
    }
}
