//! The Breast Cancer Wisconsin (Diagnostic) data as `smartcore` ships it, its seeded split,
//! and the per-feature quantizer learnt on the training split.

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
}
