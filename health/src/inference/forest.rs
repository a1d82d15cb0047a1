//! The random forest: `smartcore`'s trees read as node lists over scaled features, and their
//! quantized twin (thresholds on the feature grid, splits that their path decides removed).

use super::dataset::{Dataset, Quantizer};
use crate::{Error, Result};
use serde::Serialize;

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
            .map_err(|e| Error::InvalidInput(format!("training data: {e}")))?;
        let y: Vec<u32> = train.malignant.iter().map(|&m| m as u32).collect();
        let params = RandomForestClassifierParameters::default()
            .with_n_trees(trees)
            .with_max_depth(depth)
            .with_seed(seed);
        let model = RandomForestClassifier::fit(&x, &y, params)
            .map_err(|e| Error::InvalidInput(format!("training: {e}")))?;
        Self::from_smartcore(
            &serde_json::to_value(&model)
                .map_err(|e| Error::InvalidInput(format!("reading the trained forest: {e}")))?,
        )
    }

    /// The trees of a serialized `smartcore` 0.7 `RandomForestClassifier` whose classes are
    /// `[0, 1]` (1 malignant).
    fn from_smartcore(v: &serde_json::Value) -> Result<Self> {
        let bad = |what: &str| Error::InvalidInput(format!("smartcore forest: {what}"));
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
