//! Addition, subtraction and sums of many integers (all wrapping at the width), with carry
//! propagation by bootstraps.

use crate::{uniform_width, Block, IntegerServer, RadixCiphertext};
use glovebox_engine::prelude::*;

fn check_same_width(a: &RadixCiphertext, b: &RadixCiphertext) -> Result<()> {
    uniform_width(&[a, b]).map(|_| ())
}

impl IntegerServer<'_> {
    /// Adds `a[i] + b[i]` (wrapping at the width), propagating carries block by block.
    pub fn add(
        &self,
        pairs: &[(&RadixCiphertext, &RadixCiphertext)],
    ) -> Result<Vec<RadixCiphertext>> {
        let sums = self.blockwise(pairs, |_, x, y| self.lin(&[(x, 1), (y, 1)], 0))?;
        self.propagate(sums)
    }

    /// Subtracts `a[i] − b[i]` (wrapping): a + (NOT b) + 1, blockwise `x + (m − 1 − y)` (+ 1
    /// on block 0), then carry propagation.
    pub fn sub(
        &self,
        pairs: &[(&RadixCiphertext, &RadixCiphertext)],
    ) -> Result<Vec<RadixCiphertext>> {
        let top = self.layout.max_message() as i64;
        let sums = self.blockwise(pairs, |i, x, y| {
            self.lin(&[(x, 1), (y, -1)], top + (i == 0) as i64)
        })?;
        self.propagate(sums)
    }

    /// `combine(i, a.blocks[i], b.blocks[i])` for every block of every pair (same widths).
    fn blockwise(
        &self,
        pairs: &[(&RadixCiphertext, &RadixCiphertext)],
        combine: impl Fn(usize, &Block, &Block) -> Result<Block>,
    ) -> Result<Vec<Vec<Block>>> {
        pairs
            .iter()
            .map(|(a, b)| {
                check_same_width(a, b)?;
                a.blocks
                    .iter()
                    .zip(&b.blocks)
                    .enumerate()
                    .map(|(i, (x, y))| combine(i, x, y))
                    .collect()
            })
            .collect()
    }

    /// Sums many integers of one width (wrapping): blockwise sums of as many values at a time
    /// as the blocks' degrees allow in the plaintext space (five clean 2-bit blocks in 16),
    /// then carry propagation.
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
        // The accumulator and `per_round` clean blocks fit the space.
        let clean = self.layout.max_message();
        let per_round = ((self.layout.space - 1) / clean - 1) as usize;
        let mut next = 1;
        let longest = groups.iter().map(|g| g.len()).max().unwrap_or(0);
        while next < longest {
            let mut sums = Vec::with_capacity(groups.len());
            for (acc, g) in accs.iter().zip(groups) {
                let take: Vec<&RadixCiphertext> =
                    g.iter().skip(next).take(per_round).copied().collect();
                let blocks = (0..acc.blocks.len())
                    .map(|i| {
                        let mut parts = vec![(&acc.blocks[i], 1i64)];
                        parts.extend(take.iter().map(|x| (&x.blocks[i], 1i64)));
                        self.lin(&parts, 0)
                    })
                    .collect::<Result<Vec<_>>>()?;
                sums.push(blocks);
            }
            accs = self.propagate_wide(sums)?;
            next += per_round;
        }
        Ok(accs)
    }

    /// `NOT x` blockwise, `m − 1 − block` (no bootstrap): `m^blocks − 1 − x` for clean blocks.
    pub fn complement(&self, x: &RadixCiphertext) -> Result<RadixCiphertext> {
        let top = self.layout.max_message() as i64;
        let blocks = x
            .blocks
            .iter()
            .map(|b| self.lin(&[(b, -1)], top))
            .collect::<Result<_>>()?;
        Ok(RadixCiphertext { blocks })
    }

    /// `Σ wᵢ·xᵢ + c` per group, with clear signed weights and constant, as a `blocks`-wide
    /// integer wrapping at `m^blocks` (two's complement for a negative result). A negative
    /// weight multiplies the complement (`|w|·(m^len − 1 − x)`) and moves `|w|·(m^len − 1)`
    /// into the constant; every weight's base-m digits place entries `digit·block` (degree
    /// at most 3·3 on clean 2-bit blocks) in the columns of their weight, and one column sum
    /// ([`Self::count_flags`]'s counter) adds everything with a bootstrap per group of entries
    /// that fills the plaintext space, not per addition.
    pub fn weighted_sum(
        &self,
        groups: &[(Vec<(&RadixCiphertext, i64)>, i64)],
        blocks: usize,
    ) -> Result<Vec<RadixCiphertext>> {
        let m = self.layout.message_modulus;
        let bits = self.layout.block_bits as usize * blocks;
        if blocks == 0 || bits > 62 {
            return Err(Error::InvalidParameters(format!(
                "a weighted sum of {blocks} blocks (1 to {})",
                62 / self.layout.block_bits as usize
            )));
        }
        let modulus = 1i128 << bits;
        let digits = |mut v: u64| {
            let mut d = Vec::new();
            while v > 0 {
                d.push(v % m);
                v /= m;
            }
            d
        };
        let mut columns = Vec::with_capacity(groups.len());
        for (terms, constant) in groups {
            let mut cols: Vec<Vec<Block>> = vec![Vec::new(); blocks];
            let mut c = *constant as i128;
            for (x, w) in terms {
                if *w == 0 {
                    continue;
                }
                let source = if *w > 0 {
                    (*x).clone()
                } else {
                    let top = (m as i128).pow(x.blocks.len() as u32) - 1;
                    c -= (w.unsigned_abs() as i128) * top;
                    self.complement(x)?
                };
                for (k, d) in digits(w.unsigned_abs()).into_iter().enumerate() {
                    if d == 0 {
                        continue;
                    }
                    for (j, b) in source.blocks.iter().enumerate() {
                        if j + k < blocks {
                            cols[j + k].push(self.lin(&[(b, d as i64)], 0)?);
                        }
                    }
                }
            }
            for (i, d) in digits(c.rem_euclid(modulus) as u64).into_iter().enumerate() {
                if d != 0 && i < blocks {
                    cols[i].push(self.trivial(d)?);
                }
            }
            columns.push(cols);
        }
        self.sum_columns(columns)
    }

    /// Carry propagation of blocks whose degrees are below `m²` (a sum of two blocks and a
    /// small constant): ripple from the least significant block; 2 PBS per block, but the top
    /// block's carry (dropped: wrapping) is not computed.
    pub(crate) fn propagate(&self, mut blocks: Vec<Vec<Block>>) -> Result<Vec<RadixCiphertext>> {
        let width = blocks.first().map(|b| b.len()).unwrap_or(0);
        let msg = self.message_table()?;
        let carry = self.carry_table()?;
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
                    b[i + 1] = self.lin(&[(&b[i + 1], 1), (&o[1], 1)], 0)?;
                }
            }
        }
        Ok(blocks
            .into_iter()
            .map(|b| RadixCiphertext { blocks: b })
            .collect())
    }

    /// Carry propagation of blocks of any degree in the space: first split every block into
    /// message and carry in one parallel round, shift the carries up one block, then ripple.
    fn propagate_wide(&self, blocks: Vec<Vec<Block>>) -> Result<Vec<RadixCiphertext>> {
        let width = blocks.first().map(|b| b.len()).unwrap_or(0);
        let msg = self.message_table()?;
        let carry = self.carry_table()?;
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
            // Block i's message is output 2i (each block but the last also has its carry at
            // 2i + 1).
            let mut b = Vec::with_capacity(width);
            for i in 0..width {
                b.push(if i == 0 {
                    o[0].clone()
                } else {
                    self.lin(&[(&o[2 * i], 1), (&o[2 * i - 1], 1)], 0)?
                });
            }
            shifted.push(b);
        }
        self.propagate(shifted)
    }
}
