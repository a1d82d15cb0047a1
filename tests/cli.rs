//! The command's surface: every subcommand listed in `--help`, usage errors refused by the
//! parser with the values that exist, and `--json` field names that scripts read; `glovebox
//! sim ntt` checked against the CPU NTT, with the cycle figures scripts read.

fn glovebox(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_glovebox"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn help_lists_every_subcommand() {
    let out = glovebox(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let all = [
        "vitals", "bench", "params", "demo", "sim", "serve", "clinic", "device", "load", "predict",
    ];
    for sub in all {
        assert!(
            help.contains(&format!("  {sub} ")),
            "{sub} missing from:\n{help}"
        );
    }
    for sub in all
        .iter()
        .copied()
        .chain(["sim ntt", "clinic register", "clinic dashboard"])
    {
        let mut args: Vec<&str> = sub.split(' ').collect();
        args.push("--help");
        assert!(glovebox(&args).status.success(), "{sub} --help");
    }
}

#[test]
fn unknown_backends_and_parameter_sets_are_refused() {
    let out = glovebox(&["bench", "--backend", "quantum"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown backend `quantum` (available: cpu, cpu-fft, gpu, sim)"),
        "{err}"
    );
    // An unknown parameter set is a usage error too (it was the engine's error, exit 1).
    let out = glovebox(&["demo", "--params", "NO_SUCH_SET"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("glovebox: "), "{err}");
    assert!(
        err.contains("PARAM_MESSAGE_2_CARRY_2_KS_PBS"),
        "lists the sets: {err}"
    );
}

/// Input that the command's flags asked for and that cannot be run is a usage error (exit 2),
/// from the command itself and from the application under it.
#[test]
fn usage_errors_exit_with_2() {
    for args in [
        &["vitals", "--patients", "0"][..],
        // Rules the application refuses (its own typed error, mapped to a usage error).
        &["vitals", "--params", "test", "--sustained", "16"],
        &["bench", "--batches", "0"],
        &["predict", "--patients", "0"],
    ] {
        let out = glovebox(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("glovebox: "), "{args:?}: {err}");
    }
}

/// `glovebox params | head`: a reader that goes away ends the command quietly, as it does any
/// Unix filter (no panic message, no error).
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_glovebox"))
        .arg("params")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn params_and_demo_json_keep_their_fields() {
    let out = glovebox(&["params", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &v.as_array().unwrap()[0];
    for field in [
        "name",
        "lwe_dimension",
        "polynomial_size",
        "pbs_base_log",
        "ks_output_modulus_log",
        "bootstrap_key_bytes",
        "security",
        "source",
    ] {
        assert!(first.get(field).is_some(), "params: {field}");
    }
    let out = glovebox(&[
        "demo",
        "--params",
        "TEST_PARAMS_INSECURE",
        "--count",
        "8",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"], 8);
    assert_eq!(v["count"], 8);
    assert_eq!(
        v["threads"].as_u64().unwrap() as usize,
        rayon::current_num_threads()
    );
    for field in ["params", "backend", "keygen_s", "batch_s", "pbs_per_s"] {
        assert!(v.get(field).is_some(), "demo: {field}");
    }
}

#[test]
fn sim_ntt_json_reports_verified_cycles_and_projection() {
    for inverse in [false, true] {
        let mut args = vec![
            "sim", "ntt", "--n", "256", "--c", "8", "--polys", "5", "--json",
        ];
        if inverse {
            args.push("--inverse");
        }
        let out = glovebox(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value =
            serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
        assert_eq!(v["verified"], 5);
        assert_eq!(v["latency_cycles"], v["analytic_latency_cycles"]);
        assert_eq!(v["interval_cycles"], 32);
        let latency = v["latency_cycles"].as_u64().unwrap();
        assert_eq!(v["cycles"].as_u64().unwrap(), latency + 5 * 32 - 1);
        assert_eq!(v["clock_mhz"], 350.0);
        // 350 MHz / 32 cycles per polynomial.
        let projected = v["projected_ntt_per_s"].as_f64().unwrap();
        assert!((projected - 350e6 / 32.0).abs() < 1.0);
        // This run's rate: 5 polynomials over all its cycles, fill and drain included.
        let measured = v["measured_ntt_per_s"].as_f64().unwrap();
        let cycles = v["cycles"].as_f64().unwrap();
        assert!((measured - 5.0 * 350e6 / cycles).abs() < 1.0);
        assert!(measured < projected);
        assert!(v["simulated_cycles_per_s"].as_f64().unwrap() > 0.0);
    }
    // A configuration that was not built is refused with the list of those that were.
    let out = glovebox(&["sim", "ntt", "--n", "512", "--c", "8"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("N=2048 C=32"));
}

#[test]
fn sim_pbs_json_reports_a_verified_batch_with_model_and_rates() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("sim.svg");
    let out = glovebox(&[
        "sim",
        "pbs",
        "--params",
        "test",
        "--batch",
        "4",
        "--batches",
        "2",
        "--memory-gbps",
        "11.2",
        "--json",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    assert_eq!(v["verified"], 8);
    assert_eq!(v["decrypted_correctly"], 8);
    // The plot: the four rows, and each batch numbered in each unit it was busy in.
    let svg = std::fs::read_to_string(&plot).unwrap();
    for row in [
        "PCIe in",
        "keyswitch unit",
        "blind-rotation unit",
        "PCIe out",
    ] {
        assert!(svg.contains(row), "{row} missing from the plot");
    }
    assert!(svg.contains("2 batches of 4"));
    // The simulated device's timeline is the model's, event for event.
    assert_eq!(v["timeline_equals_model"], true);
    assert_eq!(v["cycles"], v["model_cycles"]);
    // 11.2 GB/s at 350 MHz: 32 bytes, 4 words per cycle.
    assert_eq!(v["memory_words_per_cycle"], 4);
    // Two batches, the second's keyswitch during the first's blind rotation on one device.
    let t = v["timeline"].as_array().unwrap();
    assert_eq!(t.len(), 2);
    let at = |j: usize, what: &str| t[j][what].as_u64().unwrap();
    assert!(
        at(1, "keyswitch_start") < at(0, "blind_rotation_end"),
        "{v}"
    );
    assert!(at(0, "pcie_out_done") < at(1, "pcie_out_done"));
    let cycles = v["cycles"].as_f64().unwrap();
    assert_eq!(cycles as u64, at(1, "pcie_out_done"));
    let measured = v["measured_pbs_per_s"].as_f64().unwrap();
    assert!((measured - 8.0 * 350e6 / cycles).abs() < 1.0);
    assert!(measured < v["steady_pbs_per_s"].as_f64().unwrap());
    let binding = v["binding"].as_str().unwrap();
    assert!(
        ["compute", "loop latency", "key bandwidth", "key latency"].contains(&binding),
        "{binding}"
    );
    // The model alone, for a configuration not built here.
    let out = glovebox(&[
        "sim",
        "pbs",
        "--params",
        "hpu",
        "--batch",
        "12",
        "--batches",
        "2",
        "--c",
        "128",
        "--ks-lanes",
        "1024",
        "--model-only",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    assert_eq!(m["simulated"], false);
    assert_eq!(m["timeline"].as_array().unwrap().len(), 2);
    // A batch the unit cannot hold, and a C that was not built, are refused.
    let out = glovebox(&["sim", "pbs", "--params", "test", "--batch", "9"]);
    assert!(!out.status.success());
    let out = glovebox(&["sim", "pbs", "--params", "test", "--c", "8"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("N = 512 with C = 4"));
}

#[test]
fn demo_runs_on_the_simulated_accelerator() {
    let out = glovebox(&[
        "demo",
        "--params",
        "test",
        "--backend",
        "sim",
        "--count",
        "4",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    assert_eq!(v["verified"], 4);
    assert!(v["backend"].as_str().unwrap().starts_with("sim"));
}

#[test]
fn predict_json_reports_accuracies_agreement_and_costs() {
    for (model, pbs) in [("logreg", None), ("trees", Some(50.0))] {
        let out = glovebox(&[
            "predict",
            "--model",
            model,
            "--params",
            "test",
            "--patients",
            "16",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{model}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(v["test_patients"], 16);
        assert_eq!(
            v["agreement"], 16,
            "{model}: encrypted = quantized clear on every patient"
        );
        for field in [
            "float_accuracy",
            "quantized_accuracy",
            "encrypted_accuracy",
            "pbs_per_prediction",
            "predictions_per_s",
        ] {
            assert!(v[field].as_f64().unwrap() > 0.0, "{model} {field}: {v}");
        }
        if let Some(pbs) = pbs {
            assert_eq!(v["pbs_per_prediction"].as_f64().unwrap(), pbs, "{model}");
        }
        let confusion: u64 = v["confusion"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|c| c.as_u64().unwrap()))
            .sum();
        assert_eq!(confusion, 16);
    }
}

/// `glovebox vitals --plot`: one panel per patient, and exactly one mark per decrypted alert
/// (heart rate and SpO2; the legend's one more).
#[test]
fn vitals_plot_marks_every_decrypted_alert() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("ward.svg");
    let out = glovebox(&[
        "vitals",
        "--params",
        "test",
        "--patients",
        "4",
        "--seconds",
        "20",
        "--json",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    let ward = v["ward"].as_array().unwrap();
    let alerts: usize = ward
        .iter()
        .map(|p| {
            ["heart_rate", "spo2"]
                .iter()
                .map(|k| {
                    p["alerts"][k]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|a| a.as_bool().unwrap())
                        .count()
                })
                .sum::<usize>()
        })
        .sum();
    assert!(alerts > 0, "the seed's ward has alerts");
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert_eq!(svg.matches("<circle").count(), alerts + 1);
    for p in 0..4 {
        assert!(svg.contains(&format!("patient {p}")));
    }
}

/// `glovebox bench --plot` draws TFHE-rs's curve beside Glovebox's: a build without TFHE-rs
/// refuses it as a usage error; one with it draws the three curves.
#[test]
fn bench_plot_needs_and_draws_tfhe_rs() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("bench.svg");
    let out = glovebox(&[
        "bench",
        "--params",
        "test",
        "--batches",
        "1,2",
        "--min-seconds",
        "0.01",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    if cfg!(feature = "tfhe-interop") {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let svg = std::fs::read_to_string(&plot).unwrap();
        for curve in ["backend alone", "through the driver", "TFHE-rs"] {
            assert!(svg.contains(curve), "{curve}");
        }
    } else {
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--features tfhe-interop"));
        assert!(!plot.exists());
    }
}
