//! Encrypted inference equals its quantized clear twin, patient for patient: the test split on
//! the test set (logic), a subset on the default 128-bit set (the product's correctness).

use glovebox::inference::*;
use glovebox::prelude::*;
use glovebox::vitals::{AlertRules, Clinic, MonitoringServer};
use glovebox_integer::{decrypt_bool, encrypt_radix, RadixCiphertext, RadixLayout};
use std::sync::Arc;

fn check(params: &Parameters, patients: usize) {
    let (train, test) = breast_cancer().split(TEST_FRACTION, SPLIT_SEED);
    let q = Quantizer::fit(&train, FEATURE_BITS);
    let model = QuantizedLogReg::quantize(
        &FloatLogReg::train(&train, &q, ALPHA).unwrap(),
        FEATURE_BITS,
        MAX_WEIGHT,
    );
    let clinic = Clinic::new(params).unwrap();
    let server = MonitoringServer::new(
        Arc::new(clinic.server_key().unwrap()),
        Arc::new(CpuFftBackend::new()),
        AlertRules::default(),
        Default::default(),
    )
    .unwrap();
    let layout = RadixLayout::new(params).unwrap();
    let key = clinic.client_key();
    let quantized: Vec<Vec<u64>> = test.features[..patients]
        .iter()
        .map(|x| q.quantize(x))
        .collect();
    let encrypted: Vec<Vec<RadixCiphertext>> = quantized
        .iter()
        .map(|x| {
            x.iter()
                .map(|&v| encrypt_radix(key, v, layout.blocks(FEATURE_BITS)).unwrap())
                .collect()
        })
        .collect();
    let ints = server.integers().unwrap();
    let out = predict_encrypted(&ints, &model, &encrypted).unwrap();
    for (i, (p, x)) in out.iter().zip(&quantized).enumerate() {
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

#[test]
fn encrypted_predictions_equal_the_quantized_model_on_the_test_set() {
    check(&TEST_PARAMS_INSECURE, 114);
}

#[test]
fn encrypted_predictions_equal_the_quantized_model_on_the_default_parameters() {
    check(&PARAM_MESSAGE_2_CARRY_2_KS_PBS, 8);
}
