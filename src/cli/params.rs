//! `glovebox params`: the parameter sets, their sizes, noise and security source.

use super::{mib, CliResult, OutputArgs, Report};
use glovebox::prelude::*;
use serde::Serialize;

/// Print the parameter sets: shapes, noise, key and ciphertext sizes, security source.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub output: OutputArgs,
}

/// One parameter set, as `--json` prints it.
#[derive(Serialize)]
struct ParamsRow {
    name: &'static str,
    lwe_dimension: usize,
    glwe_dimension: usize,
    polynomial_size: usize,
    lwe_noise: String,
    glwe_noise: String,
    pbs_base_log: usize,
    pbs_level: usize,
    ks_base_log: usize,
    ks_level: usize,
    ks_output_modulus_log: u32,
    message_modulus: u64,
    carry_modulus: u64,
    log2_p_fail: f64,
    ciphertext_bytes: usize,
    bootstrap_key_bytes: usize,
    keyswitch_key_bytes: usize,
    security: String,
    source: &'static str,
    #[serde(skip)]
    params: &'static Parameters,
}

/// Every parameter set (a JSON list).
#[derive(Serialize)]
#[serde(transparent)]
struct ParamsReport(Vec<ParamsRow>);

impl ParamsRow {
    fn new(p: &'static Parameters) -> Self {
        Self {
            name: p.name,
            lwe_dimension: p.lwe_dimension.0,
            glwe_dimension: p.glwe_dimension.0,
            polynomial_size: p.polynomial_size.0,
            lwe_noise: p.lwe_noise.to_string(),
            glwe_noise: p.glwe_noise.to_string(),
            pbs_base_log: p.pbs_base_log.0,
            pbs_level: p.pbs_level.0,
            ks_base_log: p.ks_base_log.0,
            ks_level: p.ks_level.0,
            ks_output_modulus_log: p.ks_output_modulus_log,
            message_modulus: p.message_modulus,
            carry_modulus: p.carry_modulus,
            log2_p_fail: p.log2_p_fail,
            ciphertext_bytes: p.ciphertext_bytes(),
            bootstrap_key_bytes: p.bootstrap_key_bytes(),
            keyswitch_key_bytes: p.keyswitch_key_bytes(),
            security: p.security_statement(),
            source: p.source,
            params: p,
        }
    }
}

impl Report for ParamsReport {
    fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain JSON values")
    }

    fn print_table(&self) {
        println!(
            "{:<58} {:>5} {:>2} {:>6} {:>9} {:>6} {:>4} {:>9} {:>10} {:>10} {:>10}",
            "name", "n", "k", "N", "pbs b/l", "ks b/l", "ks q", "p_fail", "ct", "bsk", "ksk"
        );
        for r in &self.0 {
            println!(
                "{:<58} {:>5} {:>2} {:>6} {:>9} {:>6} {:>4} {:>9} {:>10} {:>10} {:>10}",
                r.name,
                r.lwe_dimension,
                r.glwe_dimension,
                r.polynomial_size,
                format!("{}/{}", r.pbs_base_log, r.pbs_level),
                format!("{}/{}", r.ks_base_log, r.ks_level),
                format!("2^{}", r.ks_output_modulus_log),
                format!("2^{:.1}", r.log2_p_fail),
                format!("{:.1} KiB", r.ciphertext_bytes as f64 / 1024.0),
                mib(r.bootstrap_key_bytes),
                mib(r.keyswitch_key_bytes),
            );
        }
        println!();
        for r in &self.0 {
            let p = r.params;
            println!(
                "{}:\n  noise: LWE {}, GLWE {}; message {} x carry {}",
                p.name, p.lwe_noise, p.glwe_noise, p.message_modulus, p.carry_modulus
            );
            println!("  security: {}\n  source: {}", r.security, r.source);
        }
    }
}

pub fn run(args: Args) -> CliResult<()> {
    ParamsReport(ALL.iter().map(|&p| ParamsRow::new(p)).collect()).emit(args.output);
    Ok(())
}
