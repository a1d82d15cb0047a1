//! Boolean operations on flags (OR and AND of many, NOT) and counting the true flags of a
//! group.

use crate::{Block, BoolCiphertext, IntegerServer, RadixCiphertext, RadixLayout};
use glovebox_engine::prelude::*;

/// What one round of the flag counter does with one column's entries.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ColumnStep {
    /// Entry `j` is carried to the next round unchanged.
    Keep(usize),
    /// Entries `members` are summed (degree `degree`) and bootstrapped to their message, and
    /// to their carry when `degree` reaches the message modulus.
    Sum { members: Vec<usize>, degree: u64 },
}

/// Plans one round for a column whose entries have `degrees`: a column holding one clean
/// entry is done; otherwise entries are grouped greedily so each group's sum stays in the
/// plaintext space, and a group of one clean entry is kept as it is.
fn plan_column(degrees: &[u64], layout: &RadixLayout) -> Vec<ColumnStep> {
    let clean = layout.max_message();
    if degrees.len() == 1 && degrees[0] <= clean {
        return vec![ColumnStep::Keep(0)];
    }
    let mut steps = Vec::new();
    let mut group: Vec<usize> = Vec::new();
    let mut bound = 0;
    let mut flush = |group: &mut Vec<usize>, bound: u64| {
        if group.len() == 1 && bound <= clean {
            steps.push(ColumnStep::Keep(group[0]));
        } else {
            steps.push(ColumnStep::Sum {
                members: group.clone(),
                degree: bound,
            });
        }
        group.clear();
    };
    for (j, &d) in degrees.iter().enumerate() {
        if bound + d > layout.space - 1 {
            flush(&mut group, bound);
            bound = 0;
        }
        bound += d;
        group.push(j);
    }
    if !group.is_empty() {
        flush(&mut group, bound);
    }
    steps
}

/// One round of the counter over every group's columns: the entries kept, in place, and the
/// sums to bootstrap as `(group, column, members, degree)`, in job order.
type Sums<E> = Vec<(usize, usize, Vec<E>, u64)>;

fn plan_round<E: Clone>(
    columns: &[Vec<Vec<E>>],
    degree: impl Fn(&E) -> u64,
    layout: &RadixLayout,
) -> (Vec<Vec<Vec<E>>>, Sums<E>) {
    let mut kept: Vec<Vec<Vec<E>>> = columns
        .iter()
        .map(|cols| vec![Vec::new(); cols.len()])
        .collect();
    let mut sums = Vec::new();
    for (g, cols) in columns.iter().enumerate() {
        for (i, col) in cols.iter().enumerate() {
            let degrees: Vec<u64> = col.iter().map(&degree).collect();
            for step in plan_column(&degrees, layout) {
                match step {
                    ColumnStep::Keep(j) => kept[g][i].push(col[j].clone()),
                    ColumnStep::Sum { members, degree } => {
                        let entries = members.iter().map(|&j| col[j].clone()).collect();
                        sums.push((g, i, entries, degree));
                    }
                }
            }
        }
    }
    (kept, sums)
}

/// Bootstraps that [`IntegerServer::count_flags`] spends on `flags` flags into `blocks`
/// blocks: the same schedule, run on the degrees alone.
///
/// ```
/// use glovebox_engine::prelude::*;
/// use glovebox_integer::{count_flags_bootstraps, RadixLayout};
/// let layout = RadixLayout::new(&PARAM_MESSAGE_2_CARRY_2_KS_PBS)?;
/// assert_eq!(count_flags_bootstraps(30, 4, &layout), 11);
/// assert_eq!(count_flags_bootstraps(1, 4, &layout), 0); // one flag is already a count
/// # Ok::<(), glovebox_engine::Error>(())
/// ```
pub fn count_flags_bootstraps(flags: usize, blocks: usize, layout: &RadixLayout) -> usize {
    if flags == 0 || blocks == 0 {
        return 0;
    }
    let m = layout.message_modulus;
    let mut columns = vec![vec![vec![1u64; flags]]
        .into_iter()
        .chain((1..blocks).map(|_| Vec::new()))
        .collect::<Vec<_>>()];
    let mut total = 0;
    loop {
        let (mut next, sums) = plan_round(&columns, |&d| d, layout);
        if sums.is_empty() {
            return total;
        }
        for (g, i, _, degree) in sums {
            if degree >= m && i + 1 < blocks {
                next[g][i + 1].push(degree / m);
                total += 1;
            }
            next[g][i].push(degree.min(m - 1));
            total += 1;
        }
        columns = next;
    }
}

impl IntegerServer<'_> {
    /// OR of many flags per group: their sum, bootstrapped once to `sum ≥ 1` (up to
    /// `space − 1` flags per PBS; longer groups are folded in chunks).
    pub fn or_many(&self, groups: &[Vec<&BoolCiphertext>]) -> Result<Vec<BoolCiphertext>> {
        self.fold_flags(groups, "OR", |sum, _| (sum >= 1) as u64)
    }

    /// AND of many flags per group: `sum == count`.
    pub fn and_many(&self, groups: &[Vec<&BoolCiphertext>]) -> Result<Vec<BoolCiphertext>> {
        self.fold_flags(groups, "AND", |sum, count| (sum == count) as u64)
    }

    fn fold_flags(
        &self,
        groups: &[Vec<&BoolCiphertext>],
        name: &str,
        f: fn(u64, u64) -> u64,
    ) -> Result<Vec<BoolCiphertext>> {
        let mut current: Vec<Vec<Block>> = groups
            .iter()
            .map(|g| g.iter().map(|b| b.0.clone()).collect())
            .collect();
        if current.iter().any(|g| g.is_empty()) {
            return Err(Error::InvalidParameters(format!("{name} of no flags")));
        }
        let chunk = (self.layout.space - 1) as usize;
        loop {
            let mut jobs = Vec::new();
            let mut shape = Vec::new();
            for g in &current {
                let chunks: Vec<&[Block]> = g.chunks(chunk).collect();
                shape.push(chunks.len());
                for c in chunks {
                    let parts: Vec<(&Block, i64)> = c.iter().map(|x| (x, 1)).collect();
                    let count = c.len() as u64;
                    jobs.push((self.lin(&parts, 0)?, self.table(move |s| f(s, count))?));
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
        Ok(BoolCiphertext(self.lin(&[(&b.0, -1)], 1)?))
    }

    /// Counts the true flags of each group into a `blocks`-wide integer (wrapping), with a
    /// column-compression counter instead of full-width additions: column i holds encrypted
    /// values of weight m^i, each with its degree. Each round sums a column's values linearly
    /// into groups whose degree stays in the plaintext space, and bootstraps each group to its
    /// message (kept in column i) and, only when its degree reaches m, its carry (moved to
    /// column i + 1). A column is done when it holds one clean value. Counting 30 flags costs
    /// 11 PBS in 4 rounds ([`count_flags_bootstraps`]); the carry out of the top column is
    /// never computed.
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
        // Per group, per column: the entries of weight m^column.
        let columns: Vec<Vec<Vec<Block>>> = groups
            .iter()
            .map(|g| {
                let mut cols = vec![Vec::new(); blocks];
                cols[0] = g.iter().map(|b| b.0.clone()).collect();
                cols
            })
            .collect();
        self.sum_columns(columns)
    }

    /// Sums columns of encrypted entries, per group: column i holds entries of weight m^i,
    /// each of any degree below the plaintext space; the result has one block per column
    /// (wrapping: the carry out of the top column is never computed). Each round sums a
    /// column's entries linearly into groups whose degree stays in the space and bootstraps
    /// each group to its message (kept) and, when its degree reaches m, its carry (moved up);
    /// a column is done when it holds one clean entry ([`Self::count_flags`] is the case of
    /// flags in column 0).
    pub(crate) fn sum_columns(
        &self,
        mut columns: Vec<Vec<Vec<Block>>>,
    ) -> Result<Vec<RadixCiphertext>> {
        let space = self.layout.space;
        for b in columns.iter().flatten().flatten() {
            if b.degree >= space {
                return Err(Error::DegreeOverflow {
                    what: "a column entry",
                    min: 0,
                    max: b.degree as i64,
                    space,
                });
            }
        }
        let width = columns.first().map_or(0, |c| c.len());
        if width == 0 || columns.iter().any(|c| c.len() != width) {
            return Err(Error::InvalidParameters(
                "column sums of no columns, or of different widths".into(),
            ));
        }
        loop {
            let (mut next, sums) = plan_round(&columns, |b: &Block| b.degree, &self.layout);
            if sums.is_empty() {
                columns = next;
                break;
            }
            self.counter_round(sums, width, &mut next)?;
            columns = next;
        }
        columns
            .into_iter()
            .map(|cols| {
                let blocks = cols
                    .into_iter()
                    .map(|mut col| match col.pop() {
                        Some(b) => Ok(b),
                        None => self.trivial(0),
                    })
                    .collect::<Result<_>>()?;
                Ok(RadixCiphertext { blocks })
            })
            .collect()
    }

    /// Bootstraps one round's sums (carry first, then message, per sum) and appends the
    /// outputs to their columns in `next`.
    fn counter_round(
        &self,
        sums: Sums<Block>,
        blocks: usize,
        next: &mut [Vec<Vec<Block>>],
    ) -> Result<()> {
        let msg = self.message_table()?;
        let carry = self.carry_table()?;
        let m = self.msg();
        let mut jobs = Vec::new();
        let mut dest = Vec::new();
        for (g, i, entries, degree) in sums {
            let parts: Vec<(&Block, i64)> = entries.iter().map(|b| (b, 1)).collect();
            let sum = self.lin(&parts, 0)?;
            debug_assert_eq!(sum.degree, degree);
            if degree >= m && i + 1 < blocks {
                jobs.push((sum.clone(), carry.clone()));
                dest.push((g, i + 1));
            }
            jobs.push((sum, msg.clone()));
            dest.push((g, i));
        }
        for (out, (g, i)) in self.round(jobs)?.into_iter().zip(dest) {
            next[g][i].push(out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> RadixLayout {
        RadixLayout::new(&PARAM_MESSAGE_2_CARRY_2_KS_PBS).unwrap()
    }

    #[test]
    fn columns_are_grouped_within_the_space() {
        let l = layout();
        // One clean entry: done.
        assert_eq!(plan_column(&[3], &l), [ColumnStep::Keep(0)]);
        // 16 flags: 15 in one sum, the 16th alone and clean, kept.
        let steps = plan_column(&[1; 16], &l);
        assert_eq!(steps.len(), 2);
        assert_eq!(
            steps[0],
            ColumnStep::Sum {
                members: (0..15).collect(),
                degree: 15
            }
        );
        assert_eq!(steps[1], ColumnStep::Keep(15));
    }

    #[test]
    fn counter_costs() {
        let l = layout();
        assert_eq!(count_flags_bootstraps(30, 4, &l), 11);
        assert_eq!(count_flags_bootstraps(2, 1, &l), 1);
        assert_eq!(count_flags_bootstraps(0, 4, &l), 0);
    }
}
