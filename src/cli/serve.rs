//! `glovebox serve`: the clinic service (see `glovebox::service`).

use super::{BackendArg, CliError, CliResult};
use glovebox::service::store::{Database, Store};
use glovebox::service::{serve, tls, ServiceConfig, ServiceError};
use std::path::PathBuf;

/// Runs the clinic service: clinics register their compressed server and casting keys,
/// devices post encrypted readings, alerts are computed blind and stored in SQLite (or
/// PostgreSQL, `--database postgres://…`, shared by several servers). Ctrl-C
/// stops it. It speaks HTTPS (`--tls-cert` and `--tls-key`, or `--dev-tls`); plain HTTP only
/// on a loopback address, or elsewhere when `--insecure-http` says so.
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The store: a SQLite file, or a PostgreSQL URL (`postgres://user@host/db`); its tables
    /// are created or migrated if needed.
    #[arg(long, default_value = "glovebox.sqlite")]
    pub database: Database,
    /// Largest request body in MiB (a compressed key on the default set is about 30 MiB).
    #[arg(long, default_value_t = 64)]
    pub max_body_mib: usize,
    /// Memory for clinics' expanded keys, in MiB (about 230 MiB a clinic on the default set,
    /// host and backend together); least recently used clinics are evicted past it.
    #[arg(long, default_value_t = 8192)]
    pub key_cache_mb: usize,
    /// Connections open at once (one past it is closed at accept).
    #[arg(long, default_value_t = 4096)]
    pub max_connections: usize,
    /// Long polls waiting at once (one past it is a 503).
    #[arg(long, default_value_t = 1024)]
    pub max_long_polls: usize,
    /// The server's certificate chain (PEM).
    #[arg(long, requires = "tls_key", conflicts_with = "dev_tls")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A self-signed certificate for 127.0.0.1 and localhost, made now (rcgen) and written
    /// beside the database as `<database>.dev-cert.pem` (with PostgreSQL, as
    /// `glovebox.dev-cert.pem` in the working directory) for clients to trust; its SHA-256
    /// fingerprint is printed. For development and tests.
    #[arg(long)]
    pub dev_tls: bool,
    /// Leave the jobs to `glovebox worker` processes (on a PostgreSQL store): this server
    /// answers requests and computes nothing.
    #[arg(long)]
    pub no_worker: bool,
    /// Seconds a worker's claim on a job lasts without a heartbeat.
    #[arg(long, default_value_t = 30)]
    pub lease_secs: u64,
    /// Steps of readings the server's own worker computes at once, each on devices of its
    /// own: while one step's bootstraps rotate, the next one's batch forms.
    #[arg(long, default_value_t = 2)]
    pub steps_in_flight: usize,
    /// Serve plain HTTP on an address other than loopback (tokens, names and ciphertexts in
    /// clear on the network).
    #[arg(long)]
    pub insecure_http: bool,
    #[command(flatten)]
    pub backend: BackendArg,
    #[command(subcommand)]
    pub command: Option<ServeCommand>,
}

/// The operator's commands on the server's database.
#[derive(clap::Subcommand)]
pub enum ServeCommand {
    /// Makes an enrollment token (printed once): it registers one clinic, with these quotas,
    /// until it expires.
    Enroll {
        /// Hours until the token expires.
        #[arg(long, default_value_t = 24)]
        valid_hours: u64,
        /// Devices the clinic may have (not revoked).
        #[arg(long, default_value_t = 10_000)]
        max_devices: u64,
        /// Readings per second the clinic's devices may post (with two seconds of burst).
        #[arg(long, default_value_t = 100)]
        readings_per_second: u64,
        /// MiB of readings and records the clinic may store.
        #[arg(long, default_value_t = 10_240)]
        stored_mb: u64,
    },
}

/// Makes an enrollment token in `database`'s store; returns it (`e<id>.<secret>`).
pub fn enroll(
    database: &Database,
    valid: std::time::Duration,
    quotas: glovebox::service::store::Quotas,
) -> Result<String, ServiceError> {
    let store = Store::open_database(database)?;
    let secret = glovebox::service::new_token_secret();
    let expires = glovebox::service::store::now_ms() + valid.as_millis() as i64;
    let id = store.create_enrollment(&secret, expires, quotas)?;
    Ok(format!("e{id}.{secret}"))
}

/// A file the command was given (a certificate, a key), read whole.
pub(super) fn read(path: &PathBuf) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| {
        CliError::Service(ServiceError::Io(format!("reading {}: {e}", path.display())))
    })
}

pub fn run(args: Args) -> CliResult<()> {
    if let Some(ServeCommand::Enroll {
        valid_hours,
        max_devices,
        readings_per_second,
        stored_mb,
    }) = args.command
    {
        let quotas = glovebox::service::store::Quotas {
            max_devices,
            readings_per_second: readings_per_second.max(1),
            max_stored_bytes: stored_mb << 20,
        };
        let token = enroll(
            &args.database,
            std::time::Duration::from_secs(valid_hours * 3600),
            quotas,
        )?;
        eprintln!(
            "an enrollment token for one clinic, valid {valid_hours} h (give it to the clinic \
             over a trusted channel; `glovebox clinic register --enrollment-token`):"
        );
        println!("{token}");
        return Ok(());
    }
    let mut config = ServiceConfig::new(args.database.clone(), args.backend.open()?);
    config.max_body_bytes = args.max_body_mib << 20;
    config.key_cache_bytes = args.key_cache_mb << 20;
    config.max_connections = args.max_connections.max(1);
    config.max_long_polls = args.max_long_polls;
    config.lease = std::time::Duration::from_secs(args.lease_secs.max(1));
    config.steps_in_flight = args.steps_in_flight.max(1);
    if args.no_worker {
        if args.database.path().is_some() {
            return Err(CliError::Usage(
                "--no-worker needs a shared store (--database postgres://…): with SQLite no other \
                 process can compute the jobs"
                    .into(),
            ));
        }
        config.in_process_worker = false;
    }
    let mut note = String::new();
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some(tls::server_config(&read(cert)?, &read(key)?)?);
    } else if args.dev_tls {
        let (cert, key) = tls::self_signed(&["127.0.0.1", "localhost"])?;
        let path = match args.database.path() {
            Some(file) => PathBuf::from(format!("{}.dev-cert.pem", file.display())),
            None => PathBuf::from("glovebox.dev-cert.pem"),
        };
        std::fs::write(&path, &cert).map_err(|e| {
            CliError::Service(ServiceError::Io(format!("writing {}: {e}", path.display())))
        })?;
        config.tls = Some(tls::server_config(cert.as_bytes(), key.as_bytes())?);
        note = format!(
            ", self-signed certificate {} (SHA-256 {})",
            path.display(),
            tls::fingerprint(cert.as_bytes())?
        );
    }
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let runtime = tokio::runtime::Runtime::new().map_err(service_error)?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(service_error)?;
        let addr = listener.local_addr().map_err(service_error)?;
        if config.tls.is_none() && !addr.ip().is_loopback() && !args.insecure_http {
            return Err(CliError::Usage(format!(
                "{addr} is not a loopback address: serve it over TLS (--tls-cert and --tls-key, \
                 or --dev-tls), or say --insecure-http"
            )));
        }
        eprintln!(
            "glovebox serve: listening on {scheme}://{addr}, database {}{note}",
            args.database
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
