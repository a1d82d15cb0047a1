//! What every simulated unit shares: the key memory that feeds it ([`KeyMemory`]), the
//! soundness argument for moving a Verilated model between threads ([`send_model!`]), the
//! checks of a unit's construction ([`check_memory`], [`not_built`], [`checked_batch`]) and the
//! simulation speed of a run ([`simulated_run!`]).

use glovebox_engine::{Error, Result};

/// The key memory as the simulation models it: a key is read once per batch, in its stored
/// order, one chunk (the unit's lanes' worth of words) at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyMemory {
    /// Key words delivered per cycle (at least 1); a chunk of s words takes ⌈s / this⌉ cycles.
    pub words_per_cycle: u32,
    /// Cycles from a chunk's transfer to its words in the read buffer.
    pub latency: u32,
}

impl KeyMemory {
    /// The same channels carrying a key stored packed at `word_bits` bits a word (a keyswitch
    /// key modulo 2^21 at 21 bits, three words and a bit per 64) instead of one word per 64
    /// bits: ⌊64 `words_per_cycle` / `word_bits`⌋ words per cycle, the latency unchanged.
    ///
    /// ```
    /// use glovebox_sim::KeyMemory;
    /// let m = KeyMemory { words_per_cycle: 32, latency: 200 };
    /// assert_eq!(m.packed(21).words_per_cycle, 97);
    /// assert_eq!(m.packed(64), m);
    /// ```
    pub fn packed(self, word_bits: u32) -> Self {
        let bits = u64::from(word_bits.clamp(1, 64));
        Self {
            words_per_cycle: (u64::from(self.words_per_cycle) * 64 / bits).min(u64::from(u32::MAX))
                as u32,
            latency: self.latency,
        }
    }
}

/// `Send` for a Verilated model's C++ type.
macro_rules! send_model {
    ($($model:ty),* $(,)?) => {
        $(
            // SAFETY: a Verilated model (built without --threads) keeps all its state in its
            // own objects, and the Rust side only reaches it through `&mut` (one caller at a
            // time), so moving it to another thread is sound; it is not `Sync`.
            unsafe impl Send for $model {}
        )*
    };
}
pub(crate) use send_model;

/// `cycles_per_second` for a run type with `cycles` and `wall_seconds` fields.
macro_rules! simulated_run {
    ($($run:ty),* $(,)?) => {
        $(
            impl $run {
                /// Simulated cycles per wall-clock second.
                pub fn cycles_per_second(&self) -> f64 {
                    self.cycles as f64 / self.wall_seconds.max(1e-9)
                }
            }
        )*
    };
}
pub(crate) use simulated_run;

/// A key memory must deliver at least one word per cycle.
pub(crate) fn check_memory(memory: &KeyMemory) -> Result<()> {
    if memory.words_per_cycle == 0 {
        return Err(Error::InvalidParameters(
            "key memory bandwidth must be at least 1 word per cycle".into(),
        ));
    }
    Ok(())
}

/// The error for a unit that this library does not build: what was asked, and the built
/// configurations.
pub(crate) fn not_built(asked: String, built: impl IntoIterator<Item = String>) -> Error {
    let built: Vec<String> = built.into_iter().collect();
    Error::InvalidParameters(format!("{asked}; built: {}", built.join(", ")))
}

/// A batch of 1 to `max` ciphertexts per pass over the key, or the error naming the range.
pub(crate) fn checked_batch(unit: &str, batch: usize, max: usize) -> Result<usize> {
    if batch == 0 || batch > max {
        return Err(Error::InvalidParameters(format!(
            "{unit} batch {batch}: this unit takes 1 to {max} ciphertexts"
        )));
    }
    Ok(batch)
}
