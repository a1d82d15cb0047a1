//! `glovebox serve`: the clinic service (see `glovebox::service`).

use super::{BackendArg, CliError, CliResult};
use glovebox::service::{serve, ServiceConfig};
use std::path::PathBuf;

/// Runs the clinic service: clinics register their compressed server keys, devices post
/// encrypted readings, alerts are computed blind and stored in SQLite. Ctrl-C stops it.
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The SQLite database (created and migrated if needed).
    #[arg(long, default_value = "glovebox.sqlite")]
    pub database: PathBuf,
    /// Largest request body in MiB (a compressed key on the default set is about 30 MiB).
    #[arg(long, default_value_t = 64)]
    pub max_body_mib: usize,
    #[command(flatten)]
    pub backend: BackendArg,
}

pub fn run(args: Args) -> CliResult<()> {
    let mut config = ServiceConfig::new(args.database.clone(), args.backend.open()?);
    config.max_body_bytes = args.max_body_mib << 20;
    let runtime = tokio::runtime::Runtime::new().map_err(service_error)?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(service_error)?;
        eprintln!(
            "glovebox serve: listening on http://{}, database {}",
            listener.local_addr().map_err(service_error)?,
            args.database.display()
        );
        serve(listener, config, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(service_error)
    })
}

fn service_error(e: impl std::fmt::Display) -> CliError {
    CliError::Service(glovebox::service::ServiceError::Http(e.to_string()))
}
