//! Encrypted inference on a real medical dataset: the Breast Cancer Wisconsin (Diagnostic)
//! data (569 patients, 30 features, malignant or benign), shipped by `smartcore`'s `datasets`
//! feature (no download at run time).
//!
//! The model is trained in the clear on min–max-scaled features, then quantized: each feature
//! to [`FEATURE_BITS`] bits with the ranges of the training split, the weights and the bias to
//! small integers. The quantized clear model ([`QuantizedLogReg::predict_clear`]) is what the
//! encrypted evaluation must equal, patient for patient.
//!
//! Encrypted, the score `Σ wᵢ·xᵢ + b` (clear weights) is one [`IntegerServer::weighted_sum`]:
//! each weight's base-4 digits place `digit·block` entries in the columns of their weight, and
//! one column-compression sum adds all of them, a bootstrap per group of entries that fills the
//! plaintext space. The constant carries an offset `2^(s−1)`, so the s-bit result
//! `u = score + 2^(s−1)` orders like the signed score (s the smallest even width that holds
//! every score the model can reach, [`QuantizedLogReg::score_bits`]); the diagnosis is
//! `u ≥ 2^(s−1)` (malignant when the score is not negative) and the risk level counts the two
//! clear thresholds `u` reaches.

use crate::prelude::*;
use glovebox_integer::{BoolCiphertext, Comparison, IntegerServer, RadixCiphertext};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

/// Bits of a quantized feature.
pub const FEATURE_BITS: u32 = 4;
/// The model the command and the tests use: L2 regularization of the float model, and the
/// largest quantized weight (one base-4 digit: each feature block enters the score once).
pub const ALPHA: f64 = 1.0;
pub const MAX_WEIGHT: i64 = 3;
/// The split: a fifth of the patients for testing, shuffled from this seed.
pub const TEST_FRACTION: f64 = 0.2;
pub const SPLIT_SEED: u64 = 7;

/// A labelled dataset: features per patient, `true` for malignant.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub features: Vec<Vec<f64>>,
    pub malignant: Vec<bool>,
    pub feature_names: Vec<String>,
}

/// The Breast Cancer Wisconsin (Diagnostic) dataset as `smartcore` ships it (target 0 is
/// malignant, as in the UCI data and scikit-learn).
pub fn breast_cancer() -> Dataset {
    let d = smartcore::dataset::breast_cancer::load_dataset();
    let features = d
        .data
        .chunks(d.num_features)
        .map(|row| row.iter().map(|&v| v as f64).collect())
        .collect();
    Dataset {
        features,
        malignant: d.target.iter().map(|&t| t == 0).collect(),
        feature_names: d.feature_names,
    }
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.features.len()
    }

    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    fn subset(&self, idx: &[usize]) -> Dataset {
        Dataset {
            features: idx.iter().map(|&i| self.features[i].clone()).collect(),
            malignant: idx.iter().map(|&i| self.malignant[i]).collect(),
            feature_names: self.feature_names.clone(),
        }
    }

    /// A seeded split: `test_fraction` of the patients (shuffled with ChaCha8 from `seed`)
    /// for testing, the rest for training.
    pub fn split(&self, test_fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        let test = ((self.len() as f64) * test_fraction).round() as usize;
        (self.subset(&idx[test..]), self.subset(&idx[..test]))
    }
}

/// Per-feature ranges learnt on the training split: a value maps to
/// `round((v − min) / (max − min) · (2^bits − 1))`, clamped.
#[derive(Clone, Debug, Serialize)]
pub struct Quantizer {
    pub min: Vec<f64>,
    pub max: Vec<f64>,
    pub bits: u32,
}

impl Quantizer {
    pub fn fit(train: &Dataset, bits: u32) -> Self {
        let n = train.features.first().map_or(0, |r| r.len());
        let mut min = vec![f64::INFINITY; n];
        let mut max = vec![f64::NEG_INFINITY; n];
        for row in &train.features {
            for (j, &v) in row.iter().enumerate() {
                min[j] = min[j].min(v);
                max[j] = max[j].max(v);
            }
        }
        Self { min, max, bits }
    }

    /// Scaled to `[0, 1]` (clamped), the float model's input.
    pub fn scale(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .enumerate()
            .map(|(j, &v)| {
                let span = self.max[j] - self.min[j];
                if span > 0.0 {
                    ((v - self.min[j]) / span).clamp(0.0, 1.0)
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Quantized to `bits` bits.
    pub fn quantize(&self, row: &[f64]) -> Vec<u64> {
        let top = ((1u64 << self.bits) - 1) as f64;
        self.scale(row)
            .iter()
            .map(|&s| (s * top).round() as u64)
            .collect()
    }
}

/// A logistic regression trained in the clear (`smartcore`), on scaled features.
#[derive(Clone, Debug, Serialize)]
pub struct FloatLogReg {
    pub weights: Vec<f64>,
    pub bias: f64,
}

impl FloatLogReg {
    /// Trains on the scaled training split (L2 regularization `alpha`).
    pub fn train(train: &Dataset, quantizer: &Quantizer, alpha: f64) -> Result<Self> {
        use smartcore::linalg::basic::arrays::Array;
        use smartcore::linalg::basic::matrix::DenseMatrix;
        use smartcore::linear::logistic_regression::{
            LogisticRegression, LogisticRegressionParameters,
        };
        let rows: Vec<Vec<f64>> = train.features.iter().map(|r| quantizer.scale(r)).collect();
        let x = DenseMatrix::from_2d_vec(&rows)
            .map_err(|e| Error::InvalidParameters(format!("training data: {e}")))?;
        let y: Vec<u32> = train.malignant.iter().map(|&m| m as u32).collect();
        let model = LogisticRegression::fit(
            &x,
            &y,
            LogisticRegressionParameters::default().with_alpha(alpha),
        )
        .map_err(|e| Error::InvalidParameters(format!("training: {e}")))?;
        let coefficients = model.coefficients();
        let weights = (0..rows[0].len())
            .map(|j| *coefficients.get((0, j)))
            .collect();
        let bias = *model.intercept().get((0, 0));
        Ok(Self { weights, bias })
    }

    /// Malignant when the score is not negative.
    pub fn predict(&self, scaled: &[f64]) -> bool {
        let score: f64 = self
            .weights
            .iter()
            .zip(scaled)
            .map(|(w, x)| w * x)
            .sum::<f64>()
            + self.bias;
        score >= 0.0
    }
}

/// The quantized logistic regression: integer weights and bias over quantized features;
/// `score = Σ wᵢ·xᵢ + b`, malignant when `score ≥ 0`; the risk level is the number of
/// `risk_thresholds` (`−t`, `t`) the score reaches (0 low, 1 intermediate, 2 high).
#[derive(Clone, Debug, Serialize)]
pub struct QuantizedLogReg {
    pub weights: Vec<i64>,
    pub bias: i64,
    pub risk_threshold: i64,
}

impl QuantizedLogReg {
    /// Weights scaled so the largest is `max_weight`, rounded; the bias scaled alike (times
    /// the features' top value, as the features are quantized to `0..2^bits`).
    pub fn quantize(model: &FloatLogReg, bits: u32, max_weight: i64) -> Self {
        let largest = model
            .weights
            .iter()
            .fold(0.0f64, |m, w| m.max(w.abs()))
            .max(f64::MIN_POSITIVE);
        let s = max_weight as f64 / largest;
        let top = ((1u64 << bits) - 1) as f64;
        let weights = model
            .weights
            .iter()
            .map(|w| (w * s).round() as i64)
            .collect();
        let bias = (model.bias * s * top).round() as i64;
        // A band around the decision boundary: a quarter of the largest weight's full swing.
        let risk_threshold = ((max_weight as f64) * top / 4.0).round() as i64;
        Self {
            weights,
            bias,
            risk_threshold,
        }
    }

    pub fn score(&self, x: &[u64]) -> i64 {
        self.weights
            .iter()
            .zip(x)
            .map(|(w, &v)| w * v as i64)
            .sum::<i64>()
            + self.bias
    }

    /// The clear twin of the encrypted evaluation: (malignant, risk level).
    pub fn predict_clear(&self, x: &[u64]) -> (bool, u8) {
        let s = self.score(x);
        (
            s >= 0,
            (s >= -self.risk_threshold) as u8 + (s >= self.risk_threshold) as u8,
        )
    }

    /// The largest |score| over all inputs of `bits`-bit features.
    pub fn score_bound(&self, bits: u32) -> i64 {
        let top = (1i64 << bits) - 1;
        self.weights.iter().map(|w| w.abs() * top).sum::<i64>() + self.bias.abs()
    }

    /// The width of the encrypted score: the smallest even number of bits whose signed range
    /// holds every score and both risk thresholds.
    pub fn score_bits(&self, bits: u32) -> u32 {
        let need = self.score_bound(bits) + self.risk_threshold + 1;
        let mut s = 2;
        while (1i64 << (s - 1)) <= need {
            s += 2;
        }
        s
    }
}

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
        return Err(Error::InvalidParameters(format!(
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
                return Err(Error::DimensionMismatch {
                    what: "features of a patient",
                    expected: model.weights.len(),
                    got: x.len(),
                });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dataset_and_its_split() {
        let d = breast_cancer();
        assert_eq!((d.len(), d.features[0].len()), (569, 30));
        assert_eq!(d.malignant.iter().filter(|&&m| m).count(), 212);
        let (train, test) = d.split(0.2, 7);
        assert_eq!((train.len(), test.len()), (455, 114));
        let (_, again) = d.split(0.2, 7);
        assert_eq!(test.features, again.features, "the split is seeded");
    }

    /// The quantized model within 2 points of the float model on the test split.
    #[test]
    fn quantization_costs_at_most_two_points() {
        let (train, test) = breast_cancer().split(TEST_FRACTION, SPLIT_SEED);
        let q = Quantizer::fit(&train, FEATURE_BITS);
        let float = FloatLogReg::train(&train, &q, ALPHA).unwrap();
        let quant = QuantizedLogReg::quantize(&float, FEATURE_BITS, MAX_WEIGHT);
        let hits = |f: &dyn Fn(&[f64]) -> bool| {
            test.features
                .iter()
                .zip(&test.malignant)
                .filter(|(x, &m)| f(x) == m)
                .count() as f64
                / test.len() as f64
        };
        let float_acc = hits(&|x| float.predict(&q.scale(x)));
        let quant_acc = hits(&|x| quant.predict_clear(&q.quantize(x)).0);
        assert!(float_acc > 0.9, "{float_acc}");
        assert!(quant_acc >= float_acc - 0.02, "{quant_acc} vs {float_acc}");
        assert!(quant.weights.iter().all(|w| w.abs() <= MAX_WEIGHT));
        assert_eq!(quant.score_bits(FEATURE_BITS), 12);
    }
}
