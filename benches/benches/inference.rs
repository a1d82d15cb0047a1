//! Encrypted inference on the Breast Cancer Wisconsin test split, Glovebox beside TFHE-rs's
//! integer API, on the same parameters (TFHE-rs's default 2_2 set), the same quantized models,
//! the same patients and the same machine, in the same run.
//!
//! One iteration = 8 test patients (criterion reports predictions per second). Every variant
//! is checked against the quantized clear model before it is timed.
//!
//! Group `inference_logreg` (the quantized logistic regression, 30 features of 4 bits, weights
//! in [−3, 3]; outputs: the diagnosis and the two risk-threshold flags):
//! - `tfhe-rs-integer`: features as `FheUint16`; `u = Σ_{w>0} w·x + (offset + bias) −
//!   Σ_{w<0} |w|·x` with clear scalar multiplications, `FheUint16::sum` and one subtraction
//!   (wrapping, as the offset makes `u` order like the signed score), then three
//!   `ge` comparisons with clear constants (all patients in parallel);
//! - `glovebox-cpu-fft`, `glovebox-cpu`: `predict_encrypted` (one column-compression weighted
//!   sum and three clear comparisons, every bootstrap through the host driver).
//!
//! Group `inference_trees` (the quantized random forest, 7 trees of depth ≤ 4; outputs: the
//! majority and the malignant votes):
//! - `tfhe-rs-integer`: features as `FheUint8`; one `le` per split, each malignant leaf's path
//!   as an AND of the split outcomes (`!` for the other side), a tree's vote the OR of its
//!   malignant leaves, the votes `FheUint8::cast_from` and summed, the majority one `gt`;
//! - `glovebox-cpu-fft`, `glovebox-cpu`: `predict_forest_encrypted` (the compiled circuit).
//!
//! Run: `cargo bench -p glovebox-benches --bench inference`.

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use glovebox_health::driver::{Driver, DriverConfig};
use glovebox_health::inference::*;
use glovebox_health::integer::{
    decrypt_bool, encrypt_radix, IntegerServer, RadixCiphertext, RadixLayout,
};
use glovebox_health::prelude::*;
use rayon::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use tfhe::prelude::*;
use tfhe::{generate_keys, set_server_key, ClientKey as TfheClientKey, ConfigBuilder, FheBool};
use tfhe::{FheUint16, FheUint8};

const PATIENTS: usize = 8;

struct Setup {
    quantized: Vec<Vec<u64>>,
    logreg: QuantizedLogReg,
    forest: QuantizedForest,
    circuit: CompiledForest,
    client: ClientKey,
    encrypted: Vec<Vec<RadixCiphertext>>,
    drivers: Vec<(&'static str, Driver, Arc<ServerKey>)>,
}

fn setup() -> Setup {
    let params = &PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    let (train, test) = breast_cancer().split(TEST_FRACTION, SPLIT_SEED);
    let q = Quantizer::fit(&train, FEATURE_BITS);
    let logreg = QuantizedLogReg::quantize(
        &FloatLogReg::train(&train, &q, ALPHA).unwrap(),
        FEATURE_BITS,
        MAX_WEIGHT,
    );
    let forest = FloatForest::train(&train, &q, TREES, TREE_DEPTH, FOREST_SEED)
        .unwrap()
        .quantize(FEATURE_BITS);
    let layout = RadixLayout::new(params).unwrap();
    let circuit = CompiledForest::new(&forest, &layout).unwrap();
    let quantized: Vec<Vec<u64>> = test.features[..PATIENTS]
        .iter()
        .map(|x| q.quantize(x))
        .collect();
    let client = ClientKey::new(params).unwrap();
    let encrypted = quantized
        .iter()
        .map(|x| {
            x.iter()
                .map(|&v| encrypt_radix(&client, v, layout.blocks(FEATURE_BITS)).unwrap())
                .collect()
        })
        .collect();
    let server_key = Arc::new(client.server_key().unwrap());
    let backends: [(&'static str, Arc<dyn Backend>); 2] = [
        ("glovebox-cpu-fft", Arc::new(CpuFftBackend::new())),
        ("glovebox-cpu", Arc::new(CpuBackend::new())),
    ];
    let drivers = backends
        .into_iter()
        .map(|(name, b)| {
            let d = Driver::new(b, server_key.clone(), DriverConfig::default()).unwrap();
            (name, d, server_key.clone())
        })
        .collect();
    Setup {
        quantized,
        logreg,
        forest,
        circuit,
        client,
        encrypted,
        drivers,
    }
}

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(PATIENTS as u64));
    g
}

fn tfhe_keys() -> TfheClientKey {
    let (ck, sk) = generate_keys(ConfigBuilder::default());
    rayon::broadcast(|_| set_server_key(sk.clone()));
    set_server_key(sk);
    ck
}

fn inference(c: &mut Criterion) {
    let s = setup();
    let ck = tfhe_keys();

    // Logistic regression.
    let mut g = group(c, "inference_logreg");
    let want: Vec<(bool, u8)> = s
        .quantized
        .iter()
        .map(|x| s.logreg.predict_clear(x))
        .collect();
    for (name, driver, key) in &s.drivers {
        let ints = IntegerServer::new(driver, key).unwrap();
        let out = predict_encrypted(&ints, &s.logreg, &s.encrypted).unwrap();
        for (p, w) in out.iter().zip(&want) {
            let risk = decrypt_bool(&s.client, &p.risk[0]).unwrap() as u8
                + decrypt_bool(&s.client, &p.risk[1]).unwrap() as u8;
            assert_eq!(
                (decrypt_bool(&s.client, &p.malignant).unwrap(), risk),
                *w,
                "{name}"
            );
        }
        g.bench_function(*name, |b| {
            b.iter(|| predict_encrypted(&ints, &s.logreg, &s.encrypted).unwrap())
        });
    }
    let score_bits = s.logreg.score_bits(FEATURE_BITS);
    assert!(score_bits <= 16);
    let offset = 1i64 << (score_bits - 1);
    let features16: Vec<Vec<FheUint16>> = s
        .quantized
        .iter()
        .map(|x| {
            x.iter()
                .map(|&v| FheUint16::encrypt(v as u16, &ck))
                .collect()
        })
        .collect();
    let logreg = &s.logreg;
    let run_logreg = || -> Vec<[FheBool; 3]> {
        features16
            .par_iter()
            .map(|x| {
                let signed = |positive: bool| {
                    x.par_iter()
                        .zip(&logreg.weights)
                        .filter(|(_, &w)| w != 0 && (w > 0) == positive)
                        .map(|(f, &w)| f * w.unsigned_abs() as u16)
                        .collect::<Vec<FheUint16>>()
                };
                let (pos, neg) = rayon::join(|| signed(true), || signed(false));
                let constant = (offset + logreg.bias) as u16;
                let u = (pos.iter().sum::<FheUint16>() + constant) - neg.iter().sum::<FheUint16>();
                let at_least = |t: i64| u.ge((offset + t) as u16);
                [
                    at_least(0),
                    at_least(-logreg.risk_threshold),
                    at_least(logreg.risk_threshold),
                ]
            })
            .collect()
    };
    for (out, w) in run_logreg().iter().zip(&want) {
        let risk = out[1].decrypt(&ck) as u8 + out[2].decrypt(&ck) as u8;
        assert_eq!((out[0].decrypt(&ck), risk), *w, "tfhe-rs");
    }
    g.bench_function("tfhe-rs-integer", |b| b.iter(run_logreg));
    g.finish();

    // Random forest.
    let mut g = group(c, "inference_trees");
    let want: Vec<(bool, usize)> = s
        .quantized
        .iter()
        .map(|x| s.forest.predict_votes(x))
        .collect();
    for (name, driver, key) in &s.drivers {
        let ints = IntegerServer::new(driver, key).unwrap();
        let out = predict_forest_encrypted(&ints, &s.circuit, &s.encrypted).unwrap();
        for (p, w) in out.iter().zip(&want) {
            let votes = s
                .client
                .decrypt_message_and_carry(p.votes.ciphertext())
                .unwrap();
            assert_eq!(
                (
                    decrypt_bool(&s.client, &p.malignant).unwrap(),
                    votes as usize
                ),
                *w,
                "{name}"
            );
        }
        g.bench_function(*name, |b| {
            b.iter(|| predict_forest_encrypted(&ints, &s.circuit, &s.encrypted).unwrap())
        });
    }
    let features8: Vec<Vec<FheUint8>> = s
        .quantized
        .iter()
        .map(|x| x.iter().map(|&v| FheUint8::encrypt(v as u8, &ck)).collect())
        .collect();
    let forest = &s.forest;
    let trees = forest.trees.len() as u8;
    let run_trees = || -> Vec<(FheBool, FheUint8)> {
        features8
            .par_iter()
            .map(|x| {
                let votes: Vec<FheUint8> = forest
                    .trees
                    .par_iter()
                    .map(|tree| {
                        // Every split's outcome, then each malignant leaf's path.
                        let outcome: Vec<Option<FheBool>> = tree
                            .par_iter()
                            .map(|n| match n {
                                TreeNode::Split {
                                    feature, threshold, ..
                                } => Some(x[*feature].le(*threshold as u8)),
                                TreeNode::Leaf { .. } => None,
                            })
                            .collect();
                        let mut paths: Vec<FheBool> = Vec::new();
                        let mut stack: Vec<(usize, Option<FheBool>)> = vec![(0, None)];
                        while let Some((i, path)) = stack.pop() {
                            match &tree[i] {
                                TreeNode::Leaf { malignant: true } => paths
                                    .push(path.unwrap_or_else(|| FheBool::encrypt_trivial(true))),
                                TreeNode::Leaf { malignant: false } => {}
                                TreeNode::Split { at_most, above, .. } => {
                                    let b = outcome[i].clone().expect("a split");
                                    let not_b = !&b;
                                    let and = |p: &Option<FheBool>, c: FheBool| match p {
                                        Some(p) => p & &c,
                                        None => c,
                                    };
                                    stack.push((*at_most, Some(and(&path, b))));
                                    stack.push((*above, Some(and(&path, not_b))));
                                }
                            }
                        }
                        let vote = paths
                            .into_iter()
                            .reduce(|a, b| a | b)
                            .unwrap_or_else(|| FheBool::encrypt_trivial(false));
                        FheUint8::cast_from(vote)
                    })
                    .collect();
                let sum: FheUint8 = votes.iter().sum();
                (sum.gt(trees / 2), sum)
            })
            .collect()
    };
    for ((m, v), w) in run_trees().iter().zip(&want) {
        let votes: u8 = v.decrypt(&ck);
        assert_eq!((m.decrypt(&ck), votes as usize), *w, "tfhe-rs");
    }
    g.bench_function("tfhe-rs-integer", |b| b.iter(run_trees));
    g.finish();
}

criterion_group!(benches, inference);
criterion_main!(benches);
