//! The vitals job end to end: encrypted alerts equal the plaintext rules, on the insecure test
//! set (logic, many rule variants) and on TFHE-rs's default 128-bit set (the product); bad
//! input is a typed error; the command's JSON carries the figures scripts read.

use glovebox::prelude::*;
use glovebox::vitals::*;
use std::sync::Arc;

fn server_for(clinic: &Clinic, rules: AlertRules) -> MonitoringServer {
    MonitoringServer::new(
        Arc::new(clinic.server_key().unwrap()),
        Arc::new(CpuBackend::new()),
        rules,
        Default::default(),
    )
    .unwrap()
    .with_casting_key(&clinic.casting_key().unwrap())
    .unwrap()
}

fn encrypt_ward(clinic: &Clinic, ward: &[Vec<Reading>]) -> Vec<Vec<EncryptedReading>> {
    let device = clinic.provision_device();
    ward.iter()
        .map(|s| s.iter().map(|&r| device.encrypt(r).unwrap()).collect())
        .collect()
}

fn check_ward(clinic: &Clinic, server: &MonitoringServer, ward: &[Vec<Reading>]) -> f64 {
    let enc = encrypt_ward(clinic, ward);
    let before = server.driver_stats().completed;
    let alerts = server.monitor(&enc, &|_| {}).unwrap();
    let pbs = server.driver_stats().completed - before;
    // Exactly the bootstraps the pipeline promises: 6 per reading, 1 per sustained window,
    // and the counter's.
    assert_eq!(
        pbs,
        server
            .expected_bootstraps(ward.len(), ward[0].len())
            .unwrap(),
        "{:?}",
        server.rules()
    );
    for (p, (a, stream)) in alerts.iter().zip(ward).enumerate() {
        let got = clinic.decrypt(a).unwrap();
        let want = server.rules().evaluate(stream);
        assert_eq!(got, want, "patient {p}: {stream:?}");
    }
    pbs as f64 / (ward.len() * ward[0].len()) as f64
}

#[test]
fn alerts_match_plaintext_rules_for_several_rule_sets() {
    let clinic = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
    let mut ward = simulate_ward(5, 12, 11);
    // Edge readings: the limits themselves, one off, and the ends of the u8 range.
    ward.push(
        [
            (0, 0),
            (255, 255),
            (50, 92),
            (49, 91),
            (120, 93),
            (121, 100),
            (16, 16),
            (240, 15),
            (119, 92),
            (51, 91),
            (200, 80),
            (30, 99),
        ]
        .iter()
        .map(|&(h, s)| Reading::new(h, s))
        .collect(),
    );
    for rules in [
        AlertRules::default(),
        AlertRules {
            heart_rate_low: 60,
            heart_rate_high: 100,
            spo2_low: 95,
            sustained_readings: 2,
        },
        AlertRules {
            heart_rate_low: 64,
            heart_rate_high: 79,
            spo2_low: 0,
            sustained_readings: 1,
        },
        AlertRules {
            heart_rate_low: 40,
            heart_rate_high: 47,
            spo2_low: 255,
            sustained_readings: 12,
        },
    ] {
        let server = server_for(&clinic, rules.clone());
        let pbs_per_reading = check_ward(&clinic, &server, &ward);
        // 3 + 2 + 1 (two outputs) + 1 per reading, plus the counter; less when sustained is free.
        assert!(pbs_per_reading <= 7.5, "{rules:?}: {pbs_per_reading}");
    }
}

#[test]
fn alerts_on_the_default_parameters() {
    let clinic = Clinic::new(&PARAM_MESSAGE_2_CARRY_2_KS_PBS).unwrap();
    let server = server_for(&clinic, AlertRules::default());
    // Patients 0, 1, 2 have a tachycardia, bradycardia, desaturation episode.
    let ward = simulate_ward(3, 8, 5);
    let expected: Vec<PatientAlerts> = ward.iter().map(|s| server.rules().evaluate(s)).collect();
    assert!(expected.iter().any(|e| e.count > 0));
    check_ward(&clinic, &server, &ward);
}

#[test]
fn bad_input_is_a_typed_error() {
    let clinic = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
    let server = server_for(&clinic, AlertRules::default());
    let ward = simulate_ward(2, 4, 1);
    let mut enc = encrypt_ward(&clinic, &ward);
    assert!(matches!(
        server.monitor(&[], &|_| {}),
        Err(glovebox::health::Error::InvalidInput(_))
    ));
    // Streams of different lengths.
    let mut short = enc.clone();
    short[1].pop();
    assert!(matches!(
        server.monitor(&short, &|_| {}),
        Err(glovebox::health::Error::Engine(
            Error::DimensionMismatch { .. }
        ))
    ));
    // A reading encrypted under another clinic's key.
    let other = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
    enc[1][2] = other.provision_device().encrypt(ward[1][2]).unwrap();
    assert!(matches!(
        server.monitor(&enc, &|_| {}),
        Err(glovebox::health::Error::Engine(Error::KeyMismatch { .. }))
    ));
    // Rules that cannot be evaluated.
    let bad = AlertRules {
        sustained_readings: 20,
        ..AlertRules::default()
    };
    assert!(MonitoringServer::new(
        Arc::new(clinic.server_key().unwrap()),
        Arc::new(CpuBackend::new()),
        bad,
        Default::default(),
    )
    .is_err());
}

#[test]
fn command_json_has_the_figures() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_glovebox"))
        .args([
            "vitals",
            "--params",
            "TEST_PARAMS_INSECURE",
            "--patients",
            "3",
            "--seconds",
            "6",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["verified"], v["alert_values"]);
    assert!(v["readings_per_s"].as_f64().unwrap() > 0.0);
    // 3 patients x (6 x 6 + 4 sustained windows + 2 for the counter of 6 flags).
    let layout = glovebox::integer::RadixLayout::new(&TEST_PARAMS_INSECURE).unwrap();
    let pbs = expected_bootstraps(&AlertRules::default(), 3, 6, &layout);
    assert_eq!(pbs, 3 * (36 + 4 + 2));
    assert_eq!(v["pbs"], pbs);
    assert_eq!(v["pbs_per_reading"].as_f64().unwrap(), pbs as f64 / 18.0);
    assert!(v["realtime_patients"].as_u64().is_some());
    // Unknown backends and bad rules are refused with a message, not a panic.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_glovebox"))
        .args(["vitals", "--backend", "quantum"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown backend"));
}

#[test]
fn vitals_on_the_gpu_backend() {
    // The whole job through the GPU backend (llvmpipe in CI): every alert decrypts to the
    // plaintext rules, and the report names the GPU, not the CPU.
    let clinic = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
    let server = MonitoringServer::new(
        Arc::new(clinic.server_key().unwrap()),
        Arc::new(glovebox::kernels::GpuBackend::new().expect("a GPU adapter (llvmpipe in CI)")),
        AlertRules::default(),
        Default::default(),
    )
    .unwrap()
    .with_casting_key(&clinic.casting_key().unwrap())
    .unwrap();
    assert!(server.backend_name().starts_with("gpu: "));
    let ward = simulate_ward(3, 6, 17);
    let pbs_per_reading = check_ward(&clinic, &server, &ward);
    assert!(pbs_per_reading > 6.0);
}
