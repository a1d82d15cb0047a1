//! `glovebox sim ntt`: the simulated NTT unit checked against the CPU NTT, with the cycle
//! figures scripts read.

fn glovebox(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_glovebox"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn sim_ntt_json_reports_verified_cycles_and_projection() {
    for inverse in [false, true] {
        let mut args = vec![
            "sim", "ntt", "--n", "1024", "--c", "8", "--polys", "5", "--json",
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
        assert_eq!(v["interval_cycles"], 128);
        let latency = v["latency_cycles"].as_u64().unwrap();
        assert_eq!(v["cycles"].as_u64().unwrap(), latency + 5 * 128 - 1);
        assert_eq!(v["clock_mhz"], 350.0);
        // 350 MHz / 128 cycles per polynomial.
        let projected = v["projected_ntt_per_s"].as_f64().unwrap();
        assert!((projected - 350e6 / 128.0).abs() < 1.0);
        assert!(v["simulated_cycles_per_s"].as_f64().unwrap() > 0.0);
    }
    // A configuration that was not built is refused with the list of those that were.
    let out = glovebox(&["sim", "ntt", "--n", "512", "--c", "8"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("N=2048 C=32"));
}
