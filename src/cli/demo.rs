//! `glovebox demo`: key generation, a batch of keyswitch + PBS on the CPU backend,
//! decryption, and a check of every result.

use super::{
    check_passed, security_level, server_key_with_bar, threads, BackendArg, CliResult, OutputArgs,
    ParamsArg, Report,
};
use glovebox::prelude::*;
use serde::Serialize;
use std::time::Instant;

/// End to end on one parameter set: key generation, encryption of a batch of readings,
/// keyswitch + PBS through threshold lookup tables on a backend (`--backend`), decryption, and a check
/// of every result against the plaintext computation.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub params: ParamsArg,
    /// Number of encrypted values to bootstrap (one batch).
    #[arg(long, default_value_t = 64)]
    pub count: usize,
    #[command(flatten)]
    pub backend: BackendArg,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Serialize)]
struct DemoReport {
    params: &'static str,
    backend: String,
    count: usize,
    verified: usize,
    keygen_s: f64,
    batch_s: f64,
    pbs_per_s: f64,
    threads: usize,
    #[serde(skip)]
    security: String,
}

impl Report for DemoReport {
    fn print_table(&self) {
        println!("parameters: {} ({})", self.params, self.security);
        println!("key generation: {:.2} s", self.keygen_s);
        println!(
            "keyswitch + PBS of {} ciphertexts on `{}` ({} threads): {:.3} s, {:.1} PBS/s",
            self.count, self.backend, self.threads, self.batch_s, self.pbs_per_s
        );
        println!(
            "verified: {}/{} results match the plaintext computation",
            self.verified, self.count
        );
    }
}

pub fn run(args: Args) -> CliResult<()> {
    let params = args.params.resolve()?;
    let count = args.count;
    let t0 = Instant::now();
    let client = ClientKey::new(params)?;
    let server = server_key_with_bar(args.output, params, |p| client.server_key_with_progress(p))?;
    let keygen_s = t0.elapsed().as_secs_f64();

    // Readings bucketed into 2 bits; alert when the bucket is at or above 3 (e.g. tachycardia),
    // and a second table that maps the bucket to its distance from normal.
    let readings: Vec<u64> = (0..count as u64).map(|i| (i * 7 + i / 3) % 4).collect();
    let alert = server.generate_lookup_table(|x| (x >= 3) as u64);
    let distance = server.generate_lookup_table(|x| x.abs_diff(1));
    let want = |i: usize, m: u64| {
        if i % 2 == 0 {
            (m >= 3) as u64
        } else {
            m.abs_diff(1)
        }
    };
    let cts: Vec<Ciphertext> = readings
        .iter()
        .map(|&m| client.encrypt(m))
        .collect::<Result<_>>()?;

    let backend = args.backend.open()?;
    let resident = server.upload(backend.as_ref())?;
    let refs: Vec<&Ciphertext> = cts.iter().collect();
    let luts: Vec<&LookupTable> = (0..count)
        .map(|i| if i % 2 == 0 { &alert } else { &distance })
        .collect();
    let t1 = Instant::now();
    let outs = resident.apply_lookup_table_batch(&refs, &luts)?;
    let batch_s = t1.elapsed().as_secs_f64();

    let mut verified = 0;
    for (i, (out, &m)) in outs.iter().zip(&readings).enumerate() {
        if client.decrypt(out)? == want(i, m) {
            verified += 1;
        }
    }
    DemoReport {
        params: params.name,
        backend: backend.name(),
        count,
        verified,
        keygen_s,
        batch_s,
        pbs_per_s: count as f64 / batch_s,
        threads: threads(),
        security: security_level(params),
    }
    .emit(args.output);
    check_passed(count - verified, count, "results decrypted wrongly")
}
