//! # glovebox-integer
//!
//! Encrypted unsigned integers in radix form over one parameter set: little-endian blocks of
//! `log2(message_modulus)` message bits (2 on the 2-bit-message, 2-bit-carry sets, so a `u8` is
//! 4 blocks), like TFHE-rs's `integer` layer. Every bootstrap goes through the host driver
//! ([`glovebox_driver::Driver`]), and every operation works on a whole slice of inputs at once,
//! so a computation over many patients and readings runs as a few large batches ("rounds")
//! instead of many small ones. Imports: `glovebox-engine` and `glovebox-driver`.
//!
//! - [`ciphertext`]: [`Block`] (a short integer with its degree), [`RadixCiphertext`],
//!   [`BoolCiphertext`], [`RadixLayout`] (block width and message modulus from the parameters);
//! - [`linear`]: PBS-free linear combinations, checked against the degrees;
//! - [`arithmetic`]: addition, subtraction, sums of many, carry propagation;
//! - [`comparison`]: comparisons with encrypted and clear operands, min and max;
//! - [`predicates`]: compiled `u8` predicates in 3 PBS, and two predicates with their OR in 6;
//! - [`flags`]: OR, AND and NOT of flags, and flag counting;
//! - [`table_cache`]: lookup tables built once, keyed by their definition ([`TableKey`]).
//!
//! Techniques that keep the bootstrap count down:
//! - comparisons pack two blocks into one (`m·hi + lo`, a bivariate lookup table) so one PBS
//!   compares two blocks against the clear constant, and the combination tree folds the final
//!   predicate into its last lookup table (3 PBS for a `u8` against a constant);
//! - boolean OR/AND of many flags sums them linearly and bootstraps once;
//! - NOT, addition of clear constants and the linear part of additions need no PBS.
//!
//! Invariants: every ciphertext carries its degree (the largest value it can hold), and every
//! linear combination checks that its result stays in the plaintext space
//! ([`Error::DegreeOverflow`] otherwise: never a silently wrong value); every block of a
//! [`RadixCiphertext`] returned by an operation is clean (degree below the message modulus)
//! with a noise no larger than one fresh PBS output.
//!
//! ```
//! use glovebox_driver::{Driver, DriverConfig};
//! use glovebox_engine::prelude::*;
//! use glovebox_integer::*;
//! use std::sync::Arc;
//! let client = ClientKey::new(&TEST_PARAMS_INSECURE)?;
//! let server = Arc::new(client.server_key()?);
//! let driver = Driver::new(Arc::new(CpuBackend::new()), server.clone(), DriverConfig::default())?;
//! let ints = IntegerServer::new(&driver, &server)?;
//! let hr = encrypt_radix(&client, 131, ints.layout().blocks(8))?;
//! let alert = ints.gt_scalar(&[&hr], 120)?;
//! assert!(decrypt_bool(&client, &alert[0])?);
//! # Ok::<(), glovebox_engine::Error>(())
//! ```
//!
//! Tests: `cargo test --release -p glovebox-integer`.

pub mod arithmetic;
pub mod ciphertext;
pub mod comparison;
pub mod flags;
pub mod linear;
pub mod predicates;
pub mod table_cache;

pub use ciphertext::{
    decrypt_bool, decrypt_radix, encrypt_bool, encrypt_radix, Block, BoolCiphertext,
    RadixCiphertext, RadixLayout,
};
pub use comparison::Comparison;
pub use flags::count_flags_bootstraps;
pub use predicates::{CompactU8, U8Predicate};
pub use table_cache::TableKey;

use glovebox_driver::{Driver, JobHandle};
use glovebox_engine::prelude::*;
use std::sync::Arc;
use table_cache::{ManyTable, OneTable, TableCache};

/// The integer evaluator: a driver, the server key's layout and a cache of lookup tables.
/// Its operations are spread over the modules by kind ([`arithmetic`], [`comparison`],
/// [`predicates`], [`flags`], [`linear`]).
pub struct IntegerServer<'a> {
    driver: &'a Driver,
    server_key: &'a ServerKey,
    layout: RadixLayout,
    /// The server key's parameters fingerprint, computed once.
    fingerprint: u64,
    tables: TableCache,
}

impl<'a> IntegerServer<'a> {
    /// An evaluator over `driver`, which must run `server_key`'s parameters.
    pub fn new(driver: &'a Driver, server_key: &'a ServerKey) -> Result<Self> {
        if driver.parameters().fingerprint() != server_key.parameters().fingerprint() {
            return Err(Error::ParameterMismatch {
                expected: driver.parameters().name.into(),
                got: server_key.parameters().name.into(),
            });
        }
        Ok(Self {
            driver,
            server_key,
            layout: RadixLayout::new(server_key.parameters())?,
            fingerprint: server_key.parameters().fingerprint(),
            tables: TableCache::default(),
        })
    }

    /// Block width and message modulus of the parameters.
    pub fn layout(&self) -> &RadixLayout {
        &self.layout
    }

    /// Distinct lookup tables built so far (each built once per definition).
    pub fn cached_tables(&self) -> usize {
        self.tables.len()
    }

    /// Checks that `b` was made under this server key's parameters and client key (the
    /// engine's [`glovebox_engine::shortint::check_ciphertext`], with its wording).
    fn check_block(&self, b: &Block) -> Result<()> {
        let p = self.server_key.parameters();
        if b.ct.parameters_fingerprint != self.fingerprint
            || b.ct.key_id != self.server_key.key_id()
            || b.ct.ct.lwe_dimension() != p.big_lwe_dimension()
        {
            glovebox_engine::shortint::check_ciphertext(p, self.server_key.key_id(), &b.ct)?;
        }
        Ok(())
    }

    fn msg(&self) -> u64 {
        self.layout.message_modulus
    }

    /// The one-function table of `f` (built once per distinct function).
    fn table(&self, f: impl Fn(u64) -> u64) -> Result<Arc<OneTable>> {
        self.tables.one(self.server_key, &self.layout, f)
    }

    /// The table holding all of `fns` in one rotation.
    fn many_table(&self, fns: &[&dyn Fn(u64) -> u64]) -> Result<Arc<ManyTable>> {
        self.tables.many(self.server_key, &self.layout, fns)
    }

    /// The message of a block: `v mod m` (a clean block).
    fn message_table(&self) -> Result<Arc<OneTable>> {
        let m = self.msg();
        self.table(move |v| v % m)
    }

    /// The carry of a block: `v / m`.
    fn carry_table(&self) -> Result<Arc<OneTable>> {
        let m = self.msg();
        self.table(move |v| v / m)
    }

    /// Programmable bootstraps of blocks, one function each, in one round through the
    /// driver: output `i` encrypts `f_i(x_i)` (its degree the largest value of `f_i` over
    /// `0..=degree(x_i)`). A function's values there must stay in the plaintext space
    /// ([`Error::MessageOutOfRange`] otherwise); it is not called past the input's degree.
    ///
    /// ```
    /// use glovebox_driver::{Driver, DriverConfig};
    /// use glovebox_engine::prelude::*;
    /// use glovebox_integer::*;
    /// use std::sync::Arc;
    /// let client = ClientKey::new(&TEST_PARAMS_INSECURE)?;
    /// let server = Arc::new(client.server_key()?);
    /// let driver = Driver::new(Arc::new(CpuBackend::new()), server.clone(), DriverConfig::default())?;
    /// let ints = IntegerServer::new(&driver, &server)?;
    /// let x = encrypt_radix(&client, 3, 1)?;
    /// let square = |v: u64| v * v;
    /// let out = ints.lookup(vec![(x.blocks()[0].clone(), &square)])?;
    /// assert_eq!(out[0].degree(), 9);
    /// assert_eq!(client.decrypt_message_and_carry(out[0].ciphertext())?, 9);
    /// # Ok::<(), glovebox_engine::Error>(())
    /// ```
    pub fn lookup(&self, jobs: Vec<(Block, &dyn Fn(u64) -> u64)>) -> Result<Vec<Block>> {
        let mut prepared = Vec::with_capacity(jobs.len());
        for (b, f) in jobs {
            self.check_block(&b)?;
            if b.degree >= self.layout.space {
                return Err(Error::DegreeOverflow {
                    what: "lookup input",
                    min: 0,
                    max: b.degree as i64,
                    space: self.layout.space,
                });
            }
            if let Some(v) = (0..=b.degree).map(f).find(|&v| v >= self.layout.space) {
                return Err(Error::MessageOutOfRange {
                    message: v,
                    modulus: self.layout.space,
                });
            }
            // Values past the input's degree never occur: 0 there, so f need not be defined.
            let degree = b.degree;
            prepared.push((b, self.table(move |v| if v <= degree { f(v) } else { 0 })?));
        }
        self.round(prepared)
    }

    /// One round: bootstraps every job through the driver, in one submission; each output's
    /// degree is its table's largest value over the input's possible values.
    fn round(&self, jobs: Vec<(Block, Arc<OneTable>)>) -> Result<Vec<Block>> {
        let degrees: Vec<u64> = jobs
            .iter()
            .map(|(b, t)| t.output_degree(b.degree))
            .collect();
        let outs = self
            .driver
            .bootstrap_many(jobs.into_iter().map(|(b, t)| (b.ct, t.lut.clone())));
        outs.into_iter()
            .zip(degrees)
            .map(|(ct, d)| Ok(Block::new(ct?, d)))
            .collect()
    }

    /// One round of many-function tables: per job, one output per function. An input whose
    /// degree reaches the tables' common domain is refused (it would read another function).
    fn round_many(&self, jobs: Vec<(Block, Arc<ManyTable>)>) -> Result<Vec<Vec<Block>>> {
        let mut degrees = Vec::with_capacity(jobs.len());
        for (b, t) in &jobs {
            if b.degree >= t.input_bound() {
                return Err(Error::DegreeOverflow {
                    what: "many-function table input",
                    min: 0,
                    max: b.degree as i64,
                    space: t.input_bound(),
                });
            }
            degrees.push(t.output_degrees(b.degree));
        }
        let handles: Vec<Result<JobHandle>> = jobs
            .into_iter()
            .map(|(b, t)| self.driver.submit_many(b.ct, t.lut.clone()))
            .collect();
        handles
            .into_iter()
            .zip(degrees)
            .map(|(h, d)| {
                let cts = h.and_then(JobHandle::wait_all)?;
                Ok(cts
                    .into_iter()
                    .zip(d)
                    .map(|(c, d)| Block::new(c, d))
                    .collect())
            })
            .collect()
    }

    /// A trivial (public, noiseless) encryption of `value < space`, degree `value`: for
    /// constants and padding the server builds.
    pub fn trivial(&self, value: u64) -> Result<Block> {
        if value >= self.layout.space {
            return Err(Error::MessageOutOfRange {
                message: value,
                modulus: self.layout.space,
            });
        }
        let p = self.server_key.parameters();
        let mut ct = LweCiphertext::zero(p.big_lwe_dimension());
        ct.plaintext_add_assign(value.wrapping_mul(p.delta()));
        Ok(Block {
            ct: Ciphertext {
                ct,
                parameters_fingerprint: p.fingerprint(),
                key_id: self.server_key.key_id(),
            },
            degree: value,
            noise: 0,
        })
    }

    /// A public integer constant `value` of `blocks` blocks (an error if it does not fit).
    pub fn trivial_radix(&self, value: u64, blocks: usize) -> Result<RadixCiphertext> {
        let bits = self.layout.block_bits as usize * blocks;
        if blocks == 0 || (bits < 64 && value >> bits != 0) {
            return Err(Error::MessageOutOfRange {
                message: value,
                modulus: if bits < 64 { 1 << bits } else { u64::MAX },
            });
        }
        let m = self.layout.message_modulus;
        let blocks = (0..blocks)
            .map(|i| {
                let digit = if (i as u32) * self.layout.block_bits < 64 {
                    (value >> (i as u32 * self.layout.block_bits)) % m
                } else {
                    0
                };
                self.trivial(digit)
            })
            .collect::<Result<_>>()?;
        Ok(RadixCiphertext { blocks })
    }

    /// `x` widened to `blocks` blocks with public zero blocks on the most significant side
    /// (no bootstrap; an error if `x` is wider already).
    pub fn zero_extend(&self, x: &RadixCiphertext, blocks: usize) -> Result<RadixCiphertext> {
        if blocks < x.blocks.len() {
            return Err(Error::InvalidParameters(format!(
                "cannot widen {} blocks to {blocks}",
                x.blocks.len()
            )));
        }
        let mut out = x.blocks.clone();
        while out.len() < blocks {
            out.push(self.trivial(0)?);
        }
        Ok(RadixCiphertext { blocks: out })
    }

    /// A public boolean constant.
    pub fn trivial_bool(&self, value: bool) -> BoolCiphertext {
        BoolCiphertext(
            self.trivial(value as u64)
                .expect("0 and 1 are in every space"),
        )
    }
}

/// Checks that every integer of `xs` has the same, non-zero number of blocks; returns it.
fn uniform_width(xs: &[&RadixCiphertext]) -> Result<usize> {
    let w = xs.first().map(|x| x.blocks.len()).unwrap_or(1);
    for x in xs {
        if x.blocks.len() != w || w == 0 {
            return Err(Error::DimensionMismatch {
                what: "radix integer blocks",
                expected: w,
                got: x.blocks.len(),
            });
        }
    }
    Ok(w)
}
