//! `glovebox params`: the parameter sets, their sizes, noise and security source.

use super::{mib, CliResult, OutputArgs, Report};
use glovebox::engine::noise;
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
    /// PBS output noise (log2 of the standard deviation in integer units of the 2^64 torus):
    /// on the exact backends (cpu, gpu, sim: the NTT, bit for bit each other), and on cpu-fft
    /// (the f64 FFT's rounding term added).
    pbs_noise_sigma_log2_exact: f64,
    pbs_noise_sigma_log2_fft: f64,
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
            pbs_noise_sigma_log2_exact: noise::pbs_output_variance(p).sqrt().log2(),
            pbs_noise_sigma_log2_fft: noise::pbs_output_variance_fft(p).sqrt().log2(),
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
            println!(
                "  PBS output noise: sigma 2^{:.2} exact, 2^{:.2} on cpu-fft; half a message box \
                 2^{:.1}",
                r.pbs_noise_sigma_log2_exact,
                r.pbs_noise_sigma_log2_fft,
                (p.delta() as f64 / 2.0).log2()
            );
        }
        println!(
            "\nbackends: cpu (NTT over p = 2^64 - 2^32 + 1), gpu and sim are exact: bit for bit \
             each other and TFHE-rs's ntt64-bnf; cpu-fft (f64 FFT, TFHE-rs's FFT64 arithmetic) is \
             approximate: every message decrypts to f(m) with the set's p_fail, its noise the \
             prediction above."
        );
    }
}

pub fn run(args: Args) -> CliResult<()> {
    ParamsReport(ALL.iter().map(|&p| ParamsRow::new(p)).collect()).emit(args.output);
    Ok(())
}
