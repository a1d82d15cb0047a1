//! The logistic regression: trained in the clear with `smartcore` on scaled features, then
//! quantized to small integer weights over quantized features.

use super::dataset::{Dataset, Quantizer};
use crate::{Error, Result};
use serde::Serialize;

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
            .map_err(|e| Error::InvalidInput(format!("training data: {e}")))?;
        let y: Vec<u32> = train.malignant.iter().map(|&m| m as u32).collect();
        let model = LogisticRegression::fit(
            &x,
            &y,
            LogisticRegressionParameters::default().with_alpha(alpha),
        )
        .map_err(|e| Error::InvalidInput(format!("training: {e}")))?;
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

#[cfg(test)]
mod tests {
    use super::super::{
        accuracy, breast_cancer, ALPHA, FEATURE_BITS, MAX_WEIGHT, SPLIT_SEED, TEST_FRACTION,
    };
    use super::*;

    /// The quantized model within 2 points of the float model on the test split.
    #[test]
    fn quantization_costs_at_most_two_points() {
        let (train, test) = breast_cancer().split(TEST_FRACTION, SPLIT_SEED);
        let q = Quantizer::fit(&train, FEATURE_BITS);
        let float = FloatLogReg::train(&train, &q, ALPHA).unwrap();
        let quant = QuantizedLogReg::quantize(&float, FEATURE_BITS, MAX_WEIGHT);
        let hits = |f: &dyn Fn(&[f64]) -> bool| accuracy(&test, f);
        let float_acc = hits(&|x| float.predict(&q.scale(x)));
        let quant_acc = hits(&|x| quant.predict_clear(&q.quantize(x)).0);
        assert!(float_acc > 0.9, "{float_acc}");
        assert!(quant_acc >= float_acc - 0.02, "{quant_acc} vs {float_acc}");
        assert!(quant.weights.iter().all(|w| w.abs() <= MAX_WEIGHT));
        assert_eq!(quant.score_bits(FEATURE_BITS), 12);
    }
}
