//! The quantized forest compiled to bootstraps: one per distinct comparison `x_f ≤ θ`, each
//! tree's malignant indicator as a sum of disjoint pieces (each one bootstrap over at most
//! three packed comparison bits), the vote groups and the majority.

use super::forest::{QuantizedForest, TreeNode};
use crate::{Error, Result};
use glovebox_integer::RadixLayout;
use std::collections::HashMap;

/// The most bits one bootstrap of the forest's circuit reads: three bits packed `4a + 2b + c`
/// carry a squared noise of 16 + 4 + 1 = 21, within the sets' 5² (four would need 85).
const PIECE_INPUTS: usize = 3;

/// A comparison's outcome required on a path: (comparison, `x ≤ θ` holds).
pub(super) type Literal = (usize, bool);

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
pub(super) enum Term {
    One,
    Lit(Literal),
    Piece(usize),
}

/// One bootstrap of the circuit: comparison bits packed from the most significant bit down,
/// then (for a collapse) an indicator sum at weight 1, read through `table`.
#[derive(Clone, Debug)]
pub(super) struct Piece {
    pub(super) bits: Vec<usize>,
    pub(super) value: Option<Vec<Term>>,
    pub(super) table: Vec<u64>,
    pub(super) level: usize,
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
    pub(super) comparisons: Vec<(usize, u64)>,
    pub(super) pieces: Vec<Piece>,
    pub(super) tree_terms: Vec<Vec<Term>>,
    /// Trees whose indicators are summed and bootstrapped together (one group: no merge).
    pub(super) groups: Vec<Vec<usize>>,
}

impl CompiledForest {
    pub fn new(forest: &QuantizedForest, layout: &RadixLayout) -> Result<Self> {
        let trees = forest.trees.len();
        if trees == 0 || trees as u64 >= layout.space {
            return Err(Error::InvalidInput(format!(
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
            let plan = planner
                .best(0, &[])
                .ok_or_else(|| Error::InvalidInput("a tree that no bootstrap plan fits".into()))?;
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
    pub(super) fn features(&self) -> usize {
        self.comparisons.iter().map(|c| c.0 + 1).max().unwrap_or(0)
    }

    /// Pieces in the order they can run: by level.
    pub(super) fn levels(&self) -> Vec<Vec<usize>> {
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
    pub(super) fn packing(&self, j: usize) -> Vec<(usize, i64)> {
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
    /// to [`Forest::predict_votes`](super::Forest::predict_votes) on every input (tested), so a wrong compilation shows
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
    use super::super::*;
    use super::*;

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
        // Seeded, so that a failure can be reproduced.
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(14);
        let top = (1u64 << FEATURE_BITS) - 1;
        let random = (0..20_000).map(|_| (0..30).map(|_| rng.gen_range(0..=top)).collect());
        for x in test.features.iter().map(|r| q.quantize(r)).chain(random) {
            let x: Vec<u64> = x;
            assert_eq!(circuit.eval_clear(&x), quant.predict_votes(&x), "{x:?}");
        }
        // Far fewer bootstraps than a comparison and a leaf indicator per node.
        let splits = quant.splits();
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
