//! Both models evaluated on encrypted patients (each a feature per radix of
//! [`FEATURE_BITS`] bits), every round's bootstraps of all patients batched together.

use super::compiler::{CompiledForest, Term};
use super::dataset::FEATURE_BITS;
use super::logreg::QuantizedLogReg;
use crate::{Error, Result};
use glovebox_engine::Error as EngineError;
use glovebox_integer::{Block, BoolCiphertext, Comparison, IntegerServer, RadixCiphertext};

/// One patient's encrypted prediction.
#[derive(Clone, Debug)]
pub struct EncryptedPrediction {
    pub malignant: BoolCiphertext,
    /// Score ≥ −t and score ≥ t: their sum is the risk level.
    pub risk: [BoolCiphertext; 2],
}

/// Evaluates the quantized model on encrypted patients (each a feature per radix of
/// [`FEATURE_BITS`] bits), all patients' bootstraps batched together.
pub fn predict_encrypted(
    ints: &IntegerServer<'_>,
    model: &QuantizedLogReg,
    patients: &[Vec<RadixCiphertext>],
) -> Result<Vec<EncryptedPrediction>> {
    let score_bits = model.score_bits(FEATURE_BITS);
    if score_bits > 62 {
        return Err(Error::InvalidInput(format!(
            "the model's scores reach {}, beyond a 62-bit score",
            model.score_bound(FEATURE_BITS)
        )));
    }
    let blocks = ints.layout().blocks(score_bits);
    let offset = 1i64 << (score_bits - 1);
    let groups: Vec<(Vec<(&RadixCiphertext, i64)>, i64)> = patients
        .iter()
        .map(|x| {
            if x.len() != model.weights.len() {
                return Err(EngineError::DimensionMismatch {
                    what: "features of a patient",
                    expected: model.weights.len(),
                    got: x.len(),
                }
                .into());
            }
            Ok((
                x.iter().zip(&model.weights).map(|(f, &w)| (f, w)).collect(),
                model.bias + offset,
            ))
        })
        .collect::<Result<_>>()?;
    let scores = ints.weighted_sum(&groups, blocks)?;
    let refs: Vec<&RadixCiphertext> = scores.iter().collect();
    // u > c  ⟺  score ≥ c + 1 − 2^15.
    let at_least = |t: i64| ints.compare_scalar(&refs, (offset + t - 1) as u64, Comparison::Gt);
    let malignant = at_least(0)?;
    let low = at_least(-model.risk_threshold)?;
    let high = at_least(model.risk_threshold)?;
    Ok(malignant
        .into_iter()
        .zip(low.into_iter().zip(high))
        .map(|(m, (l, h))| EncryptedPrediction {
            malignant: m,
            risk: [l, h],
        })
        .collect())
}

/// One patient's encrypted forest prediction.
#[derive(Clone, Debug)]
pub struct EncryptedForestPrediction {
    pub malignant: BoolCiphertext,
    /// The trees voting malignant (0 to the number of trees).
    pub votes: Block,
}

/// Evaluates the compiled forest on encrypted patients (each a feature per radix of
/// [`FEATURE_BITS`] bits), every round's bootstraps of all patients batched together: the
/// comparisons, the pieces level by level, the vote groups' merges (when several), the
/// majority.
pub fn predict_forest_encrypted(
    ints: &IntegerServer<'_>,
    circuit: &CompiledForest,
    patients: &[Vec<RadixCiphertext>],
) -> Result<Vec<EncryptedForestPrediction>> {
    let m = ints.layout().message_modulus as i64;
    let blocks = ints.layout().blocks(FEATURE_BITS);
    if m.pow(blocks as u32) > ints.layout().space as i64 {
        return Err(Error::InvalidInput(format!(
            "a {FEATURE_BITS}-bit feature does not fit one block of this set"
        )));
    }
    // Every feature packed into one block: Σ m^i·block_i.
    let mut packed: Vec<Vec<Option<Block>>> = Vec::with_capacity(patients.len());
    let used: std::collections::BTreeSet<usize> = circuit.comparisons.iter().map(|c| c.0).collect();
    for x in patients {
        if x.len() < circuit.features() {
            return Err(EngineError::DimensionMismatch {
                what: "features of a patient",
                expected: circuit.features(),
                got: x.len(),
            }
            .into());
        }
        let mut row = vec![None; x.len()];
        for &f in &used {
            if x[f].num_blocks() != blocks {
                return Err(EngineError::DimensionMismatch {
                    what: "blocks of a feature",
                    expected: blocks,
                    got: x[f].num_blocks(),
                }
                .into());
            }
            let parts: Vec<(&Block, i64)> = x[f]
                .blocks()
                .iter()
                .enumerate()
                .map(|(i, b)| (b, m.pow(i as u32)))
                .collect();
            row[f] = Some(ints.linear_combination(&parts, 0)?);
        }
        packed.push(row);
    }
    // Round 1: the comparisons.
    let tables: Vec<Box<dyn Fn(u64) -> u64>> = circuit
        .comparisons
        .iter()
        .map(|&(_, t)| Box::new(move |v: u64| (v <= t) as u64) as Box<dyn Fn(u64) -> u64>)
        .collect();
    let mut jobs = Vec::new();
    for row in &packed {
        for (c, &(f, _)) in circuit.comparisons.iter().enumerate() {
            let x = row[f].clone().expect("packed above");
            jobs.push((x, tables[c].as_ref()));
        }
    }
    let n = circuit.comparisons.len();
    let mut it = ints.lookup(jobs)?.into_iter();
    let bits: Vec<Vec<Block>> = (0..patients.len())
        .map(|_| it.by_ref().take(n).collect())
        .collect();
    // The pieces, level by level.
    let term =
        |t: &Term, bits: &[Block], out: &[Option<Block>]| -> glovebox_engine::Result<Block> {
            match t {
                Term::One => ints.trivial(1),
                Term::Lit((c, true)) => Ok(bits[*c].clone()),
                Term::Lit((c, false)) => ints.linear_combination(&[(&bits[*c], -1)], 1),
                Term::Piece(j) => Ok(out[*j].clone().expect("an earlier level")),
            }
        };
    let indicator =
        |terms: &[Term], bits: &[Block], out: &[Option<Block>]| -> glovebox_engine::Result<Block> {
            let blocks = terms
                .iter()
                .map(|t| term(t, bits, out))
                .collect::<glovebox_engine::Result<Vec<_>>>()?;
            if blocks.is_empty() {
                return ints.trivial(0);
            }
            let parts: Vec<(&Block, i64)> = blocks.iter().map(|b| (b, 1)).collect();
            // At most one term is 1: the terms are the disjoint regions of one tree.
            ints.linear_combination_proved(&parts, 0, 1)
        };
    let piece_tables: Vec<Box<dyn Fn(u64) -> u64>> = circuit
        .pieces
        .iter()
        .map(|p| {
            let t = p.table.clone();
            Box::new(move |v: u64| t.get(v as usize).copied().unwrap_or(0))
                as Box<dyn Fn(u64) -> u64>
        })
        .collect();
    let mut outs: Vec<Vec<Option<Block>>> = vec![vec![None; circuit.pieces.len()]; patients.len()];
    for level in circuit.levels() {
        let mut jobs = Vec::new();
        for (b, out) in bits.iter().zip(&outs) {
            for &j in &level {
                let value = match &circuit.pieces[j].value {
                    Some(terms) => Some(indicator(terms, b, out)?),
                    None => None,
                };
                let mut parts: Vec<(&Block, i64)> = circuit
                    .packing(j)
                    .iter()
                    .map(|&(c, w)| (&b[c], w))
                    .collect();
                if let Some(v) = &value {
                    parts.push((v, 1));
                }
                jobs.push((
                    ints.linear_combination(&parts, 0)?,
                    piece_tables[j].as_ref(),
                ));
            }
        }
        let mut it = ints.lookup(jobs)?.into_iter();
        for out in outs.iter_mut() {
            for &j in &level {
                out[j] = it.next();
            }
        }
    }
    // The votes: each tree's indicator, summed by group (merged by a bootstrap when there
    // are several groups), then the majority.
    let trees = circuit.tree_terms.len() as u64;
    let mut group_sums = Vec::new();
    for (b, out) in bits.iter().zip(&outs) {
        let mut sums = Vec::new();
        for group in &circuit.groups {
            let indicators = group
                .iter()
                .map(|&t| indicator(&circuit.tree_terms[t], b, out))
                .collect::<glovebox_engine::Result<Vec<_>>>()?;
            let parts: Vec<(&Block, i64)> = indicators.iter().map(|x| (x, 1)).collect();
            sums.push(ints.linear_combination(&parts, 0)?);
        }
        group_sums.push(sums);
    }
    if circuit.groups.len() > 1 {
        let identity = |v: u64| v;
        let jobs = group_sums
            .iter()
            .flatten()
            .map(|s| (s.clone(), &identity as &dyn Fn(u64) -> u64))
            .collect();
        let mut it = ints.lookup(jobs)?.into_iter();
        for sums in group_sums.iter_mut() {
            for s in sums.iter_mut() {
                *s = it.next().expect("one output per group");
            }
        }
    }
    let votes = group_sums
        .iter()
        .map(|sums| {
            let parts: Vec<(&Block, i64)> = sums.iter().map(|x| (x, 1)).collect();
            ints.linear_combination(&parts, 0)
        })
        .collect::<glovebox_engine::Result<Vec<_>>>()?;
    let majority = move |v: u64| (2 * v > trees) as u64;
    let malignant = ints.lookup(
        votes
            .iter()
            .map(|v| (v.clone(), &majority as &dyn Fn(u64) -> u64))
            .collect(),
    )?;
    malignant
        .into_iter()
        .zip(votes)
        .map(|(m, votes)| {
            Ok(EncryptedForestPrediction {
                malignant: BoolCiphertext::from_block(m)?,
                votes,
            })
        })
        .collect()
}
