//! The service's durable store: SQLite (bundled, the embedded default) or PostgreSQL (the
//! shared store of a scaled-out service: several API servers and workers on one database).
//! SQLite runs in WAL mode with `synchronous = FULL`, so an acknowledged write survives a
//! killed process; PostgreSQL commits durably by its own default (`synchronous_commit = on`).
//! The schema is created and migrated here (SQLite's `PRAGMA user_version`, PostgreSQL's
//! `glovebox_schema` table), the same tables on both. Every query that reads or writes a
//! clinic's rows is scoped by the clinic id that its token proved.
//!
//! Readings are the jobs: a reading row is committed when its request is acknowledged, with
//! `state = 0` (pending, [`JobState`]); the worker computes its alerts and, in one
//! transaction, inserts them and sets `state = 1` (done). A server killed in between recomputes the reading after a restart;
//! the `UNIQUE (device_id, seq)` of the alerts makes the insert happen once.
//!
//! Lab records are jobs the same way: a record is stored pending; its analysis (against the
//! earlier records of its series: clinic, patient, test type) is inserted with its running
//! maximum and the record marked done in one transaction (`UNIQUE (record_id)`). Cohort
//! requests are rows too, computed over the records stored when they were made (`as_of`).
//!
//! By concern: this module (the error, job states, the databases, clinics, devices and
//! tokens), `sql` (the two databases behind one interface), `schema` (the tables and their
//! migrations), `readings` (readings and their alerts) and `records` (lab records, analyses
//! and cohort jobs). SQL stays in here.

mod readings;
mod records;
mod schema;
pub(crate) mod sql;

pub use readings::{AlertRow, CompletedReading, PendingReading, StepShare};
pub use records::{
    AnalysisRow, CohortRow, CompletedRecord, NewRecord, PendingRecord, RecordInsert,
};
pub use schema::SCHEMA_VERSION;

use rusqlite::Connection;
use sha2::{Digest, Sha256};
use sql::{params, Conn, Row};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// The notification channel of new jobs (readings, records, cohort requests): workers wake.
pub const JOBS_CHANNEL: &str = "glovebox_jobs";
/// The notification channel of new results (alerts, analyses, cohort results): long polls
/// wake.
pub const RESULTS_CHANNEL: &str = "glovebox_results";

/// Where a service keeps its store: a SQLite file, or a PostgreSQL database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    /// A SQLite database file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection string (`postgres://user@host:port/db`, or key-value form
    /// `host=… dbname=…`).
    Postgres(String),
}

impl Database {
    /// Reads a `--database` argument: a `postgres://` or `postgresql://` URL is PostgreSQL,
    /// anything else a SQLite file's path.
    pub fn parse(s: &str) -> Self {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Database::Postgres(s.to_string())
        } else {
            Database::Sqlite(PathBuf::from(s))
        }
    }

    /// The SQLite file, if this is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(p) => Some(p),
            Database::Postgres(_) => None,
        }
    }
}

impl std::str::FromStr for Database {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(Database::parse(s))
    }
}

impl std::fmt::Display for Database {
    /// The file's path, or the PostgreSQL URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(p) => write!(f, "{}", p.display()),
            Database::Postgres(url) => match url.split_once("://") {
                Some((scheme, rest)) => match rest.split_once('@') {
                    Some((user, host)) => {
                        let user = user.split(':').next().unwrap_or_default();
                        write!(f, "{scheme}://{user}@{host}")
                    }
                    None => write!(f, "{url}"),
                },
                None => write!(
                    f,
                    "postgres ({})",
                    url.split_whitespace()
                        .filter(|kv| !kv.starts_with("password"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            },
        }
    }
}

impl From<PathBuf> for Database {
    fn from(p: PathBuf) -> Self {
        Database::Sqlite(p)
    }
}

impl From<&Path> for Database {
    fn from(p: &Path) -> Self {
        Database::Sqlite(p.to_path_buf())
    }
}

impl From<&PathBuf> for Database {
    fn from(p: &PathBuf) -> Self {
        Database::Sqlite(p.clone())
    }
}

/// What the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused or failed (I/O, a full disk, a locked database, a constraint).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused or failed (a constraint, a lost connection, a server shut down).
    #[error("postgres: {0}")]
    Postgres(#[from] postgres::Error),
    /// No PostgreSQL connection could be had in time (the server is down or unreachable).
    #[error("postgres unavailable: {0}")]
    Unavailable(String),
    /// The database was written by a newer build.
    #[error("database schema version {found} is newer than this build's {SCHEMA_VERSION}")]
    SchemaTooNew { found: i64 },
    /// Rows that contradict each other (a store written wrongly, or edited by hand).
    #[error("inconsistent store: {0}")]
    Inconsistent(String),
    /// A clinic's quota would be exceeded (devices, stored bytes).
    #[error("quota: {0}")]
    Quota(String),
    /// A write that contradicts what is stored (a used sequence number with another body).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A worker's commit of jobs whose lease it no longer holds (it expired, and another
    /// worker claimed them): nothing of it is stored.
    #[error("lease lost: {0}")]
    LeaseLost(String),
}

impl StoreError {
    /// Whether the database cannot be reached at the moment (PostgreSQL down, restarting,
    /// or its connection lost): a request may be answered "503, retry".
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Postgres(e) => {
                let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
                // Connection exceptions, and the server shutting down.
                let class = e
                    .code()
                    .is_some_and(|c| c.code().starts_with("08") || c.code().starts_with("57"));
                e.is_closed() || io || class
            }
            _ => false,
        }
    }

    /// Whether the database itself failed (I/O, a lock, a lost or refused connection), as
    /// opposed to rows that contradict the request: the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sqlite(_) | StoreError::Unavailable(_) | StoreError::LeaseLost(_) => true,
            // A constraint PostgreSQL enforced is the request's; the rest (a connection
            // closed, the server shutting down, a serialization failure) the moment's.
            StoreError::Postgres(e) => !e.code().is_some_and(|c| {
                c.code().starts_with("23")
                    || c.code().starts_with("22")
                    || c.code().starts_with("42")
            }),
            _ => false,
        }
    }
}

/// A fault-injection point for the crash tests: when `GLOVEBOX_FAULT_PAUSE_AT` names `point`,
/// the first time the process reaches it (inside a transaction, before its commit) it writes
/// the file `GLOVEBOX_FAULT_MARKER` and waits there for ever, for the test to kill it. Points:
/// `alerts-commit`, `registration-commit`, `cohort-commit`.
pub(crate) fn pause_point(point: &str) {
    static REACHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if std::env::var("GLOVEBOX_FAULT_PAUSE_AT").as_deref() != Ok(point)
        || REACHED.swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        return;
    }
    if let Ok(marker) = std::env::var("GLOVEBOX_FAULT_MARKER") {
        let _ = std::fs::write(marker, point);
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

fn quotas_at(row: &Row, first: usize) -> Result<Quotas> {
    Ok(Quotas {
        max_devices: row.int_as(first)?,
        readings_per_second: row.int_as(first + 1)?,
        max_stored_bytes: row.int_as(first + 2)?,
    })
}

/// Enrollment token `id.secret` if it would register a clinic now: it matches (compared in
/// constant time, a wrong id costing the same as a wrong secret), is unused and unexpired.
/// Its quotas, and when a registration claimed it (if one did).
fn usable_enrollment(
    conn: &mut dyn Conn,
    id: i64,
    secret: &str,
) -> Result<Option<(Quotas, Option<i64>)>> {
    let row = conn.query_opt(
        "SELECT token_hash, expires, used_by, claimed, max_devices, readings_per_second,
                max_stored_bytes FROM enrollments WHERE id = ?1",
        params![id],
    )?;
    let row = match row {
        Some(r) => Some((
            r.blob(0)?,
            r.int(1)?,
            r.opt_int(2)?,
            r.opt_int(3)?,
            quotas_at(&r, 4)?,
        )),
        None => None,
    };
    let valid = matches(row.as_ref().map(|r| r.0.clone()), secret);
    Ok(row
        .filter(|(_, expires, used, ..)| valid && used.is_none() && *expires >= now_ms())
        .map(|(_, _, _, claimed, quotas)| (quotas, claimed)))
}

/// Inserts a clinic's row (its token's hash, parameters, key id and keys, created now) inside
/// the caller's transaction; its id.
fn insert_clinic_row(
    c: &mut dyn Conn,
    token_hash: &[u8],
    params: &str,
    key_id: u64,
    server_key: &[u8],
    casting_key: &[u8],
) -> Result<i64> {
    c.query_int(
        "INSERT INTO clinics (token_hash, params, key_id, server_key, casting_key, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        params![
            token_hash,
            params,
            key_id as i64,
            server_key,
            casting_key,
            now_ms() / 1000
        ],
    )
}

/// The tables of jobs that workers claim under leases.
const LEASED_TABLES: [&str; 3] = ["readings", "records", "cohorts"];

/// A clinic's quotas, set by its enrollment token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Devices not revoked.
    pub max_devices: u64,
    /// Readings accepted per second (a bucket of two seconds' worth).
    pub readings_per_second: u64,
    /// Bytes of readings and records stored.
    pub max_stored_bytes: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            max_devices: 10_000,
            readings_per_second: 100,
            max_stored_bytes: 10 << 30,
        }
    }
}

type Result<T> = std::result::Result<T, StoreError>;

/// The state of a job (a reading, a record, a cohort request), column `state` of its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Stored, not yet computed (0).
    Pending,
    /// Computed; its result is stored (1).
    Done,
    /// Failed for good after its attempts (2).
    Failed,
}

impl JobState {
    /// The column's value.
    pub const fn code(self) -> i64 {
        match self {
            JobState::Pending => 0,
            JobState::Done => 1,
            JobState::Failed => 2,
        }
    }

    /// The state of a column's value.
    pub fn from_code(code: i64) -> Result<Self> {
        match code {
            0 => Ok(JobState::Pending),
            1 => Ok(JobState::Done),
            2 => Ok(JobState::Failed),
            n => Err(StoreError::Inconsistent(format!("job state {n}"))),
        }
    }
}

/// A registered clinic, as the store holds it.
pub struct ClinicRow {
    pub id: i64,
    pub params: String,
    pub key_id: u64,
    pub server_key: Vec<u8>,
    /// The compressed casting key (absent for a clinic registered before schema 3).
    pub casting_key: Option<Vec<u8>>,
    pub quotas: Quotas,
}

/// The database behind a [`Store`].
enum Db {
    /// One connection behind a lock (SQLite serializes writers anyway).
    Sqlite(Mutex<Connection>),
    /// A pool of connections.
    Postgres(PgPool),
}

/// A pool of PostgreSQL connections, dropped on a thread of its own: a blocking client closes
/// its connection by running a runtime of its own, which cannot be done on an async runtime's
/// thread (where a server's state may be dropped).
struct PgPool(Option<r2d2::Pool<sql::PgManager>>, postgres::Config);

impl std::ops::Deref for PgPool {
    type Target = r2d2::Pool<sql::PgManager>;
    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("the pool lives until dropped")
    }
}

impl Drop for PgPool {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

/// The store: SQLite or PostgreSQL ([`Database`]), the same tables and behaviour on both.
pub struct Store {
    db: Db,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// SHA-256 of a token's secret part.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Applies the migrations from the version found to this build's (the caller holds the write
/// lock).
fn migrate(conn: &Connection) -> Result<()> {
    let migrations = [
        schema::SCHEMA_V1,
        schema::SCHEMA_V2,
        schema::SCHEMA_V3,
        schema::SCHEMA_V4,
        schema::SCHEMA_V5,
        schema::SCHEMA_V6,
        schema::SCHEMA_V7,
    ];
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found: version });
    }
    for (i, m) in migrations.iter().enumerate().skip(version as usize) {
        conn.execute_batch(m)?;
        conn.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    Ok(())
}

/// How many times a PostgreSQL transaction that met a serialization failure is run again.
const SERIALIZATION_RETRIES: u32 = 32;

impl Store {
    /// Opens `database` ([`Self::open`] for SQLite, [`Self::connect`] for PostgreSQL).
    pub fn open_database(database: &Database) -> Result<Self> {
        match database {
            Database::Sqlite(path) => Self::open(path),
            Database::Postgres(url) => Self::connect(url),
        }
    }

    /// Opens (creating or migrating) the SQLite database at `path`. Another process setting
    /// up the same new database at the same moment (a server and `glovebox serve enroll`) is
    /// waited for, up to 10 s: SQLite answers "busy" at once to a journal-mode switch.
    pub fn open(path: &Path) -> Result<Self> {
        let begin = std::time::Instant::now();
        loop {
            match Self::open_once(path) {
                Err(StoreError::Sqlite(e))
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && begin.elapsed() < std::time::Duration::from_secs(10) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew { found: version });
        }
        if version < SCHEMA_VERSION {
            // Under the write lock, the version read again: two processes that open a new
            // database at once migrate it once (the second waits, then finds it done).
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let migrated = migrate(&conn);
            conn.execute_batch(if migrated.is_ok() {
                "COMMIT"
            } else {
                "ROLLBACK"
            })?;
            migrated?;
        }
        // On only now: a migration may rebuild a table (SQLite's way needs them off).
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(Self {
            db: Db::Sqlite(Mutex::new(conn)),
        })
    }

    /// Connects to the PostgreSQL database `url` (a pool of up to 16 connections), creating
    /// or migrating its tables. Processes that start on a new database at once (API servers,
    /// workers) create them once: the migration holds an advisory lock.
    pub fn connect(url: &str) -> Result<Self> {
        let mut config: postgres::Config = url.parse()?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(1));
        }
        let pool = r2d2::Pool::builder()
            .max_size(16)
            .min_idle(Some(1))
            // A request waits at most a second for a connection: PostgreSQL down is a 503
            // (retry) soon, not a hung request.
            .connection_timeout(std::time::Duration::from_secs(1))
            // No round trip before every use: a connection that broke (a restart) fails its
            // request (a 503, or a worker's transient error) and leaves the pool.
            .test_on_check_out(false)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(sql::PgManager {
                config: config.clone(),
            })
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let store = Self {
            db: Db::Postgres(PgPool(Some(pool), config)),
        };
        // Read committed: each statement sees what was committed before it, so a process that
        // waited for the lock finds the tables the one before it created.
        store.write_read_committed(|c| {
            // Any constant key of this application's: one migration at a time.
            c.execute("SELECT pg_advisory_xact_lock(7136353)", params![])?;
            c.execute(
                "CREATE TABLE IF NOT EXISTS glovebox_schema (version BIGINT NOT NULL)",
                params![],
            )?;
            let found = c
                .query_opt("SELECT version FROM glovebox_schema", params![])?
                .map(|r| r.int(0))
                .transpose()?;
            match found {
                Some(v) if v > SCHEMA_VERSION => Err(StoreError::SchemaTooNew { found: v }),
                Some(v) if v == SCHEMA_VERSION => Ok(()),
                Some(v) => Err(StoreError::Inconsistent(format!(
                    "PostgreSQL schema version {v}: this build creates version \
                     {SCHEMA_VERSION} and has no migration from an older one"
                ))),
                None => {
                    for statement in schema::POSTGRES.split(';').filter(|s| !s.trim().is_empty()) {
                        c.execute(statement, params![])?;
                    }
                    c.execute(
                        "INSERT INTO glovebox_schema (version) VALUES (?1)",
                        params![SCHEMA_VERSION],
                    )?;
                    Ok(())
                }
            }
        })?;
        Ok(store)
    }

    /// A new worker's name for its leases: the process id and 64 random bits.
    pub fn new_lease_owner() -> String {
        format!("w{}-{:016x}", std::process::id(), rand::random::<u64>())
    }

    /// Listens to the shared store's notifications on a connection of its own, calling
    /// `woken` with each one's channel, until `stopped` (checked twice a second). Returns at
    /// once on SQLite (one process: its wake-ups are in memory); fails when the connection
    /// does (the caller listens again).
    pub fn listen(&self, woken: &dyn Fn(&str), stopped: &dyn Fn() -> bool) -> Result<()> {
        let Db::Postgres(pool) = &self.db else {
            return Ok(());
        };
        let mut client = pool.1.connect(postgres::NoTls)?;
        client.batch_execute(&format!("LISTEN {JOBS_CHANNEL}; LISTEN {RESULTS_CHANNEL};"))?;
        while !stopped() {
            {
                let mut notifications = client.notifications();
                let mut it = notifications.timeout_iter(std::time::Duration::from_millis(500));
                while let Some(n) = postgres::fallible_iterator::FallibleIterator::next(&mut it)? {
                    woken(n.channel());
                }
            }
            if client.is_closed() {
                return Err(StoreError::Unavailable(
                    "the listening connection closed".into(),
                ));
            }
        }
        Ok(())
    }

    /// Whether this store is PostgreSQL (shared by several processes).
    pub fn is_shared(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    fn pg(pool: &r2d2::Pool<sql::PgManager>) -> Result<r2d2::PooledConnection<sql::PgManager>> {
        pool.get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Runs `f` on a connection, each statement on its own (reads, and single statements).
    fn read<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        match &self.db {
            Db::Sqlite(conn) => {
                let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
                f(&mut &*conn)
            }
            Db::Postgres(pool) => {
                let mut pooled = Self::pg(pool)?;
                let sql::PgConnection { client, statements } = &mut *pooled;
                f(&mut sql::PgConn { client, statements })
            }
        }
    }

    /// Runs `f` in one transaction, committed when it returns `Ok` (rolled back otherwise).
    /// On PostgreSQL the transaction is `SERIALIZABLE`, as if it ran alone (SQLite's are), and
    /// runs again, from the start, when it meets a serialization failure.
    fn write<T>(&self, f: impl FnMut(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.transaction(postgres::IsolationLevel::Serializable, f)
    }

    /// [`Self::write`] at PostgreSQL's `READ COMMITTED`, for the hot paths (readings in,
    /// alerts out) whose statements are each atomic on their own: a conditional update, an
    /// insert that does nothing on conflict. Writers of one clinic's rows then wait for each
    /// other's row locks instead of failing and running again.
    fn write_read_committed<T>(&self, f: impl FnMut(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.transaction(postgres::IsolationLevel::ReadCommitted, f)
    }

    fn transaction<T>(
        &self,
        isolation: postgres::IsolationLevel,
        mut f: impl FnMut(&mut dyn Conn) -> Result<T>,
    ) -> Result<T> {
        match &self.db {
            Db::Sqlite(conn) => {
                let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
                let tx = conn.transaction()?;
                let out = f(&mut &*tx)?;
                tx.commit()?;
                Ok(out)
            }
            Db::Postgres(pool) => {
                let mut attempt = 0u32;
                loop {
                    let mut pooled = Self::pg(pool)?;
                    let sql::PgConnection { client, statements } = &mut *pooled;
                    let run = (|| {
                        let mut tx = client
                            .build_transaction()
                            .isolation_level(isolation)
                            .start()?;
                        let out = f(&mut sql::PgConn {
                            client: &mut tx,
                            statements,
                        })?;
                        tx.commit()?;
                        Ok(out)
                    })();
                    match run {
                        Err(e) if sql::is_retryable(&e) && attempt < SERIALIZATION_RETRIES => {
                            attempt += 1;
                            // Jittered, so that the writers that collided do not collide again.
                            let ms = rand::random::<u64>() % (1u64 << attempt.min(7)) + 1;
                            std::thread::sleep(std::time::Duration::from_millis(ms));
                        }
                        other => return other,
                    }
                }
            }
        }
    }

    /// A new enrollment token's row (its secret hashed): valid until `expires_ms` (ms since the
    /// epoch), used once, giving its clinic `quotas`. Returns its id.
    pub fn create_enrollment(&self, secret: &str, expires_ms: i64, quotas: Quotas) -> Result<i64> {
        let hash = hash_secret(secret);
        self.write(|c| {
            c.query_int(
                "INSERT INTO enrollments (token_hash, created, expires, max_devices,
                                          readings_per_second, max_stored_bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                params![
                    &hash,
                    now_ms(),
                    expires_ms,
                    quotas.max_devices as i64,
                    quotas.readings_per_second as i64,
                    quotas.max_stored_bytes as i64
                ],
            )
        })
    }

    /// Registers a clinic with enrollment token `enrollment` (`(id, secret)`), in one
    /// transaction: the token must match (constant time), be unused and unexpired; it is
    /// marked used by the new clinic, which gets its quotas. `None` when the token is refused
    /// (nothing stored).
    #[allow(clippy::too_many_arguments)]
    pub fn register_clinic(
        &self,
        enrollment: (i64, &str),
        secret: &str,
        params: &str,
        key_id: u64,
        server_key: &[u8],
        casting_key: &[u8],
    ) -> Result<Option<i64>> {
        let hash = hash_secret(secret);
        self.write(|c| {
            let Some((quotas, _)) = usable_enrollment(c, enrollment.0, enrollment.1)? else {
                return Ok(None);
            };
            let id = insert_clinic_row(c, &hash, params, key_id, server_key, casting_key)?;
            c.execute(
                "INSERT INTO clinic_quotas (clinic_id, max_devices, readings_per_second,
                                            max_stored_bytes)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    id,
                    quotas.max_devices as i64,
                    quotas.readings_per_second as i64,
                    quotas.max_stored_bytes as i64
                ],
            )?;
            c.execute(
                "UPDATE enrollments SET used_by = ?1 WHERE id = ?2",
                params![id, enrollment.0],
            )?;
            pause_point("registration-commit");
            Ok(Some(id))
        })
    }

    /// The quotas enrollment token `id.secret` gives, if it would register a clinic now (it
    /// matches, in constant time, and is unused and unexpired). [`Self::register_clinic`]
    /// checks again in its transaction.
    pub fn enrollment_quotas(&self, id: i64, secret: &str) -> Result<Option<Quotas>> {
        self.read(|c| Ok(usable_enrollment(c, id, secret)?.map(|(quotas, _)| quotas)))
    }

    /// Claims enrollment token `id.secret` for one registration while its keys expand: true
    /// when it matches (constant time), is unused, unexpired, and not claimed by another
    /// registration (a claim older than five minutes, left by a killed process, has lapsed).
    pub fn claim_enrollment(&self, id: i64, secret: &str) -> Result<bool> {
        self.write(|c| {
            let now = now_ms();
            let free = usable_enrollment(c, id, secret)?
                .is_some_and(|(_, claimed)| claimed.is_none_or(|t| t < now - 300_000));
            if free {
                c.execute(
                    "UPDATE enrollments SET claimed = ?1 WHERE id = ?2",
                    params![now, id],
                )?;
            }
            Ok(free)
        })
    }

    /// Releases every claim: a claim lives only while its registration runs in this server,
    /// so one found at start of a server that owns its store (SQLite) was left by a killed
    /// process. A shared store (PostgreSQL) keeps them: another API server's registration may
    /// hold one; a dead server's lapses after five minutes.
    pub fn release_all_claims(&self) -> Result<()> {
        if self.is_shared() {
            return Ok(());
        }
        self.write(|c| {
            c.execute(
                "UPDATE enrollments SET claimed = NULL WHERE used_by IS NULL",
                params![],
            )?;
            // The same for the leases of readings: the worker that held them was this store's
            // only one, killed.
            for table in LEASED_TABLES {
                c.execute(
                    &format!(
                        "UPDATE {table} SET lease_owner = NULL, lease_until = NULL
                         WHERE lease_owner IS NOT NULL"
                    ),
                    params![],
                )?;
            }
            // And the list of live workers: this server's was the only one.
            c.execute("DELETE FROM workers", params![])?;
            Ok(())
        })
    }

    /// Releases a registration's claim on an enrollment token (the registration failed).
    pub fn release_enrollment(&self, id: i64) -> Result<()> {
        self.read(|c| {
            c.execute(
                "UPDATE enrollments SET claimed = NULL WHERE id = ?1 AND used_by IS NULL",
                params![id],
            )
            .map(|_| ())
        })
    }

    /// Replaces a clinic's token (the old one is refused from now on).
    pub fn rotate_clinic_token(&self, clinic_id: i64, secret: &str) -> Result<()> {
        let hash = hash_secret(secret);
        self.read(|c| {
            c.execute(
                "UPDATE clinics SET token_hash = ?1 WHERE id = ?2",
                params![&hash, clinic_id],
            )
            .map(|_| ())
        })
    }

    /// Revokes one of a clinic's devices (its token is refused; what it posted stays).
    /// `false` when the clinic has no such device.
    pub fn revoke_device(&self, clinic_id: i64, device_id: i64) -> Result<bool> {
        self.read(|c| {
            Ok(c.execute(
                "UPDATE devices SET revoked = 1 WHERE id = ?1 AND clinic_id = ?2",
                params![device_id, clinic_id],
            )? == 1)
        })
    }

    /// Replaces the token of one of a clinic's devices (not revoked). `false` when the clinic
    /// has no such device.
    pub fn rotate_device_token(
        &self,
        clinic_id: i64,
        device_id: i64,
        secret: &str,
    ) -> Result<bool> {
        let hash = hash_secret(secret);
        self.read(|c| {
            Ok(c.execute(
                "UPDATE devices SET token_hash = ?1
                 WHERE id = ?2 AND clinic_id = ?3 AND revoked = 0",
                params![&hash, device_id, clinic_id],
            )? == 1)
        })
    }

    /// Registers a clinic directly (tests, and stores prepared by hand), with the default
    /// quotas; returns its id.
    pub fn insert_clinic(
        &self,
        secret: &str,
        params: &str,
        key_id: u64,
        server_key: &[u8],
        casting_key: &[u8],
    ) -> Result<i64> {
        let hash = hash_secret(secret);
        self.write(|c| {
            let id = insert_clinic_row(c, &hash, params, key_id, server_key, casting_key)?;
            c.execute(
                "INSERT INTO clinic_quotas (clinic_id) VALUES (?1)",
                params![id],
            )?;
            Ok(id)
        })
    }

    /// The clinic whose token is `id.secret`, if the secret matches (constant time).
    pub fn authenticate_clinic(&self, id: i64, secret: &str) -> Result<bool> {
        let stored = self.read(|c| {
            c.query_opt("SELECT token_hash FROM clinics WHERE id = ?1", params![id])?
                .map(|r| r.blob(0))
                .transpose()
        })?;
        Ok(matches(stored, secret))
    }

    /// The device whose token is `id.secret`: its clinic, if the secret matches.
    pub fn authenticate_device(&self, id: i64, secret: &str) -> Result<Option<i64>> {
        let row = self.read(|c| {
            c.query_opt(
                "SELECT token_hash, clinic_id FROM devices WHERE id = ?1 AND revoked = 0",
                params![id],
            )?
            .map(|r| Ok((r.blob(0)?, r.int(1)?)))
            .transpose()
        })?;
        Ok(row.and_then(|(hash, clinic)| matches(Some(hash), secret).then_some(clinic)))
    }

    pub fn clinic(&self, id: i64) -> Result<Option<ClinicRow>> {
        self.read(|c| {
            c.query_opt(
                "SELECT c.id, c.params, c.key_id, c.server_key, c.casting_key, q.max_devices,
                        q.readings_per_second, q.max_stored_bytes
                 FROM clinics c JOIN clinic_quotas q ON q.clinic_id = c.id WHERE c.id = ?1",
                params![id],
            )?
            .map(|r| {
                Ok(ClinicRow {
                    id: r.int(0)?,
                    params: r.text(1)?,
                    key_id: r.int(2)? as u64,
                    server_key: r.blob(3)?,
                    casting_key: r.opt_blob(4)?,
                    quotas: quotas_at(&r, 5)?,
                })
            })
            .transpose()
        })
    }

    /// Clinics registered.
    pub fn clinic_count(&self) -> Result<u64> {
        self.read(|c| Ok(c.query_int("SELECT COUNT(*) FROM clinics", params![])? as u64))
    }

    /// Adds a device (a patient's wearable) to a clinic, within its device quota (devices not
    /// revoked); returns its id.
    pub fn insert_device(&self, clinic_id: i64, patient: &str, secret: &str) -> Result<i64> {
        let hash = hash_secret(secret);
        self.write(|c| {
            let row = c.query_one(
                "SELECT (SELECT COUNT(*) FROM devices WHERE clinic_id = ?1 AND revoked = 0),
                        max_devices FROM clinic_quotas WHERE clinic_id = ?1",
                params![clinic_id],
            )?;
            let (devices, max) = (row.int(0)?, row.int(1)?);
            if devices >= max {
                return Err(StoreError::Quota(format!(
                    "the clinic has {devices} devices, its quota"
                )));
            }
            c.query_int(
                "INSERT INTO devices (clinic_id, patient, token_hash) VALUES (?1, ?2, ?3)
                 RETURNING id",
                params![clinic_id, patient, &hash],
            )
        })
    }

    /// Adds `bytes` to what a clinic stores, within its quota (inside the caller's
    /// transaction): one conditional update, atomic on either database.
    fn charge(c: &mut dyn Conn, clinic_id: i64, bytes: usize) -> Result<()> {
        let bytes = bytes as i64;
        let charged = c.execute(
            "UPDATE clinic_quotas SET stored_bytes = stored_bytes + ?1
             WHERE clinic_id = ?2 AND stored_bytes + ?1 <= max_stored_bytes",
            params![bytes, clinic_id],
        )?;
        if charged == 1 {
            return Ok(());
        }
        let row = c.query_one(
            "SELECT stored_bytes, max_stored_bytes FROM clinic_quotas WHERE clinic_id = ?1",
            params![clinic_id],
        )?;
        let (stored, max) = (row.int(0)?, row.int(1)?);
        Err(StoreError::Quota(format!(
            "the clinic stores {stored} bytes of its {max}; {bytes} more do not fit"
        )))
    }

    /// Runs `f` on the SQLite connection (the migration test).
    #[cfg(test)]
    fn sqlite<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        match &self.db {
            Db::Sqlite(conn) => f(&conn.lock().unwrap()),
            Db::Postgres(_) => panic!("not SQLite"),
        }
    }
}

/// Constant-time comparison of a stored hash with a presented secret's.
fn matches(stored: Option<Vec<u8>>, secret: &str) -> bool {
    // Hash even when there is no row, so a wrong id costs the same as a wrong secret.
    let presented = hash_secret(secret);
    match stored {
        Some(hash) => bool::from(hash.ct_eq(&presented)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written by schema 2 (a clinic, a device, readings, two records of a
    /// series) migrates to this build's: every row kept, the records table rebuilt with its
    /// versions, the clinic given default quotas, and its stored readings still pending.
    #[test]
    fn a_schema_2_database_migrates_with_its_rows() {
        let path = std::env::temp_dir().join(format!(
            "glovebox-migrate-{}-{:?}.sqlite",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&path);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(schema::SCHEMA_V1).unwrap();
            conn.execute_batch(schema::SCHEMA_V2).unwrap();
            conn.execute_batch(
                "INSERT INTO clinics (token_hash, params, key_id, server_key, created)
                     VALUES (x'00', 'TEST_PARAMS_INSECURE', 7, x'0102', 0);
                 INSERT INTO devices (clinic_id, patient, token_hash) VALUES (1, 'p', x'00');
                 INSERT INTO readings (device_id, seq, clinic_id, body) VALUES (1, 0, 1, x'aa');
                 INSERT INTO records (clinic_id, patient, test, date, change_threshold,
                                      mean_window, value, state)
                     VALUES (1, 'p', 'glucose', '2026-01-01', 10, 3, x'bb', 1),
                            (1, 'p', 'glucose', '2026-01-02', 10, 3, x'cc', 0);
                 PRAGMA user_version = 2;",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        store.sqlite(|conn| {
            let version: i64 = conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap();
            assert_eq!(version, SCHEMA_VERSION);
            let records: Vec<(String, i64, i64, i64)> = conn
                .prepare("SELECT date, state, version, superseded FROM records ORDER BY id")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert_eq!(
                records,
                [
                    ("2026-01-01".to_string(), 1, 1, 0),
                    ("2026-01-02".to_string(), 0, 1, 0)
                ]
            );
            let quotas: i64 = conn
                .query_row(
                    "SELECT max_devices FROM clinic_quotas WHERE clinic_id = 1",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(quotas, Quotas::default().max_devices as i64);
        });
        assert_eq!(store.counts().unwrap(), (1, 1, 0));
        // Foreign keys hold after the rebuild: an analysis of a missing record is refused.
        assert!(store.sqlite(|conn| conn
            .execute(
                "INSERT INTO analyses (clinic_id, record_id, mean_window) VALUES (1, 99, 3)",
                []
            )
            .is_err()));
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}
