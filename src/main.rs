//! The `glovebox` command.

use clap::{Parser, Subcommand};
use glovebox::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "glovebox",
    version,
    about = "Hardware-accelerated TFHE for encrypted medical data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the parameter sets: shapes, noise, key and ciphertext sizes, security source.
    Params {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// End to end on one parameter set: key generation, encryption of a batch of readings,
    /// keyswitch + PBS through threshold lookup tables on the CPU backend, decryption, and a
    /// check of every result against the plaintext computation.
    Demo {
        /// Parameter set name (see `glovebox params`).
        #[arg(long, default_value = "PARAM_MESSAGE_2_CARRY_2_KS_PBS")]
        params: String,
        /// Number of encrypted values to bootstrap (one batch).
        #[arg(long, default_value_t = 64)]
        count: usize,
        /// Machine-readable output (one JSON object).
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Params { json } => params(json),
        Command::Demo {
            params,
            count,
            json,
        } => demo(&params, count, json),
    };
    if let Err(e) = result {
        eprintln!("glovebox: {e}");
        std::process::exit(1);
    }
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn params(json: bool) -> Result<()> {
    if json {
        let list: Vec<serde_json::Value> = ALL
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "lwe_dimension": p.lwe_dimension.0,
                    "glwe_dimension": p.glwe_dimension.0,
                    "polynomial_size": p.polynomial_size.0,
                    "lwe_noise": p.lwe_noise.to_string(),
                    "glwe_noise": p.glwe_noise.to_string(),
                    "pbs_base_log": p.pbs_base_log.0,
                    "pbs_level": p.pbs_level.0,
                    "ks_base_log": p.ks_base_log.0,
                    "ks_level": p.ks_level.0,
                    "ks_output_modulus_log": p.ks_output_modulus_log,
                    "message_modulus": p.message_modulus,
                    "carry_modulus": p.carry_modulus,
                    "log2_p_fail": p.log2_p_fail,
                    "ciphertext_bytes": p.ciphertext_bytes(),
                    "bootstrap_key_bytes": p.bootstrap_key_bytes(),
                    "keyswitch_key_bytes": p.keyswitch_key_bytes(),
                    "security": p.security_statement(),
                    "source": p.source,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&list).expect("plain JSON values")
        );
        return Ok(());
    }
    println!(
        "{:<58} {:>5} {:>2} {:>6} {:>9} {:>6} {:>4} {:>9} {:>10} {:>10} {:>10}",
        "name", "n", "k", "N", "pbs b/l", "ks b/l", "ks q", "p_fail", "ct", "bsk", "ksk"
    );
    for p in ALL {
        println!(
            "{:<58} {:>5} {:>2} {:>6} {:>9} {:>6} {:>4} {:>9} {:>10} {:>10} {:>10}",
            p.name,
            p.lwe_dimension.0,
            p.glwe_dimension.0,
            p.polynomial_size.0,
            format!("{}/{}", p.pbs_base_log.0, p.pbs_level.0),
            format!("{}/{}", p.ks_base_log.0, p.ks_level.0),
            format!("2^{}", p.ks_output_modulus_log),
            format!("2^{:.1}", p.log2_p_fail),
            format!("{:.1} KiB", p.ciphertext_bytes() as f64 / 1024.0),
            mib(p.bootstrap_key_bytes()),
            mib(p.keyswitch_key_bytes()),
        );
    }
    println!();
    for p in ALL {
        println!(
            "{}:\n  noise: LWE {}, GLWE {}; message {} x carry {}",
            p.name, p.lwe_noise, p.glwe_noise, p.message_modulus, p.carry_modulus
        );
        println!(
            "  security: {}\n  source: {}",
            p.security_statement(),
            p.source
        );
    }
    Ok(())
}

fn demo(name: &str, count: usize, json: bool) -> Result<()> {
    let params = Parameters::by_name(name)?;
    let t0 = Instant::now();
    let client = ClientKey::new(params)?;
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(params.lwe_dimension.0 as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("key generation {bar:40} {pos}/{len} GGSW [{elapsed}]")
            .expect("valid template"),
    );
    let server = client.server_key_with_progress(&|done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let keygen_s = t0.elapsed().as_secs_f64();

    // Readings bucketed into 2 bits; alert when the bucket is at or above 3 (e.g. tachycardia),
    // and a second table that maps the bucket to its distance from normal.
    let readings: Vec<u64> = (0..count as u64).map(|i| (i * 7 + i / 3) % 4).collect();
    let alert = server.generate_lookup_table(|x| (x >= 3) as u64);
    let distance = server.generate_lookup_table(|x| x.abs_diff(1));
    let cts: Vec<Ciphertext> = readings
        .iter()
        .map(|&m| client.encrypt(m))
        .collect::<Result<_>>()?;

    let backend = CpuBackend::new();
    let resident = server.upload(&backend)?;
    let refs: Vec<&Ciphertext> = cts.iter().collect();
    let luts: Vec<&LookupTable> = (0..count)
        .map(|i| if i % 2 == 0 { &alert } else { &distance })
        .collect();
    let t1 = Instant::now();
    let outs = resident.apply_lookup_table_batch(&refs, &luts)?;
    let pbs_s = t1.elapsed().as_secs_f64();

    let mut verified = 0;
    for (i, (out, &m)) in outs.iter().zip(&readings).enumerate() {
        let want = if i % 2 == 0 {
            (m >= 3) as u64
        } else {
            m.abs_diff(1)
        };
        if client.decrypt(out)? == want {
            verified += 1;
        }
    }
    let pbs_per_s = count as f64 / pbs_s;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "params": params.name,
                "backend": backend.name(),
                "count": count,
                "verified": verified,
                "keygen_s": keygen_s,
                "batch_s": pbs_s,
                "pbs_per_s": pbs_per_s,
                "threads": rayon_threads(),
            })
        );
    } else {
        println!(
            "parameters: {} ({})",
            params.name,
            params.security_statement()
        );
        println!("key generation: {keygen_s:.2} s");
        println!(
            "keyswitch + PBS of {count} ciphertexts on `{}` ({} threads): {:.3} s, {pbs_per_s:.1} PBS/s",
            backend.name(),
            rayon_threads(),
            pbs_s
        );
        println!("verified: {verified}/{count} results match the plaintext computation");
    }
    if verified != count {
        return Err(Error::Backend {
            backend: backend.name(),
            reason: format!("{} of {count} results decrypted wrongly", count - verified),
        });
    }
    Ok(())
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
