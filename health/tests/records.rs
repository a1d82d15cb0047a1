//! Records compared with each patient's past, and cohort statistics, in process: random series
//! on the test set (logic, edge values), and a series and a cohort on the default 128-bit set
//! (the product's correctness), every decrypted value against the plaintext computation.

use glovebox_health::prelude::*;
use glovebox_health::records::*;
use glovebox_health::vitals::{AlertRules, Clinic, MonitoringServer};
use glovebox_integer::RadixCiphertext;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

fn server(clinic: &Clinic) -> MonitoringServer {
    MonitoringServer::new(
        Arc::new(clinic.server_key().unwrap()),
        Arc::new(CpuFftBackend::new()),
        AlertRules::default(),
        Default::default(),
    )
    .unwrap()
}

/// Runs series record by record, as the service does (one record per series per step, every
/// series of a step in one batch), carrying the encrypted running maxima; checks every
/// analysis against the plaintext.
fn check_series(
    clinic: &Clinic,
    server: &MonitoringServer,
    series: &[Vec<u16>],
    change: u16,
    window: usize,
) {
    let ints = server.integers().unwrap();
    let enc: Vec<Vec<RadixCiphertext>> = series
        .iter()
        .map(|s| {
            s.iter()
                .map(|&v| clinic.encrypt_lab_value(v).unwrap())
                .collect()
        })
        .collect();
    let mut maxima: Vec<Option<RadixCiphertext>> = vec![None; series.len()];
    let longest = series.iter().map(Vec::len).max().unwrap_or(0);
    for t in 0..longest {
        let live: Vec<usize> = (0..series.len()).filter(|&s| t < series[s].len()).collect();
        let inputs: Vec<RecordInput<'_>> = live
            .iter()
            .map(|&s| RecordInput {
                value: &enc[s][t],
                history: maxima[s].as_ref().map(|m| RecordHistory {
                    previous_max: m,
                    last: &enc[s][t - 1],
                    window: enc[s][t.saturating_sub(window)..t].iter().collect(),
                }),
                change_threshold: change,
            })
            .collect();
        let out = analyze_records(&ints, &inputs).unwrap();
        for (&s, o) in live.iter().zip(out) {
            let want = reference_analysis(series[s][t], &series[s][..t], change, window);
            let got = o
                .analysis
                .as_ref()
                .map(|a| clinic.decrypt_analysis(a).unwrap());
            assert_eq!(got, want, "series {s} record {t}: {:?}", &series[s][..=t]);
            maxima[s] = Some(o.running_max);
        }
    }
}

#[test]
fn records_and_cohorts_on_the_test_set() {
    let clinic = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
    let server = server(&clinic);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
    // Edge values (0, the maximum, equal values, changes of exactly X) and random series.
    let mut series = vec![
        vec![0, MAX_VALUE, 0, MAX_VALUE, MAX_VALUE],
        vec![100, 130, 100, 70, 71, 71],
        vec![4000, 4000, 3970, 4001],
    ];
    for _ in 0..3 {
        series.push(
            (0..rng.gen_range(2..7))
                .map(|_| rng.gen_range(0..=MAX_VALUE))
                .collect(),
        );
    }
    check_series(&clinic, &server, &series, 30, 3);
    check_series(&clinic, &server, &series[..2], 0, MAX_WINDOW);
    let ints = server.integers().unwrap();
    let latest = [0u16, MAX_VALUE, 126, 127, 500];
    let enc: Vec<RadixCiphertext> = latest
        .iter()
        .map(|&v| clinic.encrypt_lab_value(v).unwrap())
        .collect();
    for threshold in [0u16, 126, MAX_VALUE] {
        let stats = cohort_statistics(&ints, &enc.iter().collect::<Vec<_>>(), threshold).unwrap();
        assert_eq!(
            clinic.decrypt_cohort(&stats).unwrap(),
            reference_cohort(&latest, threshold)
        );
    }
    // Bad input: typed errors.
    assert!(clinic.encrypt_lab_value(MAX_VALUE + 1).is_err());
    assert!(cohort_statistics(&ints, &[], 1).is_err());
    let short = RadixCiphertext::from_fresh_blocks(
        enc[0].blocks()[..3]
            .iter()
            .map(|b| b.ciphertext().clone())
            .collect(),
        ints.layout(),
    );
    assert!(cohort_statistics(&ints, &[&short], 1).is_err());
    let bad = RecordInput {
        value: &enc[0],
        history: None,
        change_threshold: MAX_VALUE + 1,
    };
    assert!(analyze_records(&ints, &[bad]).is_err());
    let no_window = RecordInput {
        value: &enc[0],
        history: Some(RecordHistory {
            previous_max: &enc[1],
            last: &enc[1],
            window: vec![],
        }),
        change_threshold: 1,
    };
    assert!(analyze_records(&ints, &[no_window]).is_err());
}

#[test]
fn records_and_cohorts_on_the_default_parameters() {
    let clinic = Clinic::new(&PARAM_MESSAGE_2_CARRY_2_KS_PBS).unwrap();
    let server = server(&clinic);
    check_series(
        &clinic,
        &server,
        &[vec![98, 131, 97, 4095], vec![200, 180]],
        30,
        3,
    );
    let ints = server.integers().unwrap();
    let latest = [97u16, 180, 126];
    let enc: Vec<RadixCiphertext> = latest
        .iter()
        .map(|&v| clinic.encrypt_lab_value(v).unwrap())
        .collect();
    let stats = cohort_statistics(&ints, &enc.iter().collect::<Vec<_>>(), 100).unwrap();
    assert_eq!(
        clinic.decrypt_cohort(&stats).unwrap(),
        reference_cohort(&latest, 100)
    );
}
