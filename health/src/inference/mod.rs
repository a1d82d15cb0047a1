//! Encrypted inference on a real medical dataset: the Breast Cancer Wisconsin (Diagnostic)
//! data (569 patients, 30 features, malignant or benign), shipped by `smartcore`'s `datasets`
//! feature (no download at run time).
//!
//! Each model is trained in the clear on min–max-scaled features, then quantized: each feature
//! to [`FEATURE_BITS`] bits with the ranges of the training split, the weights, the bias and
//! the thresholds to small integers. The quantized clear model is what the encrypted
//! evaluation must equal, patient for patient.
//!
//! **Logistic regression.** Encrypted, the score `Σ wᵢ·xᵢ + b` (clear weights) is one
//! [`IntegerServer::weighted_sum`](glovebox_integer::IntegerServer::weighted_sum): each weight's base-4 digits place `digit·block` entries in
//! the columns of their weight, and one column-compression sum adds all of them, a bootstrap
//! per group of entries that fills the plaintext space. The constant carries an offset
//! `2^(s−1)`, so the s-bit result `u = score + 2^(s−1)` orders like the signed score (s the
//! smallest even width that holds every score the model can reach,
//! [`QuantizedLogReg::score_bits`]); the diagnosis is `u ≥ 2^(s−1)` (malignant when the score
//! is not negative) and the risk level counts the two clear thresholds `u` reaches.
//!
//! **Random forest.** [`FloatForest`] is `smartcore`'s random forest; [`FloatForest::quantize`]
//! moves its thresholds to the feature grid and removes the splits their path decides;
//! [`CompiledForest`] turns it into bootstraps: one per distinct comparison `x_f ≤ θ` (the
//! feature's two blocks packed into one), then each tree's malignant indicator as a sum of
//! disjoint pieces, each one bootstrap over at most three packed comparison bits (a subtree
//! with its path, or a path with a subtree's indicator), the votes summed linearly and their
//! majority in one bootstrap.
//!
//! The module is split by concern: [`dataset`] (the data, its split and the quantizer),
//! [`logreg`] (the logistic regression, float and quantized), [`forest`] (the random forest,
//! float and quantized), [`compiler`] (the quantized forest compiled to bootstraps) and
//! [`evaluator`] (both models evaluated on encrypted patients).

pub mod compiler;
pub mod dataset;
pub mod evaluator;
pub mod forest;
pub mod logreg;

pub use compiler::CompiledForest;
pub use dataset::*;
pub use evaluator::*;
pub use forest::*;
pub use logreg::*;

/// The fraction of `test`'s patients whose diagnosis `predict` gets right.
#[cfg(test)]
pub(crate) fn accuracy(test: &Dataset, predict: &dyn Fn(&[f64]) -> bool) -> f64 {
    test.features
        .iter()
        .zip(&test.malignant)
        .filter(|(x, &m)| predict(x) == m)
        .count() as f64
        / test.len() as f64
}
