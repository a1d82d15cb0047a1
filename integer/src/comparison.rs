//! Comparisons of encrypted integers with each other and with clear constants, and min/max.
//!
//! Every comparison first reduces each position (a block, or a pair of blocks packed as
//! `m·hi + lo`) to its *sign* (less, equal, greater), then folds the signs pairwise from the
//! most significant end, the last table applying the predicate.

use crate::{uniform_width, Block, BoolCiphertext, IntegerServer, RadixCiphertext};
use glovebox_engine::prelude::*;

/// A comparison's outcome per position: 0 = less, 1 = equal, 2 = greater.
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

impl IntegerServer<'_> {
    /// Compares every `x` with the clear constant `c` under `predicate`.
    pub fn compare_scalar(
        &self,
        xs: &[&RadixCiphertext],
        c: u64,
        predicate: Comparison,
    ) -> Result<Vec<BoolCiphertext>> {
        let blocks = uniform_width(xs)?;
        let bits = self.layout.block_bits as usize;
        if bits * blocks < 64 && c >> (bits * blocks) != 0 {
            // The constant exceeds every value of this width: the answer is public.
            let answer = self.trivial_bool(predicate.holds(LESS));
            return Ok(vec![answer; xs.len()]);
        }
        let c_blocks: Vec<u64> = (0..blocks)
            .map(|i| {
                if bits * i < 64 {
                    (c >> (bits * i)) & self.layout.max_message()
                } else {
                    0
                }
            })
            .collect();
        let jobs = self.scalar_sign_jobs(xs, &c_blocks)?;
        let pairs = blocks.div_ceil(2);
        let signs = self.round(jobs)?;
        let signs: Vec<Vec<Block>> = signs.chunks(pairs).map(|c| c.to_vec()).collect();
        self.reduce_signs(signs, predicate)
    }

    /// Round 1 of a comparison with a constant: one PBS per pair of blocks, `m·hi + lo`
    /// compared with the constant's pair (a lone top block compared alone).
    fn scalar_sign_jobs(
        &self,
        xs: &[&RadixCiphertext],
        c_blocks: &[u64],
    ) -> Result<Vec<(Block, std::sync::Arc<crate::table_cache::OneTable>)>> {
        let m = self.msg();
        let blocks = c_blocks.len();
        let mut jobs = Vec::new();
        for x in xs {
            for p in 0..blocks.div_ceil(2) {
                let (lo, hi) = (2 * p, 2 * p + 1);
                if hi < blocks {
                    let packed = self.lin(&[(&x.blocks[hi], m as i64), (&x.blocks[lo], 1)], 0)?;
                    let cv = c_blocks[hi] * m + c_blocks[lo];
                    jobs.push((packed, self.table(move |v| sign(v, cv))?));
                } else {
                    let cv = c_blocks[lo];
                    jobs.push((x.blocks[lo].clone(), self.table(move |v| sign(v % m, cv))?));
                }
            }
        }
        Ok(jobs)
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
        let m = self.msg();
        let cmp = self.table(move |v| sign(v / m, v % m))?;
        let mut jobs = Vec::new();
        for (a, b) in pairs_in {
            for i in 0..blocks {
                let packed = self.lin(&[(&a.blocks[i], m as i64), (&b.blocks[i], 1)], 0)?;
                jobs.push((packed, cmp.clone()));
            }
        }
        let signs = self.round(jobs)?;
        let signs: Vec<Vec<Block>> = signs.chunks(blocks).map(|c| c.to_vec()).collect();
        self.reduce_signs(signs, predicate)
    }

    /// Reduces per-position signs (least significant first) to one boolean per input: the
    /// most significant non-equal position decides. Pairs are combined with a bivariate table
    /// `m·hi + lo`; the last table applies the predicate.
    fn reduce_signs(
        &self,
        mut signs: Vec<Vec<Block>>,
        predicate: Comparison,
    ) -> Result<Vec<BoolCiphertext>> {
        loop {
            let width = signs.first().map(|s| s.len()).unwrap_or(1);
            let last = width <= 2;
            let mut jobs = Vec::new();
            for s in &signs {
                jobs.extend(self.combine_sign_jobs(s, predicate, last)?);
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

    /// One level of the sign tree for one input: pairs combined (the predicate applied when
    /// this is the `last` level), an odd one out refreshed unchanged.
    fn combine_sign_jobs(
        &self,
        s: &[Block],
        predicate: Comparison,
        last: bool,
    ) -> Result<Vec<(Block, std::sync::Arc<crate::table_cache::OneTable>)>> {
        let m = self.msg();
        let combine = move |hi: u64, lo: u64| if hi == EQUAL { lo } else { hi };
        if s.len() == 1 {
            let t = self.table(move |v| predicate.holds(v % m) as u64)?;
            return Ok(vec![(s[0].clone(), t)]);
        }
        let mut jobs = Vec::new();
        for p in 0..s.len().div_ceil(2) {
            if 2 * p + 1 < s.len() {
                let packed = self.lin(&[(&s[2 * p + 1], m as i64), (&s[2 * p], 1)], 0)?;
                let t = if last {
                    self.table(move |v| predicate.holds(combine(v / m, v % m)) as u64)?
                } else {
                    self.table(move |v| combine(v / m, v % m))?
                };
                jobs.push((packed, t));
            } else {
                // An odd one out is carried to the next level unchanged (a clean refresh).
                jobs.push((s[2 * p].clone(), self.message_table()?));
            }
        }
        Ok(jobs)
    }

    pub fn gt_scalar(&self, xs: &[&RadixCiphertext], c: u64) -> Result<Vec<BoolCiphertext>> {
        self.compare_scalar(xs, c, Comparison::Gt)
    }

    pub fn lt_scalar(&self, xs: &[&RadixCiphertext], c: u64) -> Result<Vec<BoolCiphertext>> {
        self.compare_scalar(xs, c, Comparison::Lt)
    }

    /// min (or max with `max = true`) of `a[i]`, `b[i]`: a comparison, then [`Self::select`].
    pub fn min_max(
        &self,
        pairs: &[(&RadixCiphertext, &RadixCiphertext)],
        max: bool,
    ) -> Result<Vec<RadixCiphertext>> {
        let pick_a = self.compare(pairs, if max { Comparison::Ge } else { Comparison::Le })?;
        let choices: Vec<_> = pairs
            .iter()
            .zip(&pick_a)
            .map(|((a, b), flag)| (flag, *a, *b))
            .collect();
        self.select(&choices)
    }

    /// `flag ? a : b` for every `(flag, a, b)` (same widths): per block, two bivariate tables
    /// (`m·flag + a`, `m·(1 − flag) + b`, each keeping its value where its flag is 1) summed;
    /// 2 PBS per block.
    pub fn select(
        &self,
        choices: &[(&BoolCiphertext, &RadixCiphertext, &RadixCiphertext)],
    ) -> Result<Vec<RadixCiphertext>> {
        let m = self.msg();
        let keep = self.table(move |v| if v / m == 1 { v % m } else { 0 })?;
        let mut jobs = Vec::new();
        for (flag, a, b) in choices {
            uniform_width(&[*a, *b])?;
            let not_flag = self.not(flag)?;
            for i in 0..a.blocks.len() {
                jobs.push((
                    self.lin(&[(&flag.0, m as i64), (&a.blocks[i], 1)], 0)?,
                    keep.clone(),
                ));
                jobs.push((
                    self.lin(&[(&not_flag.0, m as i64), (&b.blocks[i], 1)], 0)?,
                    keep.clone(),
                ));
            }
        }
        let out = self.round(jobs)?;
        let mut results = Vec::new();
        let mut it = out.chunks(2);
        for (_, a, _) in choices {
            let mut blocks = Vec::new();
            for _ in 0..a.blocks.len() {
                let pair = it.next().expect("two outputs per block");
                // One of the two kept values is 0 (flag and 1 − flag): the sum is a clean block.
                let clean = self.layout.max_message();
                blocks.push(self.lin_proved(&[(&pair[0], 1), (&pair[1], 1)], 0, clean)?);
            }
            results.push(RadixCiphertext { blocks });
        }
        Ok(results)
    }

    /// `flag ? x : 0` for every `(flag, x)`: one bivariate table per block (`m·flag + x`).
    pub fn keep_if(
        &self,
        choices: &[(&BoolCiphertext, &RadixCiphertext)],
    ) -> Result<Vec<RadixCiphertext>> {
        let m = self.msg();
        let keep = self.table(move |v| if v / m == 1 { v % m } else { 0 })?;
        let mut jobs = Vec::new();
        for (flag, x) in choices {
            for b in &x.blocks {
                jobs.push((self.lin(&[(&flag.0, m as i64), (b, 1)], 0)?, keep.clone()));
            }
        }
        let out = self.round(jobs)?;
        let mut it = out.into_iter();
        Ok(choices
            .iter()
            .map(|(_, x)| RadixCiphertext {
                blocks: it.by_ref().take(x.blocks.len()).collect(),
            })
            .collect())
    }
}
