//! `glovebox clinic`: the clinic's side of the service. Its keys and tokens live in a directory
//! of its own (`--dir`): `client.key` and `compact.key` (the secret keys, envelopes readable by
//! the owner only) and `clinic.json` (the server's URL, the clinic token, its devices and the
//! fetch cursors). Nothing secret is ever sent: the server gets the compressed server and
//! casting keys, encrypted values, and the clinic token. `provision` writes a device directory
//! (`glovebox device`'s): the compact public key and the device tokens, nothing secret.

use super::{compressed_key_with_bar, CliError, CliResult, OutputArgs, ParamsArg, Report};
use glovebox::engine::serialization::{from_bytes, to_bytes};
use glovebox::engine::shortint::public_key::CompactPrivateKey;
use glovebox::prelude::*;
use glovebox::records::PlainAnalysis;
use glovebox::service::dashboard::{serve_dashboard, DashboardConfig, DashboardSource, Roster};
use glovebox::service::pseudonym::Pseudonyms;
use glovebox::service::{ClinicClient, Endpoint, ServiceError, StreamItem};
use glovebox::vitals::Clinic;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::result::Result;
use std::time::Duration;

/// The clinic's side of the service: keys, registration, devices, records, and the alerts and
/// analyses decrypted into tables.
#[derive(clap::Args)]
pub struct Args {
    /// The clinic's directory (keys and tokens; created by `register`).
    #[arg(long, default_value = "glovebox-clinic")]
    pub dir: PathBuf,
    #[command(subcommand)]
    pub command: ClinicCommand,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(clap::Subcommand)]
pub enum ClinicCommand {
    /// Generates the clinic's keys (once) and registers its compressed server key at a server.
    Register {
        /// The server, e.g. https://clinic.example:8443 (http:// on loopback only).
        #[arg(long)]
        url: String,
        /// The enrollment token the server's operator made for this clinic (`glovebox serve
        /// enroll`).
        #[arg(long)]
        enrollment_token: String,
        /// The server's certificate or its CA (PEM), kept in the directory as
        /// `server-ca.pem` and trusted from then on (without it: the public web roots).
        #[arg(long)]
        ca: Option<PathBuf>,
        #[command(flatten)]
        params: ParamsArg,
        /// Register again although the directory holds a registered clinic (its devices'
        /// tokens then belong to the old registration).
        #[arg(long)]
        force: bool,
    },
    /// Adds a wearable for a patient; prints its device token.
    AddDevice {
        #[arg(long)]
        patient: String,
    },
    /// Replaces the clinic's token (the old one is refused from then on).
    RotateToken,
    /// Revokes a patient's wearable: its token is refused from then on.
    RevokeDevice {
        #[arg(long)]
        patient: String,
    },
    /// Adds wearables for patient-1 … patient-N (those not added yet) and writes the device
    /// directory `glovebox device` streams from: the clinic's compact public key and the
    /// devices' tokens (no secret key).
    Provision {
        #[arg(long, default_value_t = 4)]
        patients: usize,
        /// The device directory.
        #[arg(long, default_value = "glovebox-devices")]
        out: PathBuf,
    },
    /// Fetches the alerts computed since the last fetch and decrypts them into a table.
    Alerts {
        /// Wait up to this many seconds for the first alert.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// Fetch from the beginning, not from the saved cursor.
        #[arg(long)]
        all: bool,
    },
    /// Encrypts a lab value and posts it, to be compared with the patient's past.
    Record {
        #[arg(long)]
        patient: String,
        /// The test type, e.g. glucose.
        #[arg(long)]
        test: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// The value in the test's unit, 0 to 4095.
        #[arg(long)]
        value: u16,
        /// Flag a change by more than this many units since the last record.
        #[arg(long, default_value_t = 10)]
        change: u16,
        /// The gap to the mean of the last this-many records (1 to 8).
        #[arg(long, default_value_t = 3)]
        window: usize,
    },
    /// Fetches the record analyses since the last fetch and decrypts them into a table.
    Analyses {
        #[arg(long, default_value_t = 0)]
        wait: u64,
        #[arg(long)]
        all: bool,
    },
    /// Cohort statistics of a test type over the clinic's patients (their latest values).
    Cohort {
        #[arg(long)]
        test: String,
        /// Count the patients whose latest value exceeds this.
        #[arg(long)]
        threshold: u16,
        /// Wait up to this many seconds for the result.
        #[arg(long, default_value_t = 600)]
        wait: u64,
    },
    /// Serves the clinic's dashboard: the ward live in a browser (each patient's state and
    /// timeline, quiet devices, lab analyses, cohorts), decrypted here with the clinic's key.
    /// It prints the address to open, which carries the page's access token. Plain HTTP on a
    /// loopback address only; elsewhere it needs TLS. Ctrl-C stops it.
    Dashboard {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
        /// The dashboard's certificate chain (PEM), for an address other than loopback.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// A device is shown quiet after this many seconds without a reading.
        #[arg(long, default_value_t = 10.0)]
        quiet_after: f64,
        /// A reading is marked late when it comes this many seconds after its device's
        /// previous one (the wearables send one a second).
        #[arg(long, default_value_t = 3.0)]
        late_after: f64,
        /// Readings kept per patient (3,600: an hour at one a second).
        #[arg(long, default_value_t = 3600)]
        history: usize,
    },
}

/// One device as the clinic keeps it.
#[derive(Clone, Serialize, Deserialize)]
pub struct DeviceEntry {
    pub patient: String,
    pub device_id: i64,
    pub token: String,
    /// The next sequence number the device will send.
    #[serde(default)]
    pub next_seq: u64,
}

/// `clinic.json`.
#[derive(Clone, Serialize, Deserialize)]
pub struct ClinicState {
    pub url: String,
    pub token: String,
    pub params: String,
    pub key_id: u64,
    #[serde(default)]
    pub devices: Vec<DeviceEntry>,
    #[serde(default)]
    pub alerts_cursor: i64,
    #[serde(default)]
    pub analyses_cursor: i64,
    /// Patients' names by the pseudonyms the server knows them by.
    #[serde(default)]
    pub patients: std::collections::BTreeMap<String, String>,
}

/// The clinic's directory: its secret keys, its pseudonym key and its state.
pub struct ClinicFiles {
    pub dir: PathBuf,
    pub keys: Clinic,
    pub pseudonyms: Pseudonyms,
    pub state: ClinicState,
}

/// The clinic's pseudonym key (`pseudonym.key`, made when missing).
fn read_pseudonyms(dir: &Path) -> Result<Pseudonyms, ServiceError> {
    let path = dir.join("pseudonym.key");
    if !path.exists() {
        let p = Pseudonyms::new();
        write_private(&path, p.key())?;
        return Ok(p);
    }
    let bytes = std::fs::read(&path).map_err(|e| io("reading", &path, e))?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| ServiceError::BadRequest(format!("{}: not 32 bytes", path.display())))?;
    Ok(Pseudonyms::from_key(key))
}

pub(super) fn io(what: &str, path: &Path, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Io(format!("{what} {}: {e}", path.display()))
}

/// Writes `bytes` readable by the owner only (the secret key, the tokens), atomically.
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServiceError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp).map_err(|e| io("writing", &tmp, e))?;
    f.write_all(bytes).map_err(|e| io("writing", &tmp, e))?;
    f.sync_all().map_err(|e| io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("writing", path, e))
}

impl ClinicFiles {
    /// Opens a registered clinic's directory.
    pub fn open(dir: &Path) -> Result<Self, ServiceError> {
        let state_path = dir.join("clinic.json");
        let bytes = std::fs::read(&state_path).map_err(|e| {
            io(
                "reading (run `glovebox clinic register` first)",
                &state_path,
                e,
            )
        })?;
        let state: ClinicState = serde_json::from_slice(&bytes)
            .map_err(|e| ServiceError::BadRequest(format!("{}: {e}", state_path.display())))?;
        let params = Parameters::by_name(&state.params)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            keys: read_keys(dir, params, Some(state.key_id))?,
            pseudonyms: read_pseudonyms(dir)?,
            state,
        })
    }

    /// The pseudonym the server knows `name` by (remembered for showing names again).
    pub fn pseudonym(&mut self, name: &str) -> String {
        let id = self.pseudonyms.of(name);
        self.state.patients.insert(id.clone(), name.to_string());
        id
    }

    /// The name behind a pseudonym (the pseudonym itself if this directory never sent it).
    fn name_of(&self, pseudonym: &str) -> String {
        self.state
            .patients
            .get(pseudonym)
            .cloned()
            .unwrap_or_else(|| pseudonym.to_string())
    }

    pub fn save(&self) -> Result<(), ServiceError> {
        let json = serde_json::to_vec_pretty(&self.state).expect("plain JSON");
        write_private(&self.dir.join("clinic.json"), &json)
    }

    /// The server as this directory trusts it: its URL and `server-ca.pem` if present.
    pub fn endpoint(&self) -> Result<Endpoint, ServiceError> {
        endpoint_in(&self.dir, &self.state.url)
    }

    pub fn client(&self) -> Result<ClinicClient, ServiceError> {
        ClinicClient::connect(
            &self.endpoint()?,
            &self.state.token,
            self.keys.parameters_static()?,
            self.state.key_id,
        )
    }

    /// The device of `patient`, added at the server if the clinic has none yet.
    pub fn device(&mut self, patient: &str) -> Result<DeviceEntry, ServiceError> {
        if let Some(d) = self.state.devices.iter().find(|d| d.patient == patient) {
            return Ok(d.clone());
        }
        let pseudonym = self.pseudonym(patient);
        let d = self.client()?.add_device(&pseudonym)?;
        let entry = DeviceEntry {
            patient: patient.to_string(),
            device_id: d.device_id(),
            token: d.token().to_string(),
            next_seq: 0,
        };
        self.state.devices.push(entry.clone());
        self.save()?;
        Ok(entry)
    }

    fn patient_of(&self, device_id: i64) -> String {
        self.state
            .devices
            .iter()
            .find(|d| d.device_id == device_id)
            .map_or_else(|| format!("device {device_id}"), |d| d.patient.clone())
    }
}

trait StaticParams {
    fn parameters_static(&self) -> Result<&'static Parameters, ServiceError>;
}

impl StaticParams for Clinic {
    fn parameters_static(&self) -> Result<&'static Parameters, ServiceError> {
        Ok(Parameters::by_name(self.parameters().name)?)
    }
}

/// The name of the trusted certificate in a clinic's or devices' directory.
pub(super) const SERVER_CA: &str = "server-ca.pem";

/// `url` trusted as `dir` says: its `server-ca.pem` if present, else the public web roots.
pub(super) fn endpoint_in(dir: &Path, url: &str) -> Result<Endpoint, ServiceError> {
    let ca_path = dir.join(SERVER_CA);
    let ca = if ca_path.exists() {
        Some(std::fs::read(&ca_path).map_err(|e| io("reading", &ca_path, e))?)
    } else {
        None
    };
    Endpoint::new(url, ca.as_deref())
}

/// The clinic's secret keys from its directory: `client.key` and `compact.key` (under client
/// key `key_id` when given).
fn read_keys(dir: &Path, params: &Parameters, key_id: Option<u64>) -> Result<Clinic, ServiceError> {
    let key_path = dir.join("client.key");
    let bytes = std::fs::read(&key_path).map_err(|e| io("reading", &key_path, e))?;
    let key: ClientKey = from_bytes(&bytes, params, key_id, 1 << 26)?;
    let compact_path = dir.join("compact.key");
    let bytes = std::fs::read(&compact_path).map_err(|e| io("reading", &compact_path, e))?;
    let compact: CompactPrivateKey = from_bytes(&bytes, params, Some(key.key_id()), 1 << 26)?;
    Ok(Clinic::from_keys(key, compact)?)
}

/// Generates keys (if the directory has none) and registers; a directory that holds a
/// registered clinic is refused unless `force`.
/// Where a clinic registers: the server's URL, the enrollment token, the certificate to trust.
struct Server<'a> {
    url: &'a str,
    enrollment_token: &'a str,
    ca: Option<&'a Path>,
}

fn register(
    dir: &Path,
    server: &Server<'_>,
    params: &ParamsArg,
    force: bool,
    output: OutputArgs,
) -> CliResult<()> {
    let (url, ca) = (server.url, server.ca);
    if dir.join("clinic.json").exists() && !force {
        return Err(ServiceError::Conflict(format!(
            "{} holds a registered clinic (its devices' tokens belong to it); `--force` \
             registers again",
            dir.display()
        ))
        .into());
    }
    std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).map_err(|e| io("reading", ca, e))?;
        Endpoint::new(url, Some(&pem))?;
        write_private(&dir.join(SERVER_CA), &pem)?;
    }
    let endpoint = endpoint_in(dir, url)?;
    let key_path = dir.join("client.key");
    let params = params.resolve()?;
    let keys = if key_path.exists() {
        read_keys(dir, params, None)?
    } else {
        let keys = Clinic::new(params)?;
        write_private(&dir.join("compact.key"), &to_bytes(keys.compact_key()))?;
        write_private(&key_path, &to_bytes(keys.client_key()))?;
        keys
    };
    let compressed = compressed_key_with_bar(output, &keys)?;
    let casting = keys.compressed_casting_key()?;
    let client = ClinicClient::register(&endpoint, server.enrollment_token, &compressed, &casting)?;
    let files = ClinicFiles {
        dir: dir.to_path_buf(),
        state: ClinicState {
            url: url.trim_end_matches('/').to_string(),
            token: client.token().to_string(),
            params: params.name.to_string(),
            key_id: keys.key_id(),
            devices: Vec::new(),
            alerts_cursor: 0,
            analyses_cursor: 0,
            patients: Default::default(),
        },
        pseudonyms: read_pseudonyms(dir)?,
        keys,
    };
    files.save()?;
    Registered {
        clinic_id: client.clinic_id(),
        url: files.state.url.clone(),
        params: params.name.to_string(),
        uploaded_mib: (to_bytes(&compressed).len() + to_bytes(&casting).len()) as f64
            / (1 << 20) as f64,
        dir: dir.display().to_string(),
    }
    .emit(output);
    Ok(())
}

#[derive(Serialize)]
struct Registered {
    clinic_id: i64,
    url: String,
    params: String,
    uploaded_mib: f64,
    dir: String,
}

impl Report for Registered {
    fn print_table(&self) {
        println!(
            "clinic {} registered at {} ({}; compressed server and casting keys, {:.1} MiB, uploaded)",
            self.clinic_id, self.url, self.params, self.uploaded_mib
        );
        println!(
            "secret key and token in {} (never sent to the server)",
            self.dir
        );
    }
}

#[derive(Serialize)]
struct Provisioned {
    devices: usize,
    dir: String,
    public_key_kib: f64,
}

impl Report for Provisioned {
    fn print_table(&self) {
        println!(
            "{} devices in {} (the compact public key, {:.1} KiB, and their tokens; no secret key)",
            self.devices, self.dir, self.public_key_kib
        );
    }
}

/// A decrypted alert.
#[derive(Serialize)]
struct AlertRow {
    patient: String,
    seq: u64,
    heart_rate: bool,
    spo2: bool,
    any: bool,
    sustained: bool,
}

/// A reading that failed for good, as the stream reports it.
#[derive(Serialize)]
struct FailedRow {
    patient: String,
    seq: u64,
    reason: String,
}

#[derive(Serialize)]
struct Alerts {
    alerts: Vec<AlertRow>,
    failed: Vec<FailedRow>,
}

fn mark(b: bool) -> &'static str {
    if b {
        "ALERT"
    } else {
        "-"
    }
}

impl Report for Alerts {
    fn print_table(&self) {
        for f in &self.failed {
            println!(
                "{:<16} {:>6}  FAILED: {} (the reading was not evaluated)",
                f.patient, f.seq, f.reason
            );
        }
        if self.alerts.is_empty() {
            println!("no new alerts");
            return;
        }
        println!(
            "{:<16} {:>6}  {:<10} {:<6} {:<6} {:<9}",
            "patient", "second", "heart rate", "SpO2", "any", "sustained"
        );
        for a in &self.alerts {
            println!(
                "{:<16} {:>6}  {:<10} {:<6} {:<6} {:<9}",
                a.patient,
                a.seq,
                mark(a.heart_rate),
                mark(a.spo2),
                mark(a.any),
                mark(a.sustained)
            );
        }
        let raised = self.alerts.iter().filter(|a| a.any).count();
        println!(
            "{} readings, {raised} with an alert (decrypted here; the server saw none of it)",
            self.alerts.len()
        );
    }
}

#[derive(Serialize)]
struct AnalysisRow {
    patient: String,
    test: String,
    date: String,
    /// `None` for a first record.
    analysis: Option<PlainAnalysis>,
}

#[derive(Serialize)]
struct Analyses {
    analyses: Vec<AnalysisRow>,
}

impl Report for Analyses {
    fn print_table(&self) {
        if self.analyses.is_empty() {
            println!("no new analyses");
            return;
        }
        println!(
            "{:<16} {:<12} {:<10}  {:<9} {:<8} {:>14}",
            "patient", "test", "date", "above max", "changed", "minus mean(k)"
        );
        for a in &self.analyses {
            match &a.analysis {
                Some(x) => println!(
                    "{:<16} {:<12} {:<10}  {:<9} {:<8} {:>10.2} ({})",
                    a.patient,
                    a.test,
                    a.date,
                    if x.above_max { "yes" } else { "no" },
                    if x.changed { "yes" } else { "no" },
                    x.gap_to_mean(),
                    x.window
                ),
                None => println!(
                    "{:<16} {:<12} {:<10}  (first record of the series)",
                    a.patient, a.test, a.date
                ),
            }
        }
    }
}

#[derive(Serialize)]
struct Cohort {
    test: String,
    threshold: u16,
    patients: usize,
    count_above: u64,
    sum_above: u64,
    sum_all: u64,
}

impl Report for Cohort {
    fn print_table(&self) {
        println!(
            "{} over {} patients' latest values (decrypted here):",
            self.test, self.patients
        );
        println!(
            "  above {:<6} {:>5} patients, sum {} (mean {:.1})",
            self.threshold,
            self.count_above,
            self.sum_above,
            self.sum_above as f64 / self.count_above.max(1) as f64
        );
        println!(
            "  all          {:>5} patients, sum {} (mean {:.1})",
            self.patients,
            self.sum_all,
            self.sum_all as f64 / self.patients.max(1) as f64
        );
    }
}

pub fn run(args: Args) -> CliResult<()> {
    let output = args.output;
    if let ClinicCommand::Register {
        url,
        enrollment_token,
        ca,
        params,
        force,
    } = &args.command
    {
        let server = Server {
            url,
            enrollment_token,
            ca: ca.as_deref(),
        };
        return register(&args.dir, &server, params, *force, output);
    }
    let mut files = ClinicFiles::open(&args.dir)?;
    let client = files.client()?;
    if let ClinicCommand::Dashboard {
        listen,
        tls_cert,
        tls_key,
        quiet_after,
        late_after,
        history,
    } = args.command
    {
        let mut config = DashboardConfig::new();
        if let (Some(cert), Some(key)) = (&tls_cert, &tls_key) {
            config.tls = Some(glovebox::service::tls::server_config(
                &super::serve::read(cert)?,
                &super::serve::read(key)?,
            )?);
        }
        let seconds = |s: f64, what: &str| {
            Duration::try_from_secs_f64(s)
                .map_err(|_| CliError::Usage(format!("--{what}: a number of seconds, not {s}")))
        };
        config.quiet_after = seconds(quiet_after, "quiet-after")?;
        config.late_after = seconds(late_after, "late-after")?;
        config.history = history.max(1);
        return dashboard(files, client, &listen, config);
    }
    match args.command {
        ClinicCommand::Register { .. } | ClinicCommand::Dashboard { .. } => {
            unreachable!("handled above")
        }
        ClinicCommand::AddDevice { patient } => {
            let d = files.device(&patient)?;
            println!("device {} for {patient}: token {}", d.device_id, d.token);
        }
        ClinicCommand::RotateToken => {
            let mut client = client;
            files.state.token = client.rotate_token()?.to_string();
            files.save()?;
            println!(
                "clinic token rotated; the new one is in {}",
                args.dir.display()
            );
        }
        ClinicCommand::RevokeDevice { patient } => {
            let d = files
                .state
                .devices
                .iter()
                .position(|d| d.patient == patient)
                .ok_or_else(|| ServiceError::NotFound(format!("no device for {patient}")))?;
            client.revoke_device(files.state.devices[d].device_id)?;
            let gone = files.state.devices.remove(d);
            files.save()?;
            println!("device {} of {patient} revoked", gone.device_id);
        }
        ClinicCommand::Provision { patients, out } => {
            let mut devices = Vec::with_capacity(patients);
            for p in 0..patients {
                // The wearables' directory names its patients by pseudonym too.
                let mut entry = files.device(&format!("patient-{}", p + 1))?;
                entry.patient = files.pseudonyms.of(&entry.patient);
                devices.push(entry);
            }
            let fleet = super::device::DeviceFleet::write(
                &out,
                &files.state.url,
                files.keys.public_key(),
                devices,
            )?;
            let ca = args.dir.join(SERVER_CA);
            if ca.exists() {
                let pem = std::fs::read(&ca).map_err(|e| io("reading", &ca, e))?;
                write_private(&out.join(SERVER_CA), &pem)?;
            }
            Provisioned {
                devices: fleet.state.devices.len(),
                dir: out.display().to_string(),
                public_key_kib: to_bytes(files.keys.public_key()).len() as f64 / 1024.0,
            }
            .emit(output);
        }
        ClinicCommand::Alerts { wait, all } => {
            let since = if all { 0 } else { files.state.alerts_cursor };
            let fetched = client.fetch_stream(since, Duration::from_secs(wait))?;
            let mut alerts = Vec::with_capacity(fetched.len());
            let mut failed = Vec::new();
            for item in &fetched {
                match item {
                    StreamItem::Alerts(a) => {
                        let f = a.decrypt(&files.keys)?;
                        alerts.push(AlertRow {
                            patient: files.patient_of(a.device_id),
                            seq: a.seq,
                            heart_rate: f.heart_rate,
                            spo2: f.spo2,
                            any: f.any,
                            sustained: f.sustained,
                        })
                    }
                    StreamItem::Failed(f) => failed.push(FailedRow {
                        patient: files.patient_of(f.device_id),
                        seq: f.seq,
                        reason: f.reason.clone(),
                    }),
                }
            }
            if let Some(last) = fetched.last() {
                files.state.alerts_cursor = files.state.alerts_cursor.max(last.id());
                files.save()?;
            }
            Alerts { alerts, failed }.emit(output);
        }
        ClinicCommand::Record {
            patient,
            test,
            date,
            value,
            change,
            window,
        } => {
            let ct = files.keys.encrypt_lab_value(value)?;
            let pseudonym = files.pseudonym(&patient);
            files.save()?;
            let posted = client.post_record(&pseudonym, &test, &date, &ct, change, window)?;
            println!(
                "record {} ({patient}, {test}, {date}){}",
                posted.record_id,
                if posted.replay {
                    ": already stored, not posted again"
                } else {
                    " stored encrypted; `glovebox clinic analyses` fetches its comparison"
                }
            );
        }
        ClinicCommand::Analyses { wait, all } => {
            let since = if all { 0 } else { files.state.analyses_cursor };
            let fetched = client.fetch_analyses(since, Duration::from_secs(wait))?;
            let mut analyses = Vec::with_capacity(fetched.len());
            for a in &fetched {
                analyses.push(AnalysisRow {
                    patient: files.name_of(&a.patient),
                    test: a.test.clone(),
                    date: a.date.clone(),
                    analysis: a
                        .analysis
                        .as_ref()
                        .map(|x| files.keys.decrypt_analysis(x))
                        .transpose()?,
                });
            }
            if let Some(last) = fetched.last() {
                files.state.analyses_cursor = files.state.analyses_cursor.max(last.id);
                files.save()?;
            }
            Analyses { analyses }.emit(output);
        }
        ClinicCommand::Cohort {
            test,
            threshold,
            wait,
        } => {
            let id = client.request_cohort(&test, threshold)?;
            let deadline = std::time::Instant::now() + Duration::from_secs(wait);
            let result = loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match client.fetch_cohort(id, left.min(Duration::from_secs(30)))? {
                    Some(r) => break r,
                    None if left.is_zero() => {
                        return Err(ServiceError::Http(format!(
                            "cohort {id} still pending after {wait} s; fetch it later"
                        ))
                        .into())
                    }
                    None => {}
                }
            };
            let plain = files.keys.decrypt_cohort(&result.statistics)?;
            Cohort {
                test: result.test,
                threshold: result.threshold,
                patients: plain.patients,
                count_above: plain.count_above,
                sum_above: plain.sum_above,
                sum_all: plain.sum_all,
            }
            .emit(output);
        }
    }
    Ok(())
}

/// The roster of a clinic's directory as it is on disk now (`clinic.json`: devices added by
/// another command meanwhile included).
fn roster_of(dir: &Path) -> Roster {
    let state: Option<ClinicState> = std::fs::read(dir.join("clinic.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    state.map_or_else(Roster::default, |s| Roster {
        devices: s
            .devices
            .iter()
            .map(|d| (d.device_id, d.patient.clone()))
            .collect(),
        pseudonyms: s.patients,
    })
}

/// `clinic dashboard`: serves the page until Ctrl-C.
fn dashboard(
    files: ClinicFiles,
    client: ClinicClient,
    listen: &str,
    config: DashboardConfig,
) -> CliResult<()> {
    let dir = files.dir.clone();
    let source = DashboardSource {
        client,
        keys: files.keys,
        roster: Box::new(move || roster_of(&dir)),
    };
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let token = config.access_token.clone();
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| ServiceError::Internal(format!("the runtime: {e}")))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| ServiceError::Io(format!("listening on {listen}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServiceError::Io(format!("listening on {listen}: {e}")))?;
        if config.tls.is_none() && !addr.ip().is_loopback() {
            return Err(CliError::Usage(format!(
                "{addr} is not a loopback address: the dashboard shows decrypted patient data, \
                 so elsewhere it needs TLS (--tls-cert and --tls-key)"
            )));
        }
        eprintln!(
            "glovebox clinic dashboard: the ward of {} (server {}), decrypted here; open:",
            files.dir.display(),
            files.state.url
        );
        // The address alone on stdout, for scripts; it carries the page's access token.
        println!("{scheme}://{addr}/?token={token}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        serve_dashboard(listener, source, config, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(CliError::from)
    })
}
