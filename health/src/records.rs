//! Lab records compared with the patient's past, and cohort statistics, on encrypted values.
//!
//! A clinic posts each lab result as an encrypted value (a `u16`, eight 2-bit blocks on the
//! 2-bit-message sets, holding `0..=`[`MAX_VALUE`] in the test's unit), with the patient, the
//! test type and the date in clear. For a new record the server computes, blind:
//! - **above the previous maximum**: `value > max(earlier values)`;
//! - **changed by more than X** since the last record: `|value − last| > X`, from one
//!   subtraction `d = value − last (mod 2^16)` and two clear comparisons, `X < d < 2^16 − X`
//!   (values below 2^12 keep `|value − last|` far from 2^15, so the wrap tells the sign);
//! - **the gap to the mean of the last k records**: `k·value − Σ last k (mod 2^16)`, which the
//!   clinic reads as a signed 16-bit integer and divides by the clear k (an exact division in
//!   the clinic's hands costs nothing; an encrypted one would cost a bootstrap per bit);
//! - the **running maximum** after this record (`above ? value : previous max`), kept
//!   encrypted for the next record, so each record costs the same whatever the history's length.
//!
//! Over a clinic's patients (**cohort statistics**), for one test type and a clear threshold:
//! the encrypted count of patients whose latest value exceeds it, the encrypted sum of those
//! patients' values, and the encrypted sum of every patient's latest value (32-bit sums).
//!
//! The plaintext references ([`reference_analysis`], [`reference_cohort`]) are what the tests
//! compare every decrypted value with.
//!
//! ```
//! use glovebox_health::records::*;
//! use glovebox_health::vitals::{AlertRules, Clinic, MonitoringServer};
//! use glovebox_health::prelude::*;
//! use std::sync::Arc;
//! let clinic = Clinic::new(&TEST_PARAMS_INSECURE)?;
//! let server = MonitoringServer::new(
//!     Arc::new(clinic.server_key()?),
//!     Arc::new(CpuBackend::new()),
//!     AlertRules::default(),
//!     Default::default(),
//! )?;
//! let ints = server.integers()?;
//! let history = [98u16, 104];
//! let enc = |v: u16| clinic.encrypt_lab_value(v);
//! let (earlier, last, new) = (enc(98)?, enc(104)?, enc(131)?);
//! // The running maximum after the second record is 104 (the server kept it encrypted).
//! let input = RecordInput {
//!     value: &new,
//!     history: Some(RecordHistory { previous_max: &last, last: &last, window: vec![&earlier, &last] }),
//!     change_threshold: 20,
//! };
//! let out = analyze_records(&ints, &[input])?;
//! let got = clinic.decrypt_analysis(out[0].analysis.as_ref().unwrap())?;
//! assert_eq!(got, reference_analysis(131, &history, 20, 2).unwrap());
//! assert_eq!((got.above_max, got.changed, got.gap_times_k), (true, true, 2 * 131 - 98 - 104));
//! # Ok::<(), glovebox_health::Error>(())
//! ```

use crate::prelude::*;
use crate::{Error, Result};
use glovebox_engine::Error as EngineError;
use glovebox_integer::{BoolCiphertext, Comparison, IntegerServer, RadixCiphertext, RadixLayout};
use serde::Serialize;

/// Largest lab value (12 bits, in the test's unit: mg/dL, tenths of g/dL, …).
pub const MAX_VALUE: u16 = 4095;
/// Bits of an encrypted lab value (a `u16`).
pub const VALUE_BITS: u32 = 16;
/// Bits of a cohort sum.
pub const SUM_BITS: u32 = 32;
/// Bits of a cohort count.
pub const COUNT_BITS: u32 = 16;
/// The longest window of the mean (k·[`MAX_VALUE`] stays below 2^15).
pub const MAX_WINDOW: usize = 8;

/// Blocks of an encrypted lab value under `params`' layout.
pub fn value_blocks(layout: &RadixLayout) -> usize {
    layout.blocks(VALUE_BITS)
}

/// What the server knows of a (patient, test type) before a new record: all encrypted.
pub struct RecordHistory<'a> {
    /// The running maximum of the earlier values.
    pub previous_max: &'a RadixCiphertext,
    /// The last value.
    pub last: &'a RadixCiphertext,
    /// The last k values, oldest first (1 ≤ k ≤ [`MAX_WINDOW`]; `last` is the final one).
    pub window: Vec<&'a RadixCiphertext>,
}

/// One record to analyze.
pub struct RecordInput<'a> {
    pub value: &'a RadixCiphertext,
    /// `None` for a patient's first record of the test type (nothing to compare with).
    pub history: Option<RecordHistory<'a>>,
    /// X of "changed by more than X" (at most [`MAX_VALUE`]).
    pub change_threshold: u16,
}

/// The encrypted comparison of a record with the patient's past.
#[derive(Clone, Debug)]
pub struct RecordAnalysis {
    pub above_max: BoolCiphertext,
    pub changed: BoolCiphertext,
    /// `k·value − Σ window (mod 2^16)`.
    pub gap_times_k: RadixCiphertext,
    /// k.
    pub window: usize,
}

impl RecordAnalysis {
    /// The layout an analysis is stored and travels in: "above the maximum", "changed", then
    /// the [`value_blocks`] blocks of `k·value − Σ window`. `window` (k) travels beside it, in
    /// the clear.
    pub fn to_ciphertexts(&self) -> Vec<Ciphertext> {
        let mut cts = vec![
            self.above_max.block().ciphertext().clone(),
            self.changed.block().ciphertext().clone(),
        ];
        cts.extend(blocks_of(&self.gap_times_k));
        cts
    }

    /// An analysis from the blocks of [`Self::to_ciphertexts`] and its window.
    pub fn from_ciphertexts(
        mut cts: Vec<Ciphertext>,
        window: usize,
        layout: &RadixLayout,
    ) -> Result<Self> {
        let blocks = value_blocks(layout);
        if cts.len() != 2 + blocks {
            return Err(EngineError::DimensionMismatch {
                what: "blocks of a record analysis",
                expected: 2 + blocks,
                got: cts.len(),
            }
            .into());
        }
        let gap = cts.split_off(2);
        let changed = cts.pop().expect("two flags");
        let above = cts.pop().expect("two flags");
        Ok(Self {
            above_max: BoolCiphertext::from_ciphertext(above),
            changed: BoolCiphertext::from_ciphertext(changed),
            gap_times_k: RadixCiphertext::from_fresh_blocks(gap, layout),
            window,
        })
    }
}

/// A radix integer's blocks, least significant first (how values are stored and travel).
pub fn blocks_of(x: &RadixCiphertext) -> Vec<Ciphertext> {
    x.blocks().iter().map(|b| b.ciphertext().clone()).collect()
}

/// A lab value (or a running maximum) from its [`value_blocks`] blocks.
pub fn value_from_ciphertexts(
    cts: Vec<Ciphertext>,
    layout: &RadixLayout,
) -> Result<RadixCiphertext> {
    if cts.len() != value_blocks(layout) {
        return Err(EngineError::DimensionMismatch {
            what: "blocks of a lab value",
            expected: value_blocks(layout),
            got: cts.len(),
        }
        .into());
    }
    Ok(RadixCiphertext::from_fresh_blocks(cts, layout))
}

/// What the server keeps and returns for a record.
#[derive(Clone, Debug)]
pub struct RecordOutcome {
    /// The running maximum including this record (for the next one).
    pub running_max: RadixCiphertext,
    pub analysis: Option<RecordAnalysis>,
}

/// A record's analysis, decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PlainAnalysis {
    pub above_max: bool,
    pub changed: bool,
    /// `k·value − Σ window`, signed.
    pub gap_times_k: i32,
    pub window: usize,
}

impl PlainAnalysis {
    /// `value − mean(window)`.
    pub fn gap_to_mean(&self) -> f64 {
        self.gap_times_k as f64 / self.window as f64
    }
}

/// The plaintext analysis of `value` after `history` (all earlier values, oldest first), or
/// `None` for a first record.
pub fn reference_analysis(
    value: u16,
    history: &[u16],
    change_threshold: u16,
    window: usize,
) -> Option<PlainAnalysis> {
    let last = *history.last()?;
    let k = window.min(history.len());
    let sum: i32 = history[history.len() - k..].iter().map(|&v| v as i32).sum();
    Some(PlainAnalysis {
        above_max: value > *history.iter().max()?,
        changed: (value as i32 - last as i32).abs() > change_threshold as i32,
        gap_times_k: k as i32 * value as i32 - sum,
        window: k,
    })
}

fn check_inputs(inputs: &[RecordInput<'_>], blocks: usize) -> Result<()> {
    let width = |x: &RadixCiphertext, what: &'static str| -> Result<()> {
        if x.num_blocks() == blocks {
            Ok(())
        } else {
            Err(EngineError::DimensionMismatch {
                what,
                expected: blocks,
                got: x.num_blocks(),
            }
            .into())
        }
    };
    for input in inputs {
        width(input.value, "blocks of a lab value")?;
        if input.change_threshold > MAX_VALUE {
            return Err(Error::InvalidInput(format!(
                "a change threshold of {} is above the largest lab value {MAX_VALUE}",
                input.change_threshold
            )));
        }
        if let Some(h) = &input.history {
            width(h.previous_max, "blocks of a running maximum")?;
            width(h.last, "blocks of a lab value")?;
            if h.window.is_empty() || h.window.len() > MAX_WINDOW {
                return Err(Error::InvalidInput(format!(
                    "a mean window of {} records (1 to {MAX_WINDOW})",
                    h.window.len()
                )));
            }
            for w in &h.window {
                width(w, "blocks of a lab value")?;
            }
        }
    }
    Ok(())
}

/// Analyzes records, all bootstrapped together (each step batches every record's jobs).
pub fn analyze_records(
    ints: &IntegerServer<'_>,
    inputs: &[RecordInput<'_>],
) -> Result<Vec<RecordOutcome>> {
    let blocks = value_blocks(ints.layout());
    check_inputs(inputs, blocks)?;
    let with: Vec<(usize, &RecordHistory<'_>)> = inputs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.history.as_ref().map(|h| (i, h)))
        .collect();
    let mut outcomes: Vec<RecordOutcome> = inputs
        .iter()
        .map(|r| RecordOutcome {
            running_max: r.value.clone(),
            analysis: None,
        })
        .collect();
    if with.is_empty() {
        return Ok(outcomes);
    }
    // Above the maximum, and the new running maximum.
    let gt_pairs: Vec<_> = with
        .iter()
        .map(|&(i, h)| (inputs[i].value, h.previous_max))
        .collect();
    let above = ints.compare(&gt_pairs, Comparison::Gt)?;
    let choices: Vec<_> = with
        .iter()
        .zip(&above)
        .map(|(&(i, h), a)| (a, inputs[i].value, h.previous_max))
        .collect();
    let maxima = ints.select(&choices)?;
    // value − last, k·value and the window's sum.
    let diff_pairs: Vec<_> = with
        .iter()
        .map(|&(i, h)| (inputs[i].value, h.last))
        .collect();
    let diffs = ints.sub(&diff_pairs)?;
    let mut groups: Vec<Vec<&RadixCiphertext>> = with
        .iter()
        .map(|&(i, h)| vec![inputs[i].value; h.window.len()])
        .collect();
    groups.extend(with.iter().map(|(_, h)| h.window.clone()));
    let sums = ints.sum(&groups)?;
    let (scaled, window_sums) = sums.split_at(with.len());
    let gap_pairs: Vec<_> = scaled.iter().zip(window_sums).collect();
    let gaps = ints.sub(&gap_pairs)?;
    // |d| > X as X < d < 2^16 − X, one pair of clear comparisons per distinct X.
    let mut changed: Vec<Option<BoolCiphertext>> = vec![None; with.len()];
    let mut thresholds: Vec<u16> = with
        .iter()
        .map(|&(i, _)| inputs[i].change_threshold)
        .collect();
    thresholds.sort_unstable();
    thresholds.dedup();
    for x in thresholds {
        let idx: Vec<usize> = (0..with.len())
            .filter(|&j| inputs[with[j].0].change_threshold == x)
            .collect();
        let ds: Vec<&RadixCiphertext> = idx.iter().map(|&j| &diffs[j]).collect();
        let up = ints.compare_scalar(&ds, x as u64, Comparison::Gt)?;
        let down = ints.compare_scalar(&ds, (1u64 << VALUE_BITS) - x as u64, Comparison::Lt)?;
        let both: Vec<Vec<&BoolCiphertext>> =
            up.iter().zip(&down).map(|(u, d)| vec![u, d]).collect();
        for (&j, c) in idx.iter().zip(ints.and_many(&both)?) {
            changed[j] = Some(c);
        }
    }
    for (j, (&(i, h), ((a, m), g))) in with
        .iter()
        .zip(above.into_iter().zip(maxima).zip(gaps))
        .enumerate()
    {
        outcomes[i] = RecordOutcome {
            running_max: m,
            analysis: Some(RecordAnalysis {
                above_max: a,
                changed: changed[j].take().expect("every threshold was evaluated"),
                gap_times_k: g,
                window: h.window.len(),
            }),
        };
    }
    Ok(outcomes)
}

/// Encrypted statistics over a cohort.
#[derive(Clone, Debug)]
pub struct CohortStatistics {
    /// Patients whose latest value exceeds the threshold ([`COUNT_BITS`] bits).
    pub count_above: RadixCiphertext,
    /// The sum of those patients' latest values ([`SUM_BITS`] bits).
    pub sum_above: RadixCiphertext,
    /// The sum of every patient's latest value ([`SUM_BITS`] bits).
    pub sum_all: RadixCiphertext,
    /// Patients in the cohort (public: the server knows whose records it holds).
    pub patients: usize,
}

impl CohortStatistics {
    /// The layout a cohort's result is stored and travels in: the blocks of the count
    /// ([`COUNT_BITS`]), of the sum above the threshold and of the sum of all ([`SUM_BITS`]
    /// each). `patients` travels beside it, in the clear.
    pub fn to_ciphertexts(&self) -> Vec<Ciphertext> {
        [&self.count_above, &self.sum_above, &self.sum_all]
            .into_iter()
            .flat_map(blocks_of)
            .collect()
    }

    /// Statistics from the blocks of [`Self::to_ciphertexts`] and the cohort's size.
    pub fn from_ciphertexts(
        mut cts: Vec<Ciphertext>,
        patients: usize,
        layout: &RadixLayout,
    ) -> Result<Self> {
        let (count, sum) = (layout.blocks(COUNT_BITS), layout.blocks(SUM_BITS));
        if cts.len() != count + 2 * sum {
            return Err(EngineError::DimensionMismatch {
                what: "blocks of cohort statistics",
                expected: count + 2 * sum,
                got: cts.len(),
            }
            .into());
        }
        let sum_all = cts.split_off(count + sum);
        let sum_above = cts.split_off(count);
        Ok(Self {
            count_above: RadixCiphertext::from_fresh_blocks(cts, layout),
            sum_above: RadixCiphertext::from_fresh_blocks(sum_above, layout),
            sum_all: RadixCiphertext::from_fresh_blocks(sum_all, layout),
            patients,
        })
    }
}

/// Cohort statistics, decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PlainCohort {
    pub count_above: u64,
    pub sum_above: u64,
    pub sum_all: u64,
    pub patients: usize,
}

/// The plaintext cohort statistics of the patients' latest values.
pub fn reference_cohort(latest: &[u16], threshold: u16) -> PlainCohort {
    let above: Vec<u64> = latest
        .iter()
        .filter(|&&v| v > threshold)
        .map(|&v| v as u64)
        .collect();
    PlainCohort {
        count_above: above.len() as u64,
        sum_above: above.iter().sum(),
        sum_all: latest.iter().map(|&v| v as u64).sum(),
        patients: latest.len(),
    }
}

/// Cohort statistics of the patients' `latest` values against a clear `threshold`.
pub fn cohort_statistics(
    ints: &IntegerServer<'_>,
    latest: &[&RadixCiphertext],
    threshold: u16,
) -> Result<CohortStatistics> {
    let layout = ints.layout();
    let blocks = value_blocks(layout);
    if latest.is_empty() {
        return Err(Error::InvalidInput("a cohort of no patients".into()));
    }
    if latest.len() >= 1 << COUNT_BITS {
        return Err(Error::InvalidInput(format!(
            "a cohort of {} patients (at most 2^{COUNT_BITS} − 1)",
            latest.len()
        )));
    }
    for x in latest {
        if x.num_blocks() != blocks {
            return Err(EngineError::DimensionMismatch {
                what: "blocks of a lab value",
                expected: blocks,
                got: x.num_blocks(),
            }
            .into());
        }
    }
    let above = ints.compare_scalar(latest, threshold as u64, Comparison::Gt)?;
    let count = ints.count_flags(&[above.iter().collect()], layout.blocks(COUNT_BITS))?;
    let kept_in: Vec<_> = above.iter().zip(latest).map(|(a, x)| (a, *x)).collect();
    let kept = ints.keep_if(&kept_in)?;
    let wide = layout.blocks(SUM_BITS);
    let kept: Vec<RadixCiphertext> = kept
        .iter()
        .map(|x| ints.zero_extend(x, wide))
        .collect::<glovebox_engine::Result<_>>()?;
    let all: Vec<RadixCiphertext> = latest
        .iter()
        .map(|x| ints.zero_extend(x, wide))
        .collect::<glovebox_engine::Result<_>>()?;
    let mut sums = ints.sum(&[kept.iter().collect(), all.iter().collect()])?;
    let sum_all = sums.pop().expect("two sums");
    let sum_above = sums.pop().expect("two sums");
    Ok(CohortStatistics {
        count_above: count.into_iter().next().expect("one count"),
        sum_above,
        sum_all,
        patients: latest.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vitals::Clinic;
    use glovebox_integer::{encrypt_bool, encrypt_radix};

    /// An analysis and cohort statistics through their stored layout and back decrypt to the
    /// same values; a layout of the wrong length is a typed error, not a wrong value.
    #[test]
    fn analyses_and_cohorts_round_trip_through_their_layout() {
        let clinic = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
        let key = clinic.client_key();
        let layout = RadixLayout::new(&TEST_PARAMS_INSECURE).unwrap();
        let analysis = RecordAnalysis {
            above_max: encrypt_bool(key, true).unwrap(),
            changed: encrypt_bool(key, false).unwrap(),
            gap_times_k: encrypt_radix(key, (-7i16) as u16 as u64, value_blocks(&layout)).unwrap(),
            window: 3,
        };
        let cts = analysis.to_ciphertexts();
        let back = RecordAnalysis::from_ciphertexts(cts.clone(), 3, &layout).unwrap();
        let plain = clinic.decrypt_analysis(&back).unwrap();
        assert_eq!(plain, clinic.decrypt_analysis(&analysis).unwrap());
        assert_eq!(
            (plain.above_max, plain.changed, plain.gap_times_k),
            (true, false, -7)
        );
        assert!(matches!(
            RecordAnalysis::from_ciphertexts(cts[1..].to_vec(), 3, &layout),
            Err(Error::Engine(EngineError::DimensionMismatch { .. }))
        ));

        let stats = CohortStatistics {
            count_above: encrypt_radix(key, 2, layout.blocks(COUNT_BITS)).unwrap(),
            sum_above: encrypt_radix(key, 300, layout.blocks(SUM_BITS)).unwrap(),
            sum_all: encrypt_radix(key, 410, layout.blocks(SUM_BITS)).unwrap(),
            patients: 3,
        };
        let cts = stats.to_ciphertexts();
        let back = CohortStatistics::from_ciphertexts(cts.clone(), 3, &layout).unwrap();
        assert_eq!(
            clinic.decrypt_cohort(&back).unwrap(),
            PlainCohort {
                count_above: 2,
                sum_above: 300,
                sum_all: 410,
                patients: 3
            }
        );
        let mut longer = cts;
        longer.push(longer[0].clone());
        assert!(CohortStatistics::from_ciphertexts(longer, 3, &layout).is_err());
    }
}
