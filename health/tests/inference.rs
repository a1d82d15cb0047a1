//! Encrypted inference equals its quantized clear twin, patient for patient: the test split on
//! the test set (logic), a subset on the default 128-bit set (the product's correctness), for
//! the logistic regression and the random forest.

use glovebox_health::inference::*;
use glovebox_health::prelude::*;
use glovebox_health::vitals::{AlertRules, Clinic, MonitoringServer};
use glovebox_integer::{decrypt_bool, encrypt_radix, RadixCiphertext, RadixLayout};
use std::sync::Arc;

/// The clinic's side of a run: keys, the training split's quantizer, the first `patients` test
/// patients quantized and encrypted; and a server holding the server key only.
struct Run {
    clinic: Clinic,
    server: MonitoringServer,
    train: Dataset,
    quantizer: Quantizer,
    quantized: Vec<Vec<u64>>,
    encrypted: Vec<Vec<RadixCiphertext>>,
}

fn run(params: &Parameters, patients: usize) -> Run {
    let (train, test) = breast_cancer().split(TEST_FRACTION, SPLIT_SEED);
    let quantizer = Quantizer::fit(&train, FEATURE_BITS);
    let clinic = Clinic::new(params).unwrap();
    let server = MonitoringServer::new(
        Arc::new(clinic.server_key().unwrap()),
        Arc::new(CpuFftBackend::new()),
        AlertRules::default(),
        Default::default(),
    )
    .unwrap();
    let layout = RadixLayout::new(params).unwrap();
    let quantized: Vec<Vec<u64>> = test.features[..patients]
        .iter()
        .map(|x| quantizer.quantize(x))
        .collect();
    let encrypted = quantized
        .iter()
        .map(|x| {
            x.iter()
                .map(|&v| {
                    encrypt_radix(clinic.client_key(), v, layout.blocks(FEATURE_BITS)).unwrap()
                })
                .collect()
        })
        .collect();
    Run {
        clinic,
        server,
        train,
        quantizer,
        quantized,
        encrypted,
    }
}

fn check_logreg(params: &Parameters, patients: usize) {
    let r = run(params, patients);
    let model = QuantizedLogReg::quantize(
        &FloatLogReg::train(&r.train, &r.quantizer, ALPHA).unwrap(),
        FEATURE_BITS,
        MAX_WEIGHT,
    );
    let key = r.clinic.client_key();
    let ints = r.server.integers().unwrap();
    let out = predict_encrypted(&ints, &model, &r.encrypted).unwrap();
    for (i, (p, x)) in out.iter().zip(&r.quantized).enumerate() {
        let (malignant, risk) = model.predict_clear(x);
        let got_risk = decrypt_bool(key, &p.risk[0]).unwrap() as u8
            + decrypt_bool(key, &p.risk[1]).unwrap() as u8;
        assert_eq!(
            (decrypt_bool(key, &p.malignant).unwrap(), got_risk),
            (malignant, risk),
            "patient {i}: score {}",
            model.score(x)
        );
    }
}

fn check_forest(params: &Parameters, patients: usize) {
    let r = run(params, patients);
    let forest = FloatForest::train(&r.train, &r.quantizer, TREES, TREE_DEPTH, FOREST_SEED)
        .unwrap()
        .quantize(FEATURE_BITS);
    let layout = RadixLayout::new(params).unwrap();
    let circuit = CompiledForest::new(&forest, &layout).unwrap();
    let key = r.clinic.client_key();
    let ints = r.server.integers().unwrap();
    let before = r.server.driver_stats().completed;
    let out = predict_forest_encrypted(&ints, &circuit, &r.encrypted).unwrap();
    assert_eq!(
        r.server.driver_stats().completed - before,
        (circuit.bootstraps() * patients) as u64,
        "the bootstraps the circuit counts"
    );
    for (i, (p, x)) in out.iter().zip(&r.quantized).enumerate() {
        let (malignant, votes) = forest.predict_votes(x);
        assert_eq!(
            (
                decrypt_bool(key, &p.malignant).unwrap(),
                key.decrypt_message_and_carry(p.votes.ciphertext()).unwrap() as usize
            ),
            (malignant, votes),
            "patient {i}"
        );
    }
}

#[test]
fn encrypted_predictions_equal_the_quantized_model_on_the_test_set() {
    check_logreg(&TEST_PARAMS_INSECURE, 114);
}

#[test]
fn encrypted_predictions_equal_the_quantized_model_on_the_default_parameters() {
    check_logreg(&PARAM_MESSAGE_2_CARRY_2_KS_PBS, 8);
}

#[test]
fn encrypted_forest_equals_the_quantized_forest_on_the_test_set() {
    check_forest(&TEST_PARAMS_INSECURE, 114);
}

#[test]
fn encrypted_forest_equals_the_quantized_forest_on_the_default_parameters() {
    check_forest(&PARAM_MESSAGE_2_CARRY_2_KS_PBS, 8);
}
