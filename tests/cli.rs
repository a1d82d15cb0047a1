//! The command's surface: every subcommand listed in `--help`, usage errors refused by the
//! parser with the values that exist, and `--json` field names that scripts read.

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
    for sub in ["vitals", "bench", "params", "demo", "sim"] {
        assert!(
            help.contains(&format!("  {sub} ")),
            "{sub} missing from:\n{help}"
        );
    }
    for sub in ["vitals", "bench", "params", "demo", "sim", "sim ntt"] {
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
        err.contains("unknown backend `quantum` (available: cpu, gpu)"),
        "{err}"
    );
    let out = glovebox(&["demo", "--params", "NO_SUCH_SET"]);
    assert_eq!(out.status.code(), Some(1), "an engine error");
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("glovebox: "));
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
