//! Encrypted unsigned integers in radix form: little-endian blocks of 2 message bits
//! (`u8` = 4 blocks, `u16` = 8 blocks) over the 2-bit-message, 2-bit-carry parameters, like
//! TFHE-rs's `integer` layer. Every bootstrap goes through the [`Driver`], and every operation
//! works on a whole slice of inputs at once, so a computation over many patients and readings
//! runs as a few large batches ("rounds") instead of many small ones.
//!
//! Techniques that keep the bootstrap count down:
//! - comparisons pack two blocks into one (`4·hi + lo`, a bivariate lookup table) so one PBS
//!   compares two blocks against the clear constant, and the combination tree folds the final
//!   predicate into its last lookup table (3 PBS for a `u8` against a constant);
//! - boolean OR/AND of many flags sums them linearly and bootstraps once;
//! - NOT, addition of clear constants and the linear part of additions need no PBS.
//!
//! Invariant: every block of a [`RadixCiphertext`] returned by an operation has an empty carry
//! (its value is in 0..4) and a noise no larger than one fresh PBS output.
//!
//! ```
//! use glovebox_driver::{Driver, DriverConfig, integer::*};
//! use glovebox_engine::prelude::*;
//! use std::sync::Arc;
//! let client = ClientKey::new(&TEST_PARAMS_INSECURE)?;
//! let server = Arc::new(client.server_key()?);
//! let driver = Driver::new(Arc::new(CpuBackend::new()), server.clone(), DriverConfig::default())?;
//! let ints = IntegerServer::new(&driver, &server);
//! let hr = encrypt_radix(&client, 131, U8_BLOCKS)?;
//! let alert = ints.gt_scalar(&[&hr], 120)?;
//! assert!(decrypt_bool(&client, &alert[0])?);
//! # Ok::<(), glovebox_engine::Error>(())
//! ```

use crate::Driver;
use glovebox_engine::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Bits of message per block.
pub const BLOCK_BITS: u32 = 2;
/// Blocks of a `u8`.
pub const U8_BLOCKS: usize = 4;
/// Blocks of a `u16`.
pub const U16_BLOCKS: usize = 8;

/// An encrypted unsigned integer: little-endian 2-bit blocks.
#[derive(Clone, Debug)]
pub struct RadixCiphertext {
    pub blocks: Vec<Ciphertext>,
}

/// An encrypted boolean (0 or 1 in the message bits).
#[derive(Clone, Debug)]
pub struct BoolCiphertext(pub Ciphertext);

/// Encrypts `value` as `num_blocks` blocks.
pub fn encrypt_radix(client: &ClientKey, value: u64, num_blocks: usize) -> Result<RadixCiphertext> {
    let bits = BLOCK_BITS as usize * num_blocks;
    if num_blocks == 0 || bits > 64 || (bits < 64 && value >> bits != 0) {
        return Err(Error::MessageOutOfRange {
            message: value,
            modulus: if bits >= 64 { u64::MAX } else { 1 << bits },
        });
    }
    let blocks = (0..num_blocks)
        .map(|i| client.encrypt((value >> (2 * i)) & 3))
        .collect::<Result<_>>()?;
    Ok(RadixCiphertext { blocks })
}

/// Decrypts a radix integer.
pub fn decrypt_radix(client: &ClientKey, ct: &RadixCiphertext) -> Result<u64> {
    let mut v = 0u64;
    for (i, b) in ct.blocks.iter().enumerate() {
        v |= client.decrypt(b)? << (2 * i);
    }
    Ok(v)
}

/// Encrypts a boolean.
pub fn encrypt_bool(client: &ClientKey, value: bool) -> Result<BoolCiphertext> {
    Ok(BoolCiphertext(client.encrypt(value as u64)?))
}

/// Decrypts a boolean.
pub fn decrypt_bool(client: &ClientKey, ct: &BoolCiphertext) -> Result<bool> {
    Ok(client.decrypt(&ct.0)? == 1)
}

/// A comparison's outcome per block (pair): 0 = less, 1 = equal, 2 = greater.
const LESS: u64 = 0;
const EQUAL: u64 = 1;
const GREATER: u64 = 2;

fn sign(a: u64, b: u64) -> u64 {
    match a.cmp(&b) {
        std::cmp::Ordering::Less => LESS,
        std::cmp::Ordering::Equal => EQUAL,
        std::cmp::Ordering::Greater => GREATER,
    }
}

/// A predicate on the outcome of a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Comparison {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Comparison {
    fn holds(self, s: u64) -> bool {
        match self {
            Comparison::Gt => s == GREATER,
            Comparison::Ge => s != LESS,
            Comparison::Lt => s == LESS,
            Comparison::Le => s != GREATER,
            Comparison::Eq => s == EQUAL,
            Comparison::Ne => s != EQUAL,
        }
    }
}

/// Linear (PBS-free) operations on ciphertexts.
fn lin(parts: &[(&Ciphertext, u64)], plaintext: u64, delta: u64) -> Result<Ciphertext> {
    let mut out = parts[0].0.clone();
    out.ct.scalar_mul_assign(parts[0].1);
    for (c, k) in &parts[1..] {
        let mut t = c.ct.clone();
        t.scalar_mul_assign(*k);
        out.ct.add_assign(&t)?;
    }
    out.ct.plaintext_add_assign(plaintext.wrapping_mul(delta));
    Ok(out)
}

/// A predicate of a `u8`, compiled for evaluation in 3 PBS and 2 rounds. Write
/// x = 16·h + l; the 16 functions `l ↦ p(16h + l)` must fall into at most two non-constant
/// tables T1, T2 (plus constant-false and constant-true). Round 1 bootstraps h to its class
/// A ∈ {false, true, T1, T2} and l to B = 2·T2(l) + T1(l); round 2 reads the answer off
/// 4·A + B. Thresholds (`x > c`) and ranges (`x < lo ∨ x > hi`) always fit.
///
/// ```
/// use glovebox_driver::integer::U8Predicate;
/// assert!(U8Predicate::compile("hr_out_of_50_120", |x| x < 50 || x > 120).is_some());
/// assert!(U8Predicate::compile("divisible_by_3", |x| x % 3 == 0).is_none());
/// ```
#[derive(Clone, Debug)]
pub struct U8Predicate {
    name: String,
    class: [u64; 16],
    t1: u16,
    t2: u16,
    truth: [bool; 256],
}

impl U8Predicate {
    /// Compiles `p` (the name identifies its lookup tables in the evaluator's cache: one name
    /// per distinct predicate). `None` when `p` needs more than two non-constant nibble tables.
    pub fn compile(name: &str, p: impl Fn(u64) -> bool) -> Option<Self> {
        let table =
            |h: u64| -> u16 { (0..16).fold(0u16, |t, l| t | ((p(16 * h + l) as u16) << l)) };
        let mut tables: Vec<u16> = Vec::new();
        let mut class = [0u64; 16];
        for h in 0..16u64 {
            let t = table(h);
            class[h as usize] = match t {
                0 => 0,
                0xFFFF => 1,
                t => {
                    let i = match tables.iter().position(|&x| x == t) {
                        Some(i) => i,
                        None => {
                            tables.push(t);
                            tables.len() - 1
                        }
                    };
                    if i >= 2 {
                        return None;
                    }
                    2 + i as u64
                }
            };
        }
        let mut truth = [false; 256];
        for (x, t) in truth.iter_mut().enumerate() {
            *t = p(x as u64);
        }
        Some(Self {
            name: name.to_string(),
            class,
            t1: tables.first().copied().unwrap_or(0),
            t2: tables.get(1).copied().unwrap_or(0),
            truth,
        })
    }

    /// True when at most one non-constant nibble table occurs and every high nibble is
    /// false, true or that table: the shape of `x < c`, `x > c` (and constants).
    pub fn is_threshold(&self) -> bool {
        self.t2 == 0 && self.class.iter().all(|&c| c <= 2)
    }

    /// The predicate on a clear value (for checking decrypted results).
    pub fn holds(&self, x: u8) -> bool {
        self.truth[x as usize]
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The integer evaluator: a driver and a cache of lookup tables.
pub struct IntegerServer<'a> {
    driver: &'a Driver,
    server_key: &'a ServerKey,
    luts: Mutex<HashMap<String, Arc<LookupTable>>>,
}

impl<'a> IntegerServer<'a> {
    pub fn new(driver: &'a Driver, server_key: &'a ServerKey) -> Self {
        Self {
            driver,
            server_key,
            luts: Mutex::new(HashMap::new()),
        }
    }

    fn delta(&self) -> u64 {
        self.server_key.parameters().delta()
    }

    /// The lookup table named `key` (built once from `f`).
    fn lut(&self, key: String, f: impl Fn(u64) -> u64) -> Arc<LookupTable> {
        self.cached(key, || self.server_key.generate_lookup_table(f))
    }

    /// The table named `key`, built once by `make`.
    fn cached(&self, key: String, make: impl FnOnce() -> LookupTable) -> Arc<LookupTable> {
        let mut luts = self.luts.lock().unwrap_or_else(|e| e.into_inner());
        luts.entry(key).or_insert_with(|| Arc::new(make())).clone()
    }

    /// Round-1 tables of a compiled `u8` predicate: high nibble to its class A, low nibble to
    /// B = 2·T2(l) + T1(l).
    fn predicate_nibble_luts(&self, pred: &U8Predicate) -> (Arc<LookupTable>, Arc<LookupTable>) {
        let (class, t1, t2) = (pred.class, pred.t1, pred.t2);
        let a = self.lut(format!("pred_h_{}", pred.name), move |h| {
            class[(h % 16) as usize]
        });
        let b = self.lut(format!("pred_l_{}", pred.name), move |l| {
            let l = l % 16;
            2 * ((t2 >> l) & 1) as u64 + ((t1 >> l) & 1) as u64
        });
        (a, b)
    }

    /// Round-2 table of every compiled `u8` predicate: the answer read off 4·A + B.
    fn predicate_final_lut(&self) -> Arc<LookupTable> {
        self.lut("pred_final".into(), |v| {
            let (a, b) = (v / 4, v % 4);
            match a {
                0 => 0,
                1 => 1,
                2 => b & 1,
                _ => b >> 1,
            }
        })
    }

    /// One round: bootstraps every job through the driver, in one submission.
    fn round(&self, jobs: Vec<(Ciphertext, Arc<LookupTable>)>) -> Result<Vec<Ciphertext>> {
        self.driver.bootstrap_many(jobs).into_iter().collect()
    }

    /// One round of tables with several outputs each.
    fn round_multi(
        &self,
        jobs: Vec<(Ciphertext, Arc<LookupTable>)>,
    ) -> Result<Vec<Vec<Ciphertext>>> {
        let handles: Vec<Result<crate::JobHandle>> = jobs
            .into_iter()
            .map(|(c, l)| self.driver.submit(c, l))
            .collect();
        handles
            .into_iter()
            .map(|h| h.and_then(crate::JobHandle::wait_all))
            .collect()
    }

    /// Two `u8` predicates and their OR, per item `(x, p, y, q)`: `[p(x), q(y), p(x) ∨ q(y)]`
    /// in 6 blind rotations and 3 rounds instead of 7 — `q` must be a threshold (one
    /// non-constant nibble table, [`U8Predicate::is_threshold`]), so that `q(y)` is a linear
    /// read-off of its round-1 outputs: S = code(h) + T1(l) with code ∈ {0 false, 1 T1,
    /// 2 true}, `q(y) ⇔ S ≥ 2`. Round 2 finishes `p(x)`; round 3 bootstraps W = 4·p(x) + S
    /// (< 8) once through a two-function table that yields `q(y)` and the OR.
    pub fn predicates_with_or(
        &self,
        items: &[(
            &RadixCiphertext,
            &U8Predicate,
            &RadixCiphertext,
            &U8Predicate,
        )],
    ) -> Result<Vec<[BoolCiphertext; 3]>> {
        for (x, _, y, q) in items {
            for v in [x, y] {
                if v.blocks.len() != U8_BLOCKS {
                    return Err(Error::DimensionMismatch {
                        what: "radix integer blocks (u8 predicate)",
                        expected: U8_BLOCKS,
                        got: v.blocks.len(),
                    });
                }
            }
            if !q.is_threshold() {
                return Err(Error::InvalidParameters(format!(
                    "predicate `{}` is not a threshold (needs one nibble table)",
                    q.name
                )));
            }
        }
        let final_lut = self.predicate_final_lut();
        let or_lut = self.cached("threshold_and_or".into(), || {
            self.server_key
                .generate_many_lookup_table(&[&|w| (w % 4 >= 2) as u64, &|w| {
                    (w / 4 == 1 || w % 4 >= 2) as u64
                }])
                .expect("two functions fit 16 boxes")
        });
        let mut jobs = Vec::with_capacity(4 * items.len());
        for (x, p, y, q) in items {
            let (a_lut, b_lut) = self.predicate_nibble_luts(p);
            jobs.push((
                lin(&[(&x.blocks[3], 4), (&x.blocks[2], 1)], 0, self.delta())?,
                a_lut,
            ));
            jobs.push((
                lin(&[(&x.blocks[1], 4), (&x.blocks[0], 1)], 0, self.delta())?,
                b_lut,
            ));
            let (qclass, qt1) = (q.class, q.t1);
            jobs.push((
                lin(&[(&y.blocks[3], 4), (&y.blocks[2], 1)], 0, self.delta())?,
                self.lut(format!("thr_h_{}", q.name), move |h| {
                    match qclass[(h % 16) as usize] {
                        0 => 0,
                        1 => 2,
                        _ => 1,
                    }
                }),
            ));
            jobs.push((
                lin(&[(&y.blocks[1], 4), (&y.blocks[0], 1)], 0, self.delta())?,
                self.lut(format!("thr_l_{}", q.name), move |l| {
                    ((qt1 >> (l % 16)) & 1) as u64
                }),
            ));
        }
        let r1 = self.round(jobs)?;
        let mut jobs = Vec::with_capacity(items.len());
        for o in r1.chunks(4) {
            jobs.push((
                lin(&[(&o[0], 4), (&o[1], 1)], 0, self.delta())?,
                final_lut.clone(),
            ));
        }
        let p_flags = self.round(jobs)?;
        let mut jobs = Vec::with_capacity(items.len());
        for (o, pf) in r1.chunks(4).zip(&p_flags) {
            jobs.push((
                lin(&[(pf, 4), (&o[2], 1), (&o[3], 1)], 0, self.delta())?,
                or_lut.clone(),
            ));
        }
        let r3 = self.round_multi(jobs)?;
        Ok(p_flags
            .into_iter()
            .zip(r3)
            .map(|(pf, mut qo)| {
                let any = qo.pop().expect("two outputs");
                let q = qo.pop().expect("two outputs");
                [BoolCiphertext(pf), BoolCiphertext(q), BoolCiphertext(any)]
            })
            .collect())
    }

    /// Compares every `x` with the clear constant `c` under `predicate`.
    pub fn compare_scalar(
        &self,
        xs: &[&RadixCiphertext],
        c: u64,
        predicate: Comparison,
    ) -> Result<Vec<BoolCiphertext>> {
        let blocks = uniform_width(xs)?;
        let c_blocks: Vec<u64> = (0..blocks)
            .map(|i| if 2 * i < 64 { (c >> (2 * i)) & 3 } else { 0 })
            .collect();
        let overflow = blocks < 32 && c >> (2 * blocks) != 0;
        if overflow {
            // The constant exceeds every value of this width: the answer is clear.
            let s = LESS;
            return xs
                .iter()
                .map(|x| {
                    Ok(BoolCiphertext(lin(
                        &[(&x.blocks[0], 0)],
                        predicate.holds(s) as u64,
                        self.delta(),
                    )?))
                })
                .collect();
        }
        // Round 1: one PBS per pair of blocks, 4·hi + lo compared with the constant's pair.
        let mut jobs = Vec::new();
        let pairs = blocks.div_ceil(2);
        for x in xs {
            for p in 0..pairs {
                let (lo, hi) = (2 * p, 2 * p + 1);
                if hi < blocks {
                    let packed = lin(&[(&x.blocks[hi], 4), (&x.blocks[lo], 1)], 0, self.delta())?;
                    let cv = c_blocks[hi] * 4 + c_blocks[lo];
                    jobs.push((
                        packed,
                        self.lut(format!("cmp_pair_{cv}"), move |v| sign(v, cv)),
                    ));
                } else {
                    let cv = c_blocks[lo];
                    jobs.push((
                        x.blocks[lo].clone(),
                        self.lut(format!("cmp_block_{cv}"), move |v| sign(v % 4, cv)),
                    ));
                }
            }
        }
        let signs = self.round(jobs)?;
        let signs: Vec<Vec<Ciphertext>> = signs.chunks(pairs).map(|c| c.to_vec()).collect();
        self.reduce_signs(signs, predicate)
    }

    /// Compares `a[i]` with `b[i]` under `predicate`.
    pub fn compare(
        &self,
        pairs_in: &[(&RadixCiphertext, &RadixCiphertext)],
        predicate: Comparison,
    ) -> Result<Vec<BoolCiphertext>> {
        let blocks = uniform_width(
            &pairs_in
                .iter()
                .flat_map(|(a, b)| [*a, *b])
                .collect::<Vec<_>>(),
        )?;
        let mut jobs = Vec::new();
        for (a, b) in pairs_in {
            for i in 0..blocks {
                let packed = lin(&[(&a.blocks[i], 4), (&b.blocks[i], 1)], 0, self.delta())?;
                jobs.push((packed, self.lut("cmp_ab".into(), |v| sign(v / 4, v % 4))));
            }
        }
        let signs = self.round(jobs)?;
        let signs: Vec<Vec<Ciphertext>> = signs.chunks(blocks).map(|c| c.to_vec()).collect();
        self.reduce_signs(signs, predicate)
    }

    /// Reduces per-position signs (least significant first) to one boolean per input: the
    /// most significant non-equal position decides. Pairs are combined with a bivariate table
    /// `4·hi + lo`; the last table applies the predicate.
    fn reduce_signs(
        &self,
        mut signs: Vec<Vec<Ciphertext>>,
        predicate: Comparison,
    ) -> Result<Vec<BoolCiphertext>> {
        let combine = |hi: u64, lo: u64| if hi == EQUAL { lo } else { hi };
        loop {
            let width = signs.first().map(|s| s.len()).unwrap_or(1);
            let last = width <= 2;
            let mut jobs = Vec::new();
            for s in &signs {
                if s.len() == 1 {
                    jobs.push((
                        s[0].clone(),
                        self.lut(format!("pred_{predicate:?}"), move |v| {
                            predicate.holds(v % 4) as u64
                        }),
                    ));
                    continue;
                }
                for p in 0..s.len().div_ceil(2) {
                    if 2 * p + 1 < s.len() {
                        let packed = lin(&[(&s[2 * p + 1], 4), (&s[2 * p], 1)], 0, self.delta())?;
                        let lut = if last {
                            self.lut(format!("combine_pred_{predicate:?}"), move |v| {
                                predicate.holds(combine(v / 4, v % 4)) as u64
                            })
                        } else {
                            self.lut("combine".into(), move |v| combine(v / 4, v % 4))
                        };
                        jobs.push((packed, lut));
                    } else {
                        // An odd one out is carried to the next level unchanged (a clean refresh).
                        jobs.push((s[2 * p].clone(), self.lut("refresh".into(), |v| v % 4)));
                    }
                }
            }
            let out = self.round(jobs)?;
            let next_width = if width == 1 { 1 } else { width.div_ceil(2) };
            signs = out.chunks(next_width).map(|c| c.to_vec()).collect();
            if last {
                return Ok(signs
                    .into_iter()
                    .map(|s| BoolCiphertext(s[0].clone()))
                    .collect());
            }
        }
    }

    /// Any predicate `p` of a `u8` (4 blocks) in 3 PBS and 2 rounds, when it fits (see
    /// [`U8Predicate::compile`]). Returns `Ok(None)` when `p` does not fit (use
    /// [`Self::compare_scalar`] and boolean ops).
    pub fn predicate_u8(
        &self,
        xs: &[&RadixCiphertext],
        name: &str,
        p: impl Fn(u64) -> bool,
    ) -> Result<Option<Vec<BoolCiphertext>>> {
        let Some(pred) = U8Predicate::compile(name, p) else {
            return Ok(None);
        };
        let items: Vec<(&RadixCiphertext, &U8Predicate)> = xs.iter().map(|x| (*x, &pred)).collect();
        self.eval_u8_predicates(&items).map(Some)
    }

    /// Evaluates compiled `u8` predicates, each on its own input, all in the same two rounds
    /// (so several rules over several readings share the driver's batches).
    pub fn eval_u8_predicates(
        &self,
        items: &[(&RadixCiphertext, &U8Predicate)],
    ) -> Result<Vec<BoolCiphertext>> {
        for (x, _) in items {
            if x.blocks.len() != U8_BLOCKS {
                return Err(Error::DimensionMismatch {
                    what: "radix integer blocks (u8 predicate)",
                    expected: U8_BLOCKS,
                    got: x.blocks.len(),
                });
            }
        }
        let final_lut = self.predicate_final_lut();
        let mut jobs = Vec::with_capacity(2 * items.len());
        for (x, pred) in items {
            let (a_lut, b_lut) = self.predicate_nibble_luts(pred);
            let h = lin(&[(&x.blocks[3], 4), (&x.blocks[2], 1)], 0, self.delta())?;
            let l = lin(&[(&x.blocks[1], 4), (&x.blocks[0], 1)], 0, self.delta())?;
            jobs.push((h, a_lut));
            jobs.push((l, b_lut));
        }
        let ab = self.round(jobs)?;
        let mut jobs = Vec::with_capacity(items.len());
        for pair in ab.chunks(2) {
            jobs.push((
                lin(&[(&pair[0], 4), (&pair[1], 1)], 0, self.delta())?,
                final_lut.clone(),
            ));
        }
        Ok(self.round(jobs)?.into_iter().map(BoolCiphertext).collect())
    }

    /// A trivial (public, noiseless) encryption of 0: for padding integers the server builds.
    pub fn trivial_zero(&self) -> Ciphertext {
        Ciphertext {
            ct: LweCiphertext::zero(self.server_key.parameters().big_lwe_dimension()),
            parameters_fingerprint: self.server_key.parameters().fingerprint(),
            key_id: self.server_key.key_id(),
        }
    }

    /// Counts the true flags of each group into a `blocks`-wide integer (wrapping), with a
    /// column-compression counter instead of full-width additions: column i holds encrypted
    /// values of weight 4^i, each with a public upper bound. Each round sums a column's
    /// values linearly into groups whose bound stays ≤ 15, and bootstraps each group to its
    /// message (kept in column i) and, only when its bound reaches 4, its carry (moved to
    /// column i + 1). A column is done when it holds one bootstrapped value ≤ 3. Counting 30
    /// flags costs 11 PBS in 4 rounds; the carry out of the top column is never computed.
    pub fn count_flags(
        &self,
        groups: &[Vec<&BoolCiphertext>],
        blocks: usize,
    ) -> Result<Vec<RadixCiphertext>> {
        if blocks == 0 {
            return Err(Error::InvalidParameters(
                "a flag count needs at least 1 block".into(),
            ));
        }
        if groups.iter().any(|g| g.is_empty()) {
            return Err(Error::InvalidParameters("count of no flags".into()));
        }
        // Per group, per column: (value, bound, is a bootstrap output or a fresh flag).
        type Entry = (Ciphertext, u64);
        let mut columns: Vec<Vec<Vec<Entry>>> = groups
            .iter()
            .map(|g| {
                let mut cols = vec![Vec::new(); blocks];
                cols[0] = g.iter().map(|b| (b.0.clone(), 1)).collect();
                cols
            })
            .collect();
        let msg = self.lut("msg".into(), |v| v % 4);
        let carry = self.lut("carry".into(), |v| v / 4);
        loop {
            // (group, column, bound) of each job's output, in job order.
            let mut jobs = Vec::new();
            let mut dest: Vec<(usize, usize, u64)> = Vec::new();
            let mut next: Vec<Vec<Vec<Entry>>> =
                columns.iter().map(|_| vec![Vec::new(); blocks]).collect();
            for (g, cols) in columns.iter_mut().enumerate() {
                for (i, col) in cols.iter_mut().enumerate() {
                    let entries = std::mem::take(col);
                    if entries.len() == 1 && entries[0].1 <= 3 {
                        next[g][i].extend(entries);
                        continue;
                    }
                    // Greedy groups with bound ≤ 15.
                    let mut group: Vec<Entry> = Vec::new();
                    let mut bound = 0;
                    let mut flush = |group: &mut Vec<Entry>, bound: u64| -> Result<()> {
                        if group.len() == 1 && bound <= 3 {
                            next[g][i].push(group.pop().expect("one entry"));
                            return Ok(());
                        }
                        let parts: Vec<(&Ciphertext, u64)> =
                            group.iter().map(|(c, _)| (c, 1)).collect();
                        let sum = lin(&parts, 0, self.delta())?;
                        if bound >= 4 && i + 1 < blocks {
                            jobs.push((sum.clone(), carry.clone()));
                            dest.push((g, i + 1, bound / 4));
                        }
                        jobs.push((sum, msg.clone()));
                        dest.push((g, i, bound.min(3)));
                        group.clear();
                        Ok(())
                    };
                    for (c, b) in entries {
                        if bound + b > 15 {
                            flush(&mut group, bound)?;
                            bound = 0;
                        }
                        bound += b;
                        group.push((c, b));
                    }
                    if !group.is_empty() {
                        flush(&mut group, bound)?;
                    }
                }
            }
            let done = jobs.is_empty();
            if !done {
                for (out, (g, i, bound)) in self.round(jobs)?.into_iter().zip(dest) {
                    next[g][i].push((out, bound));
                }
            }
            columns = next;
            if done {
                break;
            }
        }
        Ok(columns
            .into_iter()
            .map(|cols| RadixCiphertext {
                blocks: cols
                    .into_iter()
                    .map(|mut col| match col.pop() {
                        Some((c, _)) => c,
                        None => self.trivial_zero(),
                    })
                    .collect(),
            })
            .collect())
    }

    pub fn gt_scalar(&self, xs: &[&RadixCiphertext], c: u64) -> Result<Vec<BoolCiphertext>> {
        self.compare_scalar(xs, c, Comparison::Gt)
    }
    pub fn lt_scalar(&self, xs: &[&RadixCiphertext], c: u64) -> Result<Vec<BoolCiphertext>> {
        self.compare_scalar(xs, c, Comparison::Lt)
    }

    /// Adds `a[i] + b[i]` (wrapping at the width), propagating carries block by block.
    pub fn add(
        &self,
        pairs: &[(&RadixCiphertext, &RadixCiphertext)],
    ) -> Result<Vec<RadixCiphertext>> {
        let sums = pairs
            .iter()
            .map(|(a, b)| {
                check_same_width(a, b)?;
                a.blocks
                    .iter()
                    .zip(&b.blocks)
                    .map(|(x, y)| lin(&[(x, 1), (y, 1)], 0, self.delta()))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        self.propagate(sums)
    }

    /// Subtracts `a[i] − b[i]` (wrapping): a + (NOT b) + 1.
    pub fn sub(
        &self,
        pairs: &[(&RadixCiphertext, &RadixCiphertext)],
    ) -> Result<Vec<RadixCiphertext>> {
        let sums = pairs
            .iter()
            .map(|(a, b)| {
                check_same_width(a, b)?;
                a.blocks
                    .iter()
                    .zip(&b.blocks)
                    .enumerate()
                    .map(|(i, (x, y))| {
                        // x + (3 − y) (+ 1 on block 0): values in 0..8.
                        lin(&[(x, 1), (y, u64::MAX)], 3 + (i == 0) as u64, self.delta())
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        self.propagate(sums)
    }

    /// Sums many integers of one width (wrapping): blockwise sums of up to four values at a
    /// time (so a block never exceeds the 4-bit space), then carry propagation.
    pub fn sum(&self, groups: &[Vec<&RadixCiphertext>]) -> Result<Vec<RadixCiphertext>> {
        let mut accs: Vec<RadixCiphertext> = Vec::with_capacity(groups.len());
        for g in groups {
            let first = g
                .first()
                .ok_or_else(|| Error::InvalidParameters("sum of no integers".into()))?;
            for x in g {
                check_same_width(first, x)?;
            }
            accs.push((*first).clone());
        }
        let mut next = 1;
        let longest = groups.iter().map(|g| g.len()).max().unwrap_or(0);
        while next < longest {
            let mut sums = Vec::with_capacity(groups.len());
            for (acc, g) in accs.iter().zip(groups) {
                let take: Vec<&RadixCiphertext> = g.iter().skip(next).take(4).copied().collect();
                let blocks = (0..acc.blocks.len())
                    .map(|i| {
                        let mut parts = vec![(&acc.blocks[i], 1u64)];
                        parts.extend(take.iter().map(|x| (&x.blocks[i], 1u64)));
                        lin(&parts, 0, self.delta())
                    })
                    .collect::<Result<Vec<_>>>()?;
                sums.push(blocks);
            }
            accs = self.propagate_wide(sums)?;
            next += 4;
        }
        Ok(accs)
    }

    /// Carry propagation of blocks whose values are below 8 (a sum of two blocks and a small
    /// constant): ripple from the least significant block; 2 PBS per block but the top block's
    /// carry (dropped: wrapping) is not computed.
    fn propagate(&self, mut blocks: Vec<Vec<Ciphertext>>) -> Result<Vec<RadixCiphertext>> {
        let width = blocks.first().map(|b| b.len()).unwrap_or(0);
        let msg = self.lut("msg".into(), |v| v % 4);
        let carry = self.lut("carry".into(), |v| v / 4);
        for i in 0..width {
            let mut jobs = Vec::new();
            for b in &blocks {
                jobs.push((b[i].clone(), msg.clone()));
                if i + 1 < width {
                    jobs.push((b[i].clone(), carry.clone()));
                }
            }
            let out = self.round(jobs)?;
            let per = if i + 1 < width { 2 } else { 1 };
            for (b, o) in blocks.iter_mut().zip(out.chunks(per)) {
                b[i] = o[0].clone();
                if i + 1 < width {
                    b[i + 1] = lin(&[(&b[i + 1], 1), (&o[1], 1)], 0, self.delta())?;
                }
            }
        }
        Ok(blocks
            .into_iter()
            .map(|b| RadixCiphertext { blocks: b })
            .collect())
    }

    /// Carry propagation of blocks up to 15: first split every block into message and carry in
    /// one parallel round, shift the carries up one block (now every block is below 7), then
    /// ripple.
    fn propagate_wide(&self, blocks: Vec<Vec<Ciphertext>>) -> Result<Vec<RadixCiphertext>> {
        let width = blocks.first().map(|b| b.len()).unwrap_or(0);
        let msg = self.lut("msg".into(), |v| v % 4);
        let carry = self.lut("carry".into(), |v| v / 4);
        let mut jobs = Vec::new();
        for b in &blocks {
            for (i, block) in b.iter().enumerate() {
                jobs.push((block.clone(), msg.clone()));
                if i + 1 < width {
                    jobs.push((block.clone(), carry.clone()));
                }
            }
        }
        let out = self.round(jobs)?;
        let per_int = 2 * width - 1;
        let mut shifted = Vec::with_capacity(blocks.len());
        for o in out.chunks(per_int) {
            // Block i's message is output 2i (each block but the last also has its carry at 2i + 1).
            let msgs: Vec<&Ciphertext> = (0..width).map(|i| &o[2 * i]).collect();
            let carries: Vec<&Ciphertext> = (0..width - 1).map(|i| &o[2 * i + 1]).collect();
            let mut b = Vec::with_capacity(width);
            for i in 0..width {
                b.push(if i == 0 {
                    msgs[0].clone()
                } else {
                    lin(&[(msgs[i], 1), (carries[i - 1], 1)], 0, self.delta())?
                });
            }
            shifted.push(b);
        }
        self.propagate(shifted)
    }

    /// OR of many flags per group: their sum, bootstrapped once to `sum ≥ 1` (up to 15 flags
    /// per PBS; longer groups are folded in chunks).
    pub fn or_many(&self, groups: &[Vec<&BoolCiphertext>]) -> Result<Vec<BoolCiphertext>> {
        self.fold_flags(groups, "or", |sum, _| (sum >= 1) as u64)
    }

    /// AND of many flags per group: `sum == count`.
    pub fn and_many(&self, groups: &[Vec<&BoolCiphertext>]) -> Result<Vec<BoolCiphertext>> {
        self.fold_flags(groups, "and", |sum, count| (sum == count) as u64)
    }

    fn fold_flags(
        &self,
        groups: &[Vec<&BoolCiphertext>],
        name: &str,
        f: fn(u64, u64) -> u64,
    ) -> Result<Vec<BoolCiphertext>> {
        let mut current: Vec<Vec<Ciphertext>> = groups
            .iter()
            .map(|g| g.iter().map(|b| b.0.clone()).collect())
            .collect();
        if current.iter().any(|g| g.is_empty()) {
            return Err(Error::InvalidParameters(format!("{name} of no flags")));
        }
        loop {
            let mut jobs = Vec::new();
            let mut shape = Vec::new();
            for g in &current {
                let chunks: Vec<&[Ciphertext]> = g.chunks(15).collect();
                shape.push(chunks.len());
                for c in chunks {
                    let parts: Vec<(&Ciphertext, u64)> = c.iter().map(|x| (x, 1)).collect();
                    let count = c.len() as u64;
                    jobs.push((
                        lin(&parts, 0, self.delta())?,
                        self.lut(format!("{name}_{count}"), move |s| f(s, count)),
                    ));
                }
            }
            let out = self.round(jobs)?;
            let mut it = out.into_iter();
            current = shape
                .iter()
                .map(|&n| it.by_ref().take(n).collect())
                .collect();
            if shape.iter().all(|&n| n == 1) {
                return Ok(current
                    .into_iter()
                    .map(|mut g| BoolCiphertext(g.remove(0)))
                    .collect());
            }
        }
    }

    /// NOT of a flag: 1 − b, no PBS.
    pub fn not(&self, b: &BoolCiphertext) -> Result<BoolCiphertext> {
        Ok(BoolCiphertext(lin(&[(&b.0, u64::MAX)], 1, self.delta())?))
    }

    /// min (or max with `max = true`) of `a[i]`, `b[i]`: a comparison, then a per-block select
    /// `flag ? a : b` as two bivariate tables (`4·flag + a`, `4·(1 − flag) + b`) summed.
    pub fn min_max(
        &self,
        pairs: &[(&RadixCiphertext, &RadixCiphertext)],
        max: bool,
    ) -> Result<Vec<RadixCiphertext>> {
        let pick_a = self.compare(pairs, if max { Comparison::Ge } else { Comparison::Le })?;
        let keep = self.lut(
            "keep_if_flag".into(),
            |v| if v / 4 == 1 { v % 4 } else { 0 },
        );
        let mut jobs = Vec::new();
        for ((a, b), flag) in pairs.iter().zip(&pick_a) {
            let not_flag = self.not(flag)?;
            for i in 0..a.blocks.len() {
                jobs.push((
                    lin(&[(&flag.0, 4), (&a.blocks[i], 1)], 0, self.delta())?,
                    keep.clone(),
                ));
                jobs.push((
                    lin(&[(&not_flag.0, 4), (&b.blocks[i], 1)], 0, self.delta())?,
                    keep.clone(),
                ));
            }
        }
        let out = self.round(jobs)?;
        let mut results = Vec::new();
        let mut it = out.chunks(2);
        for (a, _) in pairs {
            let mut blocks = Vec::new();
            for _ in 0..a.blocks.len() {
                let pair = it.next().expect("two per block");
                blocks.push(lin(&[(&pair[0], 1), (&pair[1], 1)], 0, self.delta())?);
            }
            results.push(RadixCiphertext { blocks });
        }
        Ok(results)
    }
}

fn check_same_width(a: &RadixCiphertext, b: &RadixCiphertext) -> Result<()> {
    if a.blocks.len() != b.blocks.len() || a.blocks.is_empty() {
        return Err(Error::DimensionMismatch {
            what: "radix integer blocks",
            expected: a.blocks.len(),
            got: b.blocks.len(),
        });
    }
    Ok(())
}

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
