//! The store's tables, version by version; [`super::Store::open`] applies the migrations from
//! the version it finds (`PRAGMA user_version`) to this build's, each in one transaction.

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 7;

pub(super) const SCHEMA_V1: &str = "
CREATE TABLE clinics (
    id INTEGER PRIMARY KEY,
    token_hash BLOB NOT NULL,
    params TEXT NOT NULL,
    key_id INTEGER NOT NULL,
    server_key BLOB NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE devices (
    id INTEGER PRIMARY KEY,
    clinic_id INTEGER NOT NULL REFERENCES clinics(id),
    patient TEXT NOT NULL,
    token_hash BLOB NOT NULL
);
CREATE TABLE readings (
    device_id INTEGER NOT NULL REFERENCES devices(id),
    seq INTEGER NOT NULL,
    clinic_id INTEGER NOT NULL REFERENCES clinics(id),
    body BLOB NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, seq)
);
CREATE INDEX readings_pending ON readings(state, device_id, seq);
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id INTEGER NOT NULL REFERENCES clinics(id),
    device_id INTEGER NOT NULL REFERENCES devices(id),
    seq INTEGER NOT NULL,
    flags BLOB NOT NULL,
    UNIQUE (device_id, seq)
);
CREATE INDEX alerts_by_clinic ON alerts(clinic_id, id);
";

/// Version 2: lab records and their analyses, cohort jobs.
pub(super) const SCHEMA_V2: &str = "
ALTER TABLE readings ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE readings ADD COLUMN error TEXT;
ALTER TABLE readings ADD COLUMN received INTEGER NOT NULL DEFAULT 0;
CREATE TABLE records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id INTEGER NOT NULL REFERENCES clinics(id),
    patient TEXT NOT NULL,
    test TEXT NOT NULL,
    date TEXT NOT NULL,
    change_threshold INTEGER NOT NULL,
    mean_window INTEGER NOT NULL,
    value BLOB NOT NULL,
    running_max BLOB,
    state INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    UNIQUE (clinic_id, patient, test, date)
);
CREATE INDEX records_series ON records(clinic_id, patient, test, id);
CREATE INDEX records_pending ON records(state, id);
CREATE TABLE analyses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id INTEGER NOT NULL REFERENCES clinics(id),
    record_id INTEGER NOT NULL UNIQUE REFERENCES records(id),
    mean_window INTEGER NOT NULL,
    body BLOB
);
CREATE INDEX analyses_by_clinic ON analyses(clinic_id, id);
CREATE TABLE cohorts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id INTEGER NOT NULL REFERENCES clinics(id),
    test TEXT NOT NULL,
    threshold INTEGER NOT NULL,
    as_of INTEGER NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    patients INTEGER,
    body BLOB
);
";

/// Version 3: each clinic's compressed casting key (its devices encrypt under its public key;
/// the server casts their readings with it). Clinics registered before have none, and their
/// readings cannot be cast: they register again.
pub(super) const SCHEMA_V3: &str = "
ALTER TABLE clinics ADD COLUMN casting_key BLOB;
";

/// Version 4: who may register (enrollment tokens the operator makes, each used once), each
/// clinic's quotas (devices, readings per second, stored bytes) and the bytes it stores, and
/// revoked devices. The quotas have a table of their own: a `clinics` row holds its keys
/// (29 MiB on the default set), and SQLite reads, and rewrites on an update, every overflow
/// page of a row to reach a column stored after them.
pub(super) const SCHEMA_V4: &str = "
CREATE TABLE enrollments (
    id INTEGER PRIMARY KEY,
    token_hash BLOB NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    used_by INTEGER REFERENCES clinics(id),
    claimed INTEGER,
    max_devices INTEGER NOT NULL,
    readings_per_second INTEGER NOT NULL,
    max_stored_bytes INTEGER NOT NULL
);
CREATE TABLE clinic_quotas (
    clinic_id INTEGER PRIMARY KEY REFERENCES clinics(id),
    max_devices INTEGER NOT NULL DEFAULT 10000,
    readings_per_second INTEGER NOT NULL DEFAULT 100,
    max_stored_bytes INTEGER NOT NULL DEFAULT 10737418240,
    stored_bytes INTEGER NOT NULL DEFAULT 0
);
INSERT INTO clinic_quotas (clinic_id, stored_bytes)
    SELECT id,
           COALESCE((SELECT SUM(length(body)) FROM readings WHERE clinic_id = clinics.id), 0)
         + COALESCE((SELECT SUM(length(value)) FROM records WHERE clinic_id = clinics.id), 0)
    FROM clinics;
ALTER TABLE devices ADD COLUMN revoked INTEGER NOT NULL DEFAULT 0;
";

/// Version 5: a reading that failed for good leaves an alert row with its reason (and empty
/// flags), so the failure reaches the clinic in its stream.
pub(super) const SCHEMA_V5: &str = "
ALTER TABLE alerts ADD COLUMN error TEXT;
";

/// Version 6: record versions. A record for a (patient, test, date) already stored with
/// another value is a new version of it: the table is rebuilt without the old
/// `UNIQUE (clinic_id, patient, test, date)`, each row gets its `version` and whether a later
/// version `superseded` it (run with foreign keys off, as SQLite's table rebuild requires).
pub(super) const SCHEMA_V6: &str = "
CREATE TABLE records_v6 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id INTEGER NOT NULL REFERENCES clinics(id),
    patient TEXT NOT NULL,
    test TEXT NOT NULL,
    date TEXT NOT NULL,
    change_threshold INTEGER NOT NULL,
    mean_window INTEGER NOT NULL,
    value BLOB NOT NULL,
    running_max BLOB,
    state INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    superseded INTEGER NOT NULL DEFAULT 0,
    UNIQUE (clinic_id, patient, test, date, version)
);
INSERT INTO records_v6 (id, clinic_id, patient, test, date, change_threshold, mean_window,
                        value, running_max, state, attempts, error)
    SELECT id, clinic_id, patient, test, date, change_threshold, mean_window, value,
           running_max, state, attempts, error FROM records;
DROP TABLE records;
ALTER TABLE records_v6 RENAME TO records;
CREATE INDEX records_series ON records(clinic_id, patient, test, id);
CREATE INDEX records_pending ON records(state, id);
";

/// Version 7: leases. A worker claims a pending job (a reading, a record, a cohort request)
/// for a while (`lease_owner`, `lease_until`, ms since the epoch) and extends the lease while
/// it computes; its commit checks that it still holds it. A worker that died lets its leases
/// expire, and another claims the jobs. Live workers are listed with their last heartbeat
/// (`workers`), so that each claims its share of the devices.
pub(super) const SCHEMA_V7: &str = "
ALTER TABLE readings ADD COLUMN lease_owner TEXT;
ALTER TABLE readings ADD COLUMN lease_until INTEGER;
ALTER TABLE records ADD COLUMN lease_owner TEXT;
ALTER TABLE records ADD COLUMN lease_until INTEGER;
ALTER TABLE cohorts ADD COLUMN lease_owner TEXT;
ALTER TABLE cohorts ADD COLUMN lease_until INTEGER;
CREATE TABLE workers (
    owner TEXT PRIMARY KEY,
    seen INTEGER NOT NULL
);
";

/// PostgreSQL's tables: this build's schema (version [`SCHEMA_VERSION`]) as one script, the
/// same tables, columns and constraints as SQLite's after its migrations (64-bit integers,
/// `BYTEA` for SQLite's blobs, identity columns for its row ids). Statements are separated
/// by `;` and run in one transaction by [`super::Store::connect`].
pub(super) const POSTGRES: &str = "
CREATE TABLE clinics (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    token_hash BYTEA NOT NULL,
    params TEXT NOT NULL,
    key_id BIGINT NOT NULL,
    server_key BYTEA NOT NULL,
    created BIGINT NOT NULL,
    casting_key BYTEA
);
CREATE TABLE devices (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    clinic_id BIGINT NOT NULL REFERENCES clinics(id),
    patient TEXT NOT NULL,
    token_hash BYTEA NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE readings (
    device_id BIGINT NOT NULL REFERENCES devices(id),
    seq BIGINT NOT NULL,
    clinic_id BIGINT NOT NULL REFERENCES clinics(id),
    body BYTEA NOT NULL,
    state BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    received BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    PRIMARY KEY (device_id, seq)
);
CREATE INDEX readings_pending ON readings(state, device_id, seq);
CREATE TABLE alerts (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    clinic_id BIGINT NOT NULL REFERENCES clinics(id),
    device_id BIGINT NOT NULL REFERENCES devices(id),
    seq BIGINT NOT NULL,
    flags BYTEA NOT NULL,
    error TEXT,
    UNIQUE (device_id, seq)
);
CREATE INDEX alerts_by_clinic ON alerts(clinic_id, id);
CREATE TABLE records (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    clinic_id BIGINT NOT NULL REFERENCES clinics(id),
    patient TEXT NOT NULL,
    test TEXT NOT NULL,
    date TEXT NOT NULL,
    change_threshold BIGINT NOT NULL,
    mean_window BIGINT NOT NULL,
    value BYTEA NOT NULL,
    running_max BYTEA,
    state BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    superseded BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    UNIQUE (clinic_id, patient, test, date, version)
);
CREATE INDEX records_series ON records(clinic_id, patient, test, id);
CREATE INDEX records_pending ON records(state, id);
CREATE TABLE analyses (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    clinic_id BIGINT NOT NULL REFERENCES clinics(id),
    record_id BIGINT NOT NULL UNIQUE REFERENCES records(id),
    mean_window BIGINT NOT NULL,
    body BYTEA
);
CREATE INDEX analyses_by_clinic ON analyses(clinic_id, id);
CREATE TABLE cohorts (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    clinic_id BIGINT NOT NULL REFERENCES clinics(id),
    test TEXT NOT NULL,
    threshold BIGINT NOT NULL,
    as_of BIGINT NOT NULL,
    state BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    patients BIGINT,
    body BYTEA,
    lease_owner TEXT,
    lease_until BIGINT
);
CREATE TABLE enrollments (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    token_hash BYTEA NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    used_by BIGINT REFERENCES clinics(id),
    claimed BIGINT,
    max_devices BIGINT NOT NULL,
    readings_per_second BIGINT NOT NULL,
    max_stored_bytes BIGINT NOT NULL
);
CREATE TABLE workers (
    owner TEXT PRIMARY KEY,
    seen BIGINT NOT NULL
);
CREATE TABLE clinic_quotas (
    clinic_id BIGINT PRIMARY KEY REFERENCES clinics(id),
    max_devices BIGINT NOT NULL DEFAULT 10000,
    readings_per_second BIGINT NOT NULL DEFAULT 100,
    max_stored_bytes BIGINT NOT NULL DEFAULT 10737418240,
    stored_bytes BIGINT NOT NULL DEFAULT 0
);
";
