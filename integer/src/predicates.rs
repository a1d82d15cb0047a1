//! Compiled predicates of a `u8`: any predicate whose nibble tables fit (thresholds and
//! ranges always do) in 3 PBS and 2 rounds, and two predicates with their OR in 6 PBS.
//! These need 2-bit blocks (a nibble is two blocks packed as `4·hi + lo`).

use crate::table_cache::OneTable;
use crate::{Block, BoolCiphertext, IntegerServer, RadixCiphertext};
use glovebox_driver::{DriverCastingKey, JobHandle};
use glovebox_engine::prelude::*;
use glovebox_engine::shortint::public_key::CompactCiphertext;
use std::sync::Arc;

/// A `u8` as a public-key device sends it: its two nibbles, each one value of a packed
/// compact list (below 16, under the compact key), not yet cast. Round 1 of
/// [`IntegerServer::predicates_with_or_compact`] casts each nibble in the bootstrap that
/// classifies it, so a reading costs no bootstrap more than one encrypted under the client
/// key.
#[derive(Clone, Debug)]
pub struct CompactU8 {
    pub high: CompactCiphertext,
    pub low: CompactCiphertext,
}

/// A round-1 input: a nibble packed from two blocks, or one still to cast.
enum Nibble {
    Packed(Block),
    Cast(CompactCiphertext),
}

/// A predicate of a `u8`, compiled for evaluation in 3 PBS and 2 rounds. Write
/// x = 16·h + l; the 16 functions `l ↦ p(16h + l)` must fall into at most two non-constant
/// tables T1, T2 (plus constant-false and constant-true). Round 1 bootstraps h to its class
/// A ∈ {false, true, T1, T2} and l to B = 2·T2(l) + T1(l); round 2 reads the answer off
/// 4·A + B. Thresholds (`x > c`) and ranges (`x < lo ∨ x > hi`) always fit.
///
/// ```
/// use glovebox_integer::U8Predicate;
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
    /// Compiles `p`; `name` labels it in reports and errors only (its lookup tables are
    /// identified by what they compute). `None` when `p` needs more than two non-constant
    /// nibble tables.
    pub fn compile(name: &str, p: impl Fn(u64) -> bool) -> Option<Self> {
        let table =
            |h: u64| -> u16 { (0..16).fold(0u16, |t, l| t | ((p(16 * h + l) as u16) << l)) };
        let mut tables: Vec<u16> = Vec::new();
        let mut class = [0u64; 16];
        for h in 0..16u64 {
            class[h as usize] = match table(h) {
                0 => 0,
                0xFFFF => 1,
                t => {
                    let i = tables.iter().position(|&x| x == t).unwrap_or_else(|| {
                        tables.push(t);
                        tables.len() - 1
                    });
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

impl IntegerServer<'_> {
    /// Checks that `x` is a `u8` of 2-bit blocks (4 blocks), what compiled predicates need.
    fn check_u8_of_nibbles(&self, x: &RadixCiphertext) -> Result<()> {
        if self.layout.block_bits != 2 {
            return Err(Error::InvalidParameters(format!(
                "compiled u8 predicates need 2-bit blocks; these parameters have {}-bit blocks",
                self.layout.block_bits
            )));
        }
        if x.blocks.len() != self.layout.blocks(8) {
            return Err(Error::DimensionMismatch {
                what: "radix integer blocks (u8 predicate)",
                expected: self.layout.blocks(8),
                got: x.blocks.len(),
            });
        }
        Ok(())
    }

    /// The high and low nibbles of a `u8`, each packed as `4·hi + lo` (no PBS).
    fn nibbles(&self, x: &RadixCiphertext) -> Result<(Block, Block)> {
        let m = self.msg() as i64;
        Ok((
            self.lin(&[(&x.blocks[3], m), (&x.blocks[2], 1)], 0)?,
            self.lin(&[(&x.blocks[1], m), (&x.blocks[0], 1)], 0)?,
        ))
    }

    /// Round-1 tables of a compiled `u8` predicate: high nibble to its class A, low nibble to
    /// B = 2·T2(l) + T1(l).
    fn predicate_nibble_tables(
        &self,
        pred: &U8Predicate,
    ) -> Result<(Arc<OneTable>, Arc<OneTable>)> {
        let (class, t1, t2) = (pred.class, pred.t1, pred.t2);
        let a = self.table(move |h| class[(h % 16) as usize])?;
        let b = self.table(move |l| {
            let l = l % 16;
            2 * ((t2 >> l) & 1) as u64 + ((t1 >> l) & 1) as u64
        })?;
        Ok((a, b))
    }

    /// Round-2 table of every compiled `u8` predicate: the answer read off 4·A + B.
    fn predicate_final_table(&self) -> Result<Arc<OneTable>> {
        self.table(|v| {
            let (a, b) = (v / 4, v % 4);
            match a {
                0 => 0,
                1 => 1,
                2 => b & 1,
                _ => b >> 1,
            }
        })
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
            self.check_u8_of_nibbles(x)?;
        }
        let final_table = self.predicate_final_table()?;
        let mut jobs = Vec::with_capacity(2 * items.len());
        for (x, pred) in items {
            let (a_table, b_table) = self.predicate_nibble_tables(pred)?;
            let (h, l) = self.nibbles(x)?;
            jobs.push((h, a_table));
            jobs.push((l, b_table));
        }
        let ab = self.round(jobs)?;
        let mut jobs = Vec::with_capacity(items.len());
        for pair in ab.chunks(2) {
            jobs.push((
                self.lin(&[(&pair[0], 4), (&pair[1], 1)], 0)?,
                final_table.clone(),
            ));
        }
        Ok(self.round(jobs)?.into_iter().map(BoolCiphertext).collect())
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
            self.check_u8_of_nibbles(x)?;
            self.check_u8_of_nibbles(y)?;
            if !q.is_threshold() {
                return Err(Error::InvalidParameters(format!(
                    "predicate `{}` is not a threshold (needs one nibble table)",
                    q.name
                )));
            }
        }
        // Round 1: both nibbles of x and of y, 4 PBS per item.
        let mut jobs = Vec::with_capacity(4 * items.len());
        for (x, p, y, q) in items {
            let (xh, xl) = self.nibbles(x)?;
            let (yh, yl) = self.nibbles(y)?;
            let nibbles = [xh, xl, yh, yl].map(Nibble::Packed);
            jobs.extend(
                nibbles
                    .into_iter()
                    .zip(self.p_and_threshold_nibble_tables(p, q)?),
            );
        }
        let r1 = self.nibble_round(None, jobs)?;
        self.predicates_with_or_after_round_1(r1)
    }

    /// [`Self::predicates_with_or`] on readings from public-key devices: each `u8` arrives as
    /// two packed compact values ([`CompactU8`]), and round 1 bootstraps each straight from
    /// the casting keyswitch (`casting`, this server's client key's). The same 6 PBS an item,
    /// the same outputs.
    pub fn predicates_with_or_compact(
        &self,
        casting: &DriverCastingKey,
        items: &[(&CompactU8, &U8Predicate, &CompactU8, &U8Predicate)],
    ) -> Result<Vec<[BoolCiphertext; 3]>> {
        if self.layout.block_bits != 2 {
            return Err(Error::InvalidParameters(format!(
                "compiled u8 predicates need 2-bit blocks; these parameters have {}-bit blocks",
                self.layout.block_bits
            )));
        }
        let mut jobs = Vec::with_capacity(4 * items.len());
        for (x, p, y, q) in items {
            if !q.is_threshold() {
                return Err(Error::InvalidParameters(format!(
                    "predicate `{}` is not a threshold (needs one nibble table)",
                    q.name
                )));
            }
            for v in [&x.high, &x.low, &y.high, &y.low] {
                if v.bound() != 16 {
                    return Err(Error::InvalidParameters(format!(
                        "a nibble of a compact u8 is a packed value below 16; this one is \
                         below {}",
                        v.bound()
                    )));
                }
            }
            let nibbles = [&x.high, &x.low, &y.high, &y.low].map(|v| Nibble::Cast(v.clone()));
            jobs.extend(
                nibbles
                    .into_iter()
                    .zip(self.p_and_threshold_nibble_tables(p, q)?),
            );
        }
        let r1 = self.nibble_round(Some(casting), jobs)?;
        self.predicates_with_or_after_round_1(r1)
    }

    /// One round over nibbles: packed ones through the driver's server keyswitch, cast ones
    /// through `casting`'s; all submitted before any is awaited.
    fn nibble_round(
        &self,
        casting: Option<&DriverCastingKey>,
        jobs: Vec<(Nibble, Arc<OneTable>)>,
    ) -> Result<Vec<Block>> {
        let mut handles = Vec::with_capacity(jobs.len());
        for (nibble, t) in jobs {
            let (handle, degree) = match nibble {
                Nibble::Packed(b) => {
                    let degree = t.output_degree(b.degree);
                    (self.driver.submit(b.ct, t.lut.clone()), degree)
                }
                Nibble::Cast(v) => {
                    let casting = casting.ok_or_else(|| {
                        Error::InvalidParameters("a compact nibble without a casting key".into())
                    })?;
                    let degree = t.output_degree(v.bound() - 1);
                    (self.driver.submit_cast(casting, v, t.lut.clone()), degree)
                }
            };
            handles.push((handle, degree));
        }
        handles
            .into_iter()
            .map(|(h, d)| Ok(Block::new(h.and_then(JobHandle::wait)?, d)))
            .collect()
    }

    /// Rounds 2 and 3 of [`Self::predicates_with_or`], from round 1's four nibble classes an
    /// item.
    fn predicates_with_or_after_round_1(&self, r1: Vec<Block>) -> Result<Vec<[BoolCiphertext; 3]>> {
        // Round 2: p(x) from 4·A + B.
        let final_table = self.predicate_final_table()?;
        let mut jobs = Vec::with_capacity(r1.len() / 4);
        for o in r1.chunks(4) {
            jobs.push((self.lin(&[(&o[0], 4), (&o[1], 1)], 0)?, final_table.clone()));
        }
        let p_flags = self.round(jobs)?;
        // Round 3: W = 4·p(x) + S through one table of two functions: q(y) and the OR.
        let or_table = self.many_table(&[&|w| (w % 4 >= 2) as u64, &|w| {
            (w / 4 == 1 || w % 4 >= 2) as u64
        }])?;
        let mut jobs = Vec::with_capacity(p_flags.len());
        for (o, pf) in r1.chunks(4).zip(&p_flags) {
            let w = self.lin(&[(pf, 4), (&o[2], 1), (&o[3], 1)], 0)?;
            jobs.push((w, or_table.clone()));
        }
        let r3 = self.round_many(jobs)?;
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

    /// Round-1 tables of [`Self::predicates_with_or`] for one item, in the order x's high
    /// and low nibble (to A and B), y's high nibble (to its code: 0 false, 1 table, 2 true)
    /// and low nibble (to T1).
    fn p_and_threshold_nibble_tables(
        &self,
        p: &U8Predicate,
        q: &U8Predicate,
    ) -> Result<[Arc<OneTable>; 4]> {
        let (a_table, b_table) = self.predicate_nibble_tables(p)?;
        let (qclass, qt1) = (q.class, q.t1);
        let code = self.table(move |h| match qclass[(h % 16) as usize] {
            0 => 0,
            1 => 2,
            _ => 1,
        })?;
        let low = self.table(move |l| ((qt1 >> (l % 16)) & 1) as u64)?;
        Ok([a_table, b_table, code, low])
    }
}
