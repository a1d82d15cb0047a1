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
//! [`IntegerServer::weighted_sum`]: each weight's base-4 digits place `digit·block` entries in
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

use crate::prelude::*;
use glovebox_integer::{
    Block, BoolCiphertext, Comparison, IntegerServer, RadixCiphertext, RadixLayout,
};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use std::collections::HashMap;

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

/// A decision tree as a node list (node 0 the root), over scaled features (float thresholds)
/// or quantized ones (integer thresholds).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum TreeNode<T> {
    Leaf {
        malignant: bool,
    },
    /// Goes to `at_most` when `x[feature] ≤ threshold`, to `above` otherwise (`smartcore`'s
    /// true and false children).
    Split {
        feature: usize,
        threshold: T,
        at_most: usize,
        above: usize,
    },
}

/// A tree ensemble: each tree votes, malignant when more than half of them vote malignant.
#[derive(Clone, Debug, Serialize)]
pub struct Forest<T> {
    pub trees: Vec<Vec<TreeNode<T>>>,
}

/// The float ensemble: thresholds on features scaled to `[0, 1]`.
pub type FloatForest = Forest<f64>;
/// The quantized ensemble: `x ≤ threshold` on `bits`-bit features, every split's outcome open
/// on its path (splits implied by their ancestors are removed).
pub type QuantizedForest = Forest<u64>;

/// The ensemble the command and the tests use: trees, their depth and the forest's seed.
pub const TREES: u16 = 7;
pub const TREE_DEPTH: u16 = 4;
pub const FOREST_SEED: u64 = 7;

impl<T: Copy + PartialOrd> Forest<T> {
    fn tree_votes(&self, x: &[T]) -> usize {
        self.trees
            .iter()
            .filter(|tree| {
                let mut i = 0;
                loop {
                    match &tree[i] {
                        TreeNode::Leaf { malignant } => return *malignant,
                        TreeNode::Split {
                            feature,
                            threshold,
                            at_most,
                            above,
                        } => {
                            i = if x[*feature] <= *threshold {
                                *at_most
                            } else {
                                *above
                            }
                        }
                    }
                }
            })
            .count()
    }

    /// Splits over all trees.
    pub fn splits(&self) -> usize {
        self.trees
            .iter()
            .map(|t| {
                t.iter()
                    .filter(|n| matches!(n, TreeNode::Split { .. }))
                    .count()
            })
            .sum()
    }

    /// Malignant votes and the majority.
    pub fn predict_votes(&self, x: &[T]) -> (bool, usize) {
        let votes = self.tree_votes(x);
        (2 * votes > self.trees.len(), votes)
    }
}

impl FloatForest {
    /// Trains `smartcore`'s random forest (`trees` trees of depth at most `depth`, bootstrap
    /// samples and feature subsets drawn from `seed`) on the scaled training split, and reads
    /// its trees through `smartcore`'s serde form (its node fields are not public).
    pub fn train(
        train: &Dataset,
        quantizer: &Quantizer,
        trees: u16,
        depth: u16,
        seed: u64,
    ) -> Result<Self> {
        use smartcore::ensemble::random_forest_classifier::{
            RandomForestClassifier, RandomForestClassifierParameters,
        };
        use smartcore::linalg::basic::matrix::DenseMatrix;
        let rows: Vec<Vec<f64>> = train.features.iter().map(|r| quantizer.scale(r)).collect();
        let x = DenseMatrix::from_2d_vec(&rows)
            .map_err(|e| Error::InvalidParameters(format!("training data: {e}")))?;
        let y: Vec<u32> = train.malignant.iter().map(|&m| m as u32).collect();
        let params = RandomForestClassifierParameters::default()
            .with_n_trees(trees)
            .with_max_depth(depth)
            .with_seed(seed);
        let model = RandomForestClassifier::fit(&x, &y, params)
            .map_err(|e| Error::InvalidParameters(format!("training: {e}")))?;
        Self::from_smartcore(
            &serde_json::to_value(&model).map_err(|e| {
                Error::InvalidParameters(format!("reading the trained forest: {e}"))
            })?,
        )
    }

    /// The trees of a serialized `smartcore` 0.7 `RandomForestClassifier` whose classes are
    /// `[0, 1]` (1 malignant).
    fn from_smartcore(v: &serde_json::Value) -> Result<Self> {
        let bad = |what: &str| Error::InvalidParameters(format!("smartcore forest: {what}"));
        if v["classes"] != serde_json::json!([0, 1]) {
            return Err(bad("classes are not [0, 1]"));
        }
        let index = |n: &serde_json::Value, key: &str| -> Result<Option<usize>> {
            match &n[key] {
                serde_json::Value::Null => Ok(None),
                x => x.as_u64().map(|i| Some(i as usize)).ok_or_else(|| bad(key)),
            }
        };
        let trees = v["trees"]
            .as_array()
            .ok_or_else(|| bad("no trees"))?
            .iter()
            .map(|t| {
                let nodes = t["nodes"].as_array().ok_or_else(|| bad("no nodes"))?;
                nodes
                    .iter()
                    .map(|n| {
                        Ok(match (index(n, "true_child")?, index(n, "false_child")?) {
                            (Some(at_most), Some(above))
                                if at_most < nodes.len() && above < nodes.len() =>
                            {
                                TreeNode::Split {
                                    feature: index(n, "split_feature")?
                                        .ok_or_else(|| bad("split_feature"))?,
                                    threshold: n["split_value"]
                                        .as_f64()
                                        .ok_or_else(|| bad("split_value"))?,
                                    at_most,
                                    above,
                                }
                            }
                            (None, None) => TreeNode::Leaf {
                                malignant: index(n, "output")?.ok_or_else(|| bad("output"))? == 1,
                            },
                            _ => return Err(bad("children")),
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { trees })
    }

    /// The quantized twin: a split `s ≤ t` on a scaled feature becomes `q ≤ ⌊t·(2^bits − 1)⌋`
    /// on the quantized one (`s ≤ t` read on the dequantized `q / (2^bits − 1)`). A split whose
    /// outcome its path already decides is replaced by the child it leads to, and a split
    /// whose two subtrees are the same leaf by that leaf, so every split left costs a
    /// comparison that matters.
    pub fn quantize(&self, bits: u32) -> QuantizedForest {
        let top = (1u64 << bits) - 1;
        let trees = self
            .trees
            .iter()
            .map(|tree| {
                let mut out = Vec::new();
                let mut ranges = vec![
                    (0u64, top);
                    tree.iter()
                        .map(|n| match n {
                            TreeNode::Split { feature, .. } => feature + 1,
                            _ => 0,
                        })
                        .max()
                        .unwrap_or(0)
                ];
                quantize_node(tree, 0, top, &mut ranges, &mut out);
                out
            })
            .collect();
        Forest { trees }
    }
}

/// Copies node `i` of `tree` into `out` with its threshold quantized, within the feature
/// ranges its path allows; returns its index in `out`.
fn quantize_node(
    tree: &[TreeNode<f64>],
    i: usize,
    top: u64,
    ranges: &mut [(u64, u64)],
    out: &mut Vec<TreeNode<u64>>,
) -> usize {
    match &tree[i] {
        TreeNode::Leaf { malignant } => {
            out.push(TreeNode::Leaf {
                malignant: *malignant,
            });
            out.len() - 1
        }
        TreeNode::Split {
            feature,
            threshold,
            at_most,
            above,
        } => {
            let f = *feature;
            let (lo, hi) = ranges[f];
            // q ≤ θ with θ = ⌊t·top⌋; below 0 no value is at most it.
            let t = (threshold * top as f64).floor();
            if t < lo as f64 {
                return quantize_node(tree, *above, top, ranges, out);
            }
            let theta = (t as u64).min(top);
            if theta >= hi {
                return quantize_node(tree, *at_most, top, ranges, out);
            }
            let me = out.len();
            out.push(TreeNode::Leaf { malignant: false });
            ranges[f] = (lo, theta);
            let left = quantize_node(tree, *at_most, top, ranges, out);
            ranges[f] = (theta + 1, hi);
            let right = quantize_node(tree, *above, top, ranges, out);
            ranges[f] = (lo, hi);
            out[me] = match (&out[left], &out[right]) {
                (TreeNode::Leaf { malignant: a }, TreeNode::Leaf { malignant: b }) if a == b => {
                    let leaf = TreeNode::Leaf { malignant: *a };
                    out.truncate(me);
                    out.push(leaf);
                    return me;
                }
                _ => TreeNode::Split {
                    feature: f,
                    threshold: theta,
                    at_most: left,
                    above: right,
                },
            };
            me
        }
    }
}

/// The most bits one bootstrap of the forest's circuit reads: three bits packed `4a + 2b + c`
/// carry a squared noise of 16 + 4 + 1 = 21, within the sets' 5² (four would need 85).
const PIECE_INPUTS: usize = 3;

/// A comparison's outcome required on a path: (comparison, `x ≤ θ` holds).
type Literal = (usize, bool);

/// How a subtree's malignant indicator (restricted to a path) is computed: a sum of terms of
/// which at most one is 1, so the sum is itself an indicator.
#[derive(Clone, Debug)]
enum Plan {
    Empty,
    One,
    Lit(Literal),
    /// One bootstrap over `inputs` (comparison bits): every literal of `path` holds and the
    /// subtree at `node` reaches a malignant leaf.
    Whole {
        node: usize,
        path: Vec<Literal>,
        inputs: Vec<usize>,
    },
    Split(Box<Plan>, Box<Plan>),
    /// One bootstrap over `path`'s comparison bits and the subtree's own indicator (`inner`,
    /// computed without the path).
    Collapse {
        path: Vec<Literal>,
        inner: Box<Plan>,
    },
}

impl Plan {
    fn cost(&self) -> usize {
        match self {
            Plan::Empty | Plan::One | Plan::Lit(_) => 0,
            Plan::Whole { .. } => 1,
            Plan::Split(a, b) => a.cost() + b.cost(),
            Plan::Collapse { inner, .. } => 1 + inner.cost(),
        }
    }

    /// The squared noise of the sum of its terms (each nominal, constants noiseless).
    fn noise(&self) -> u64 {
        match self {
            Plan::Empty | Plan::One => 0,
            Plan::Lit(_) | Plan::Whole { .. } | Plan::Collapse { .. } => 1,
            Plan::Split(a, b) => a.noise() + b.noise(),
        }
    }
}

/// Picks, for each subtree and path, the plan with the fewest bootstraps.
struct TreePlanner<'a> {
    tree: &'a [TreeNode<u64>],
    comparison: &'a HashMap<(usize, u64), usize>,
    max_noise: u64,
}

impl TreePlanner<'_> {
    fn cmp(&self, v: usize) -> usize {
        match &self.tree[v] {
            TreeNode::Split {
                feature, threshold, ..
            } => self.comparison[&(*feature, *threshold)],
            TreeNode::Leaf { .. } => unreachable!("leaves compare nothing"),
        }
    }

    fn subtree_cmps(&self, v: usize, out: &mut Vec<usize>) {
        if let TreeNode::Split { at_most, above, .. } = &self.tree[v] {
            out.push(self.cmp(v));
            self.subtree_cmps(*at_most, out);
            self.subtree_cmps(*above, out);
        }
    }

    /// The cheapest plan for subtree `v` under `path` (at most [`PIECE_INPUTS`] literals),
    /// ties broken by noise; `None` when nothing fits.
    fn best(&self, v: usize, path: &[Literal]) -> Option<Plan> {
        let (at_most, above) = match &self.tree[v] {
            TreeNode::Leaf { malignant: false } => return Some(Plan::Empty),
            TreeNode::Leaf { malignant: true } => {
                return Some(match path {
                    [] => Plan::One,
                    [l] => Plan::Lit(*l),
                    _ => Plan::Whole {
                        node: v,
                        path: path.to_vec(),
                        inputs: path.iter().map(|l| l.0).collect(),
                    },
                })
            }
            TreeNode::Split { at_most, above, .. } => (*at_most, *above),
        };
        let mut options = Vec::new();
        // The whole subtree and its path in one bootstrap.
        let mut inputs: Vec<usize> = path.iter().map(|l| l.0).collect();
        self.subtree_cmps(v, &mut inputs);
        inputs.sort_unstable();
        inputs.dedup();
        if inputs.len() <= PIECE_INPUTS {
            options.push(if path.is_empty() && inputs.len() == 1 {
                // One split between two leaves of different classes (pruned trees have no
                // other single-comparison subtree): its bit or its complement.
                let malignant_at_most =
                    matches!(self.tree[at_most], TreeNode::Leaf { malignant: true });
                Plan::Lit((inputs[0], malignant_at_most))
            } else {
                Plan::Whole {
                    node: v,
                    path: path.to_vec(),
                    inputs,
                }
            });
        }
        // Each child under the path extended by this split's outcome.
        if path.len() < PIECE_INPUTS {
            let c = self.cmp(v);
            let with = |b: bool| [path, &[(c, b)]].concat();
            if let (Some(l), Some(r)) = (
                self.best(at_most, &with(true)),
                self.best(above, &with(false)),
            ) {
                options.push(match (l, r) {
                    (Plan::Empty, x) | (x, Plan::Empty) => x,
                    (l, r) => Plan::Split(Box::new(l), Box::new(r)),
                });
            }
        }
        // The subtree's own indicator, then one bootstrap to restrict it to the path.
        if !path.is_empty() && path.len() < PIECE_INPUTS {
            if let Some(inner) = self.best(v, &[]) {
                let bits_noise: u64 = (1..=path.len() as u32).map(|j| 4u64.pow(j)).sum();
                if bits_noise + inner.noise() <= self.max_noise {
                    options.push(Plan::Collapse {
                        path: path.to_vec(),
                        inner: Box::new(inner),
                    });
                }
            }
        }
        options.into_iter().min_by_key(|p| (p.cost(), p.noise()))
    }
}

/// A term of an indicator sum: a constant 1, a comparison bit or its complement, or the
/// output of a piece.
#[derive(Clone, Debug)]
enum Term {
    One,
    Lit(Literal),
    Piece(usize),
}

/// One bootstrap of the circuit: comparison bits packed from the most significant bit down,
/// then (for a collapse) an indicator sum at weight 1, read through `table`.
#[derive(Clone, Debug)]
struct Piece {
    bits: Vec<usize>,
    value: Option<Vec<Term>>,
    table: Vec<u64>,
    level: usize,
}

/// Does an assignment of comparison bits satisfy every literal?
fn holds(path: &[Literal], bit: impl Fn(usize) -> bool) -> bool {
    path.iter().all(|&(c, b)| bit(c) == b)
}

/// A quantized forest compiled to bootstraps: the distinct comparisons `x_f ≤ θ` (one each),
/// the pieces that turn them into each tree's malignant indicator, the vote groups and the
/// majority. Every bootstrap input stays within the set's noise bound.
#[derive(Clone, Debug)]
pub struct CompiledForest {
    pub forest: QuantizedForest,
    comparisons: Vec<(usize, u64)>,
    pieces: Vec<Piece>,
    tree_terms: Vec<Vec<Term>>,
    /// Trees whose indicators are summed and bootstrapped together (one group: no merge).
    groups: Vec<Vec<usize>>,
}

impl CompiledForest {
    pub fn new(forest: &QuantizedForest, layout: &RadixLayout) -> Result<Self> {
        let trees = forest.trees.len();
        if trees == 0 || trees as u64 >= layout.space {
            return Err(Error::InvalidParameters(format!(
                "a forest of {trees} trees (1 to {} votes fit a block)",
                layout.space - 1
            )));
        }
        let mut comparisons = Vec::new();
        let mut index = HashMap::new();
        for tree in &forest.trees {
            for node in tree {
                if let TreeNode::Split {
                    feature, threshold, ..
                } = node
                {
                    index.entry((*feature, *threshold)).or_insert_with(|| {
                        comparisons.push((*feature, *threshold));
                        comparisons.len() - 1
                    });
                }
            }
        }
        let mut pieces = Vec::new();
        let mut tree_terms = Vec::new();
        let mut noises = Vec::new();
        for tree in &forest.trees {
            let planner = TreePlanner {
                tree,
                comparison: &index,
                max_noise: layout.max_noise,
            };
            let plan = planner.best(0, &[]).ok_or_else(|| {
                Error::InvalidParameters("a tree that no bootstrap plan fits".into())
            })?;
            noises.push(plan.noise());
            tree_terms.push(emit(&plan, &planner, &mut pieces));
        }
        let mut groups: Vec<Vec<usize>> = vec![Vec::new()];
        let mut noise = 0;
        for (t, &n) in noises.iter().enumerate() {
            if noise + n > layout.max_noise && !groups.last().unwrap().is_empty() {
                groups.push(Vec::new());
                noise = 0;
            }
            noise += n;
            groups.last_mut().unwrap().push(t);
        }
        Ok(Self {
            forest: forest.clone(),
            comparisons,
            pieces,
            tree_terms,
            groups,
        })
    }

    /// Bootstraps per prediction: one per distinct comparison, one per piece, one per vote
    /// group when there are several, and the majority.
    pub fn bootstraps(&self) -> usize {
        let merges = if self.groups.len() > 1 {
            self.groups.len()
        } else {
            0
        };
        self.comparisons.len() + self.pieces.len() + merges + 1
    }

    /// Distinct comparisons of an encrypted feature with a clear threshold.
    pub fn comparisons(&self) -> usize {
        self.comparisons.len()
    }

    /// Features a patient must have.
    fn features(&self) -> usize {
        self.comparisons.iter().map(|c| c.0 + 1).max().unwrap_or(0)
    }

    /// Pieces in the order they can run: by level.
    fn levels(&self) -> Vec<Vec<usize>> {
        let top = self.pieces.iter().map(|p| p.level).max().unwrap_or(0);
        (1..=top)
            .map(|l| {
                (0..self.pieces.len())
                    .filter(|&j| self.pieces[j].level == l)
                    .collect()
            })
            .collect()
    }

    /// The packed input of a piece: its bits from the most significant down, then its
    /// indicator sum at weight 1 (a collapse).
    fn packing(&self, j: usize) -> Vec<(usize, i64)> {
        let piece = &self.pieces[j];
        let k = piece.bits.len() + piece.value.is_some() as usize;
        piece
            .bits
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, 1i64 << (k - 1 - i)))
            .collect()
    }

    /// The circuit run in the clear, step for step as encrypted: (malignant, votes). Equal
    /// to [`Forest::predict_votes`] on every input (tested), so a wrong compilation shows
    /// without any encryption.
    pub fn eval_clear(&self, x: &[u64]) -> (bool, usize) {
        let bits: Vec<u64> = self
            .comparisons
            .iter()
            .map(|&(f, t)| (x[f] <= t) as u64)
            .collect();
        let mut out = vec![0u64; self.pieces.len()];
        let term = |t: &Term, out: &[u64]| match t {
            Term::One => 1,
            Term::Lit((c, b)) => (bits[*c] == *b as u64) as u64,
            Term::Piece(j) => out[*j],
        };
        for level in self.levels() {
            for j in level {
                let piece = &self.pieces[j];
                let mut v: u64 = self
                    .packing(j)
                    .iter()
                    .map(|&(c, w)| bits[c] * w as u64)
                    .sum();
                if let Some(terms) = &piece.value {
                    v += terms.iter().map(|t| term(t, &out)).sum::<u64>();
                }
                out[j] = piece.table[v as usize];
            }
        }
        let votes: u64 = self
            .tree_terms
            .iter()
            .flatten()
            .map(|t| term(t, &out))
            .sum();
        (2 * votes > self.tree_terms.len() as u64, votes as usize)
    }
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
        return Err(Error::InvalidParameters(format!(
            "a {FEATURE_BITS}-bit feature does not fit one block of this set"
        )));
    }
    // Every feature packed into one block: Σ m^i·block_i.
    let mut packed: Vec<Vec<Option<Block>>> = Vec::with_capacity(patients.len());
    let used: std::collections::BTreeSet<usize> = circuit.comparisons.iter().map(|c| c.0).collect();
    for x in patients {
        if x.len() < circuit.features() {
            return Err(Error::DimensionMismatch {
                what: "features of a patient",
                expected: circuit.features(),
                got: x.len(),
            });
        }
        let mut row = vec![None; x.len()];
        for &f in &used {
            if x[f].num_blocks() != blocks {
                return Err(Error::DimensionMismatch {
                    what: "blocks of a feature",
                    expected: blocks,
                    got: x[f].num_blocks(),
                });
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
    let term = |t: &Term, bits: &[Block], out: &[Option<Block>]| -> Result<Block> {
        match t {
            Term::One => ints.trivial(1),
            Term::Lit((c, true)) => Ok(bits[*c].clone()),
            Term::Lit((c, false)) => ints.linear_combination(&[(&bits[*c], -1)], 1),
            Term::Piece(j) => Ok(out[*j].clone().expect("an earlier level")),
        }
    };
    let indicator = |terms: &[Term], bits: &[Block], out: &[Option<Block>]| -> Result<Block> {
        let blocks = terms
            .iter()
            .map(|t| term(t, bits, out))
            .collect::<Result<Vec<_>>>()?;
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
                .collect::<Result<Vec<_>>>()?;
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
        .collect::<Result<Vec<_>>>()?;
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

/// Emits `plan`'s pieces into `pieces`; returns its terms.
fn emit(plan: &Plan, planner: &TreePlanner, pieces: &mut Vec<Piece>) -> Vec<Term> {
    let tree = planner.tree;
    match plan {
        Plan::Empty => vec![],
        Plan::One => vec![Term::One],
        Plan::Lit(l) => vec![Term::Lit(*l)],
        Plan::Split(a, b) => [emit(a, planner, pieces), emit(b, planner, pieces)].concat(),
        Plan::Whole { node, path, inputs } => {
            let k = inputs.len();
            let table = (0..1u64 << k)
                .map(|v| {
                    let bit = |c: usize| {
                        let j = inputs.iter().position(|&i| i == c).expect("an input");
                        (v >> (k - 1 - j)) & 1 == 1
                    };
                    let mut i = *node;
                    let malignant = loop {
                        match &tree[i] {
                            TreeNode::Leaf { malignant } => break *malignant,
                            TreeNode::Split { at_most, above, .. } => {
                                i = if bit(planner.cmp(i)) {
                                    *at_most
                                } else {
                                    *above
                                };
                            }
                        }
                    };
                    (holds(path, bit) && malignant) as u64
                })
                .collect();
            pieces.push(Piece {
                bits: inputs.clone(),
                value: None,
                table,
                level: 1,
            });
            vec![Term::Piece(pieces.len() - 1)]
        }
        Plan::Collapse { path, inner } => {
            let terms = emit(inner, planner, pieces);
            let level = 1 + terms
                .iter()
                .filter_map(|t| match t {
                    Term::Piece(j) => Some(pieces[*j].level),
                    _ => None,
                })
                .max()
                .unwrap_or(0);
            let bits: Vec<usize> = path.iter().map(|l| l.0).collect();
            let p = bits.len();
            let table = (0..1u64 << (p + 1))
                .map(|v| {
                    let bit = |c: usize| {
                        let j = bits.iter().position(|&i| i == c).expect("a path bit");
                        (v >> (p - j)) & 1 == 1
                    };
                    (holds(path, bit) && v & 1 == 1) as u64
                })
                .collect();
            pieces.push(Piece {
                bits,
                value: Some(terms),
                table,
                level,
            });
            vec![Term::Piece(pieces.len() - 1)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fraction of `test`'s patients whose diagnosis `predict` gets right.
    fn accuracy(test: &Dataset, predict: &dyn Fn(&[f64]) -> bool) -> f64 {
        test.features
            .iter()
            .zip(&test.malignant)
            .filter(|(x, &m)| predict(x) == m)
            .count() as f64
            / test.len() as f64
    }

    /// Every split of `tree` below `i` is open within the feature ranges of its path.
    fn splits_are_open(tree: &[TreeNode<u64>], i: usize, ranges: &mut [(u64, u64)]) -> bool {
        match &tree[i] {
            TreeNode::Leaf { .. } => true,
            TreeNode::Split {
                feature,
                threshold,
                at_most,
                above,
            } => {
                let (lo, hi) = ranges[*feature];
                if !(lo <= *threshold && *threshold < hi) {
                    return false;
                }
                ranges[*feature] = (lo, *threshold);
                let left = splits_are_open(tree, *at_most, ranges);
                ranges[*feature] = (*threshold + 1, hi);
                let right = splits_are_open(tree, *above, ranges);
                ranges[*feature] = (lo, hi);
                left && right
            }
        }
    }

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
        let hits = |f: &dyn Fn(&[f64]) -> bool| accuracy(&test, f);
        let float_acc = hits(&|x| float.predict(&q.scale(x)));
        let quant_acc = hits(&|x| quant.predict_clear(&q.quantize(x)).0);
        assert!(float_acc > 0.9, "{float_acc}");
        assert!(quant_acc >= float_acc - 0.02, "{quant_acc} vs {float_acc}");
        assert!(quant.weights.iter().all(|w| w.abs() <= MAX_WEIGHT));
        assert_eq!(quant.score_bits(FEATURE_BITS), 12);
    }

    /// The forest read from `smartcore` predicts what `smartcore` predicts, its quantized
    /// twin loses at most two points, and the compiled circuit computes the twin exactly.
    #[test]
    fn the_forest_its_quantized_twin_and_its_circuit() {
        use rand::Rng;
        use smartcore::ensemble::random_forest_classifier::{
            RandomForestClassifier, RandomForestClassifierParameters,
        };
        use smartcore::linalg::basic::matrix::DenseMatrix;
        let (train, test) = breast_cancer().split(TEST_FRACTION, SPLIT_SEED);
        let q = Quantizer::fit(&train, FEATURE_BITS);
        let forest = FloatForest::train(&train, &q, TREES, TREE_DEPTH, FOREST_SEED).unwrap();
        assert_eq!(forest.trees.len(), TREES as usize);
        let rows: Vec<Vec<f64>> = train.features.iter().map(|r| q.scale(r)).collect();
        let y: Vec<u32> = train.malignant.iter().map(|&m| m as u32).collect();
        let theirs = RandomForestClassifier::fit(
            &DenseMatrix::from_2d_vec(&rows).unwrap(),
            &y,
            RandomForestClassifierParameters::default()
                .with_n_trees(TREES)
                .with_max_depth(TREE_DEPTH)
                .with_seed(FOREST_SEED),
        )
        .unwrap();
        let scaled: Vec<Vec<f64>> = test.features.iter().map(|r| q.scale(r)).collect();
        let predicted = theirs
            .predict(&DenseMatrix::from_2d_vec(&scaled).unwrap())
            .unwrap();
        for (s, p) in scaled.iter().zip(&predicted) {
            assert_eq!(forest.predict_votes(s).0, *p == 1);
        }

        let quant = forest.quantize(FEATURE_BITS);
        let hits = |f: &dyn Fn(&[f64]) -> bool| accuracy(&test, f);
        let float_acc = hits(&|x| forest.predict_votes(&q.scale(x)).0);
        let quant_acc = hits(&|x| quant.predict_votes(&q.quantize(x)).0);
        assert!(float_acc > 0.9, "{float_acc}");
        assert!(quant_acc >= float_acc - 0.02, "{quant_acc} vs {float_acc}");
        // Pruning: no split left whose outcome its path decides.
        let top = (1u64 << FEATURE_BITS) - 1;
        for (qt, ft) in quant.trees.iter().zip(&forest.trees) {
            assert!(qt.len() <= ft.len());
            assert!(splits_are_open(qt, 0, &mut vec![(0, top); 30]));
        }

        let layout = RadixLayout::new(&crate::prelude::TEST_PARAMS_INSECURE).unwrap();
        let circuit = CompiledForest::new(&quant, &layout).unwrap();
        let mut rng = rand::thread_rng();
        let top = (1u64 << FEATURE_BITS) - 1;
        let random = (0..20_000).map(|_| (0..30).map(|_| rng.gen_range(0..=top)).collect());
        for x in test.features.iter().map(|r| q.quantize(r)).chain(random) {
            let x: Vec<u64> = x;
            assert_eq!(circuit.eval_clear(&x), quant.predict_votes(&x), "{x:?}");
        }
        // Far fewer bootstraps than a comparison and a leaf indicator per node.
        let splits: usize = quant
            .trees
            .iter()
            .map(|t| {
                t.iter()
                    .filter(|n| matches!(n, TreeNode::Split { .. }))
                    .count()
            })
            .sum();
        assert!(
            circuit.bootstraps() < 2 * splits,
            "{} vs {splits}",
            circuit.bootstraps()
        );
        eprintln!(
            "forest: float {float_acc:.3}, quantized {quant_acc:.3}, {splits} splits, {} comparisons, {} bootstraps",
            circuit.comparisons(),
            circuit.bootstraps()
        );
    }
}
