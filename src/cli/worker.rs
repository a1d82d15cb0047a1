//! `glovebox worker`: a stateless worker process of a scaled-out clinic service.

use super::{BackendArg, CliError, CliResult};
use glovebox::service::store::Database;
use glovebox::service::{work, ServiceConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Computes the jobs of a clinic service that runs on PostgreSQL: claims pending readings,
/// lab records and cohort requests under leases (`FOR UPDATE SKIP LOCKED`), computes their
/// alerts and analyses on its backend, and commits each result with its job marked done in
/// one transaction that checks the lease. Run as many as the load needs, on any machines
/// that reach the database; one killed leaves its jobs to the others when its leases expire.
/// Ctrl-C (or SIGTERM) stops it.
#[derive(clap::Args)]
pub struct Args {
    /// The service's PostgreSQL database (`postgres://user@host/db`).
    #[arg(long)]
    pub database: Database,
    /// Threads for the backend's batches (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Readings claimed per step (one per device).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Seconds a claim lasts without a heartbeat: a dead worker's jobs wait this long.
    #[arg(long, default_value_t = 30)]
    pub lease_secs: u64,
    /// Steps of readings computed at once, each on devices of its own: while one step's
    /// bootstraps rotate, the next one's batch forms.
    #[arg(long, default_value_t = 2)]
    pub steps_in_flight: usize,
    #[command(flatten)]
    pub backend: BackendArg,
}

pub fn run(args: Args) -> CliResult<()> {
    if !matches!(args.database, Database::Postgres(_)) {
        return Err(CliError::Usage(
            "a worker runs on a shared store: --database postgres://… (a SQLite store's \
             worker runs inside `glovebox serve`)"
                .into(),
        ));
    }
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build_global()
            .map_err(|e| CliError::Usage(format!("--threads: {e}")))?;
    }
    let mut config = ServiceConfig::new(args.database, args.backend.open()?);
    config.max_readings_per_step = args.batch.max(1);
    config.lease = Duration::from_secs(args.lease_secs.max(1));
    config.steps_in_flight = args.steps_in_flight.max(1);
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a signal runtime");
            runtime.block_on(async {
                use tokio::signal::unix::{signal, SignalKind};
                let mut term = signal(SignalKind::terminate()).expect("SIGTERM");
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            });
            stop.store(true, Ordering::Relaxed);
        });
    }
    Ok(work(config, stop)?)
}
