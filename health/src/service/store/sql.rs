//! The store's two databases behind one narrow interface: SQLite (bundled, the embedded
//! default) and PostgreSQL (the shared store of a scaled-out service).
//!
//! The store's SQL is written once, in the dialect both accept: numbered parameters `?N`
//! (rewritten to PostgreSQL's `$N`), `RETURNING id` for a new row's id, `ON CONFLICT DO
//! NOTHING` for an idempotent insert, 64-bit integers, byte strings and text only (no `SUM`,
//! whose PostgreSQL type is `numeric`). Parameters are [`Param`]s, borrowed; rows come back as
//! [`Row`]s of owned values with typed getters that fail with
//! [`StoreError::Inconsistent`] on a type the column should not have.
//!
//! Transactions: SQLite has one writer, so its transactions are serial. PostgreSQL's run at
//! `SERIALIZABLE`, so several API servers and workers see the same behaviour; a transaction
//! that meets a serialization failure is run again from the start ([`Store::write`]).

use super::{Result, StoreError};
use std::collections::HashMap;

/// A parameter of a statement, borrowed from the caller.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Param<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<u16> for Param<'_> {
    fn from(v: u16) -> Self {
        Param::Int(v.into())
    }
}

impl From<u32> for Param<'_> {
    fn from(v: u32) -> Self {
        Param::Int(v.into())
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Param::Blob(v)
    }
}

impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Param::Blob(v)
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().map_or(Param::Null, Param::Text)
    }
}

impl<'a> From<&'a Option<Vec<u8>>> for Param<'a> {
    fn from(v: &'a Option<Vec<u8>>) -> Self {
        v.as_deref().map_or(Param::Null, Param::Blob)
    }
}

impl From<super::JobState> for Param<'_> {
    fn from(v: super::JobState) -> Self {
        Param::Int(v.code())
    }
}

/// A statement's parameters: `params![a, b, c]`, each converted with [`Param::from`].
macro_rules! params {
    ($($p:expr),* $(,)?) => {
        &[$($crate::service::store::sql::Param::from($p)),*][..]
    };
}
pub(crate) use params;

/// A value read from a row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// A row of a query's result.
#[derive(Debug)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    fn column(&self, i: usize) -> Result<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Inconsistent(format!("no column {i}")))
    }

    fn mismatch(&self, i: usize, what: &str) -> StoreError {
        StoreError::Inconsistent(format!("column {i} is not {what}: {:?}", self.0.get(i)))
    }

    /// Column `i` as a 64-bit integer.
    pub(crate) fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .ok_or_else(|| self.mismatch(i, "an integer"))
    }

    /// Column `i` as an integer or NULL.
    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.column(i)? {
            Value::Int(v) => Ok(Some(*v)),
            Value::Null => Ok(None),
            _ => Err(self.mismatch(i, "an integer")),
        }
    }

    /// Column `i` as an integer that fits `T` (a `u16` threshold, a `u64` sequence number).
    pub(crate) fn int_as<T: TryFrom<i64>>(&self, i: usize) -> Result<T> {
        let v = self.int(i)?;
        T::try_from(v).map_err(|_| self.mismatch(i, "in range"))
    }

    /// Column `i` as text.
    pub(crate) fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?.ok_or_else(|| self.mismatch(i, "text"))
    }

    /// Column `i` as text or NULL.
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.column(i)? {
            Value::Text(v) => Ok(Some(v.clone())),
            Value::Null => Ok(None),
            _ => Err(self.mismatch(i, "text")),
        }
    }

    /// Column `i` as bytes.
    pub(crate) fn blob(&self, i: usize) -> Result<Vec<u8>> {
        self.opt_blob(i)?.ok_or_else(|| self.mismatch(i, "bytes"))
    }

    /// Column `i` as bytes or NULL.
    pub(crate) fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>> {
        match self.column(i)? {
            Value::Blob(v) => Ok(Some(v.clone())),
            Value::Null => Ok(None),
            _ => Err(self.mismatch(i, "bytes")),
        }
    }
}

/// A connection, or a transaction on one: what the store's functions run their SQL on.
pub(crate) trait Conn {
    /// Runs a statement; the rows it changed.
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64>;
    /// Runs a query; its rows.
    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>>;
    /// Whether this is PostgreSQL (several writers at once) rather than SQLite (one).
    fn is_postgres(&self) -> bool;

    /// The locking clause of a claim's subquery over the job table aliased `r`: on
    /// PostgreSQL, `FOR UPDATE OF r SKIP LOCKED` (rows another worker's claim has locked are
    /// skipped, and the claimed row's own conditions are checked again once locked); nothing
    /// on SQLite, whose single writer serializes claims.
    fn claim_lock(&self) -> &'static str {
        if self.is_postgres() {
            "FOR UPDATE OF r SKIP LOCKED"
        } else {
            ""
        }
    }

    /// Tells the processes listening on the store (PostgreSQL's `NOTIFY`, delivered when the
    /// transaction commits) that `channel` has news: [`super::JOBS_CHANNEL`],
    /// [`super::RESULTS_CHANNEL`]. SQLite has one process: nothing to tell.
    fn notify(&mut self, channel: &str) -> Result<()> {
        if self.is_postgres() {
            self.execute("SELECT pg_notify(?1, '')", &[Param::Text(channel)])?;
        }
        Ok(())
    }

    /// Takes, until the transaction ends, the lock of a clinic's stream of results (`stream`
    /// 1: alerts, 2: analyses), so that their ids are handed out and committed in the same
    /// order: clients read a stream by cursor (the last id seen), and a lower id committed
    /// after a higher one was read would be skipped. SQLite's single writer orders them
    /// already.
    fn lock_stream(&mut self, stream: i64, clinic_id: i64) -> Result<()> {
        if self.is_postgres() {
            self.execute(
                "SELECT pg_advisory_xact_lock(?1)",
                &[Param::Int((stream << 48) | (clinic_id & ((1 << 48) - 1)))],
            )?;
        }
        Ok(())
    }

    /// The query's first row, if any.
    fn query_opt(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The query's first row (an aggregate's, an `INSERT … RETURNING`'s).
    fn query_one(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Row> {
        self.query_opt(sql, params)?
            .ok_or_else(|| StoreError::Inconsistent(format!("no row from: {sql}")))
    }

    /// The first column of the query's first row, as an integer (a count, an id).
    fn query_int(&mut self, sql: &str, params: &[Param<'_>]) -> Result<i64> {
        self.query_one(sql, params)?.int(0)
    }
}

// ---- SQLite -------------------------------------------------------------------------------

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Null => ValueRef::Null,
            Param::Int(v) => ValueRef::Integer(*v),
            Param::Text(v) => ValueRef::Text(v.as_bytes()),
            Param::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

fn sqlite_row(row: &rusqlite::Row<'_>, columns: usize) -> rusqlite::Result<Row> {
    use rusqlite::types::ValueRef;
    (0..columns)
        .map(|i| {
            Ok(match row.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::Int(v),
                ValueRef::Real(v) => Value::Int(v as i64),
                ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
                ValueRef::Blob(v) => Value::Blob(v.to_vec()),
            })
        })
        .collect::<rusqlite::Result<_>>()
        .map(Row)
}

impl Conn for &rusqlite::Connection {
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let mut stmt = self.prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
        let mut stmt = self.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            sqlite_row(r, columns)
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn is_postgres(&self) -> bool {
        false
    }
}

// ---- PostgreSQL ---------------------------------------------------------------------------

impl postgres::types::ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        use postgres::types::{IsNull, Type};
        match self {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => Err(format!("an integer for a parameter of type {ty}").into()),
            },
            Param::Text(v) => v.to_sql(ty, out),
            Param::Blob(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// `?N` parameters as PostgreSQL's `$N` (the store's SQL has no `?` in its literals).
fn postgres_sql(sql: &str) -> String {
    sql.replace('?', "$")
}

fn postgres_row(row: &postgres::Row) -> Result<Row> {
    use postgres::types::Type;
    let get = |i: usize| -> std::result::Result<Value, postgres::Error> {
        let ty = row.columns()[i].type_();
        Ok(match *ty {
            Type::INT8 => row
                .try_get::<_, Option<i64>>(i)?
                .map_or(Value::Null, Value::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)?
                .map_or(Value::Null, |v| Value::Int(v.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)?
                .map_or(Value::Null, |v| Value::Int(v.into())),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(i)?
                .map_or(Value::Null, |v| Value::Int(v.into())),
            Type::BYTEA => row
                .try_get::<_, Option<Vec<u8>>>(i)?
                .map_or(Value::Null, Value::Blob),
            _ => row
                .try_get::<_, Option<String>>(i)?
                .map_or(Value::Null, Value::Text),
        })
    };
    (0..row.len())
        .map(get)
        .collect::<std::result::Result<_, _>>()
        .map(Row)
        .map_err(StoreError::from)
}

/// A pooled PostgreSQL connection with its prepared statements (prepared once per
/// connection, by their SQL).
pub(crate) struct PgConnection {
    pub(crate) client: postgres::Client,
    pub(crate) statements: HashMap<String, postgres::Statement>,
}

/// A connection or transaction of a [`PgConnection`], with its statement cache.
pub(crate) struct PgConn<'a, C: postgres::GenericClient> {
    pub(crate) client: &'a mut C,
    pub(crate) statements: &'a mut HashMap<String, postgres::Statement>,
}

impl<C: postgres::GenericClient> PgConn<'_, C> {
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(&postgres_sql(sql))?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

fn pg_params<'a>(params: &'a [Param<'_>]) -> Vec<&'a (dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|p| p as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

impl<C: postgres::GenericClient> Conn for PgConn<'_, C> {
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let stmt = self.statement(sql)?;
        Ok(self.client.execute(&stmt, &pg_params(params))?)
    }

    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
        let stmt = self.statement(sql)?;
        self.client
            .query(&stmt, &pg_params(params))?
            .iter()
            .map(postgres_row)
            .collect()
    }

    fn is_postgres(&self) -> bool {
        true
    }
}

/// r2d2's manager of [`PgConnection`]s.
pub(crate) struct PgManager {
    pub(crate) config: postgres::Config,
}

impl r2d2::ManageConnection for PgManager {
    type Connection = PgConnection;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<PgConnection, postgres::Error> {
        Ok(PgConnection {
            client: self.config.connect(postgres::NoTls)?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConnection) -> std::result::Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        conn.client.is_closed()
    }
}

/// Whether a PostgreSQL failure is one a transaction run again may not meet: a
/// serialization failure or a deadlock (SQLSTATE 40001, 40P01).
pub(crate) fn is_retryable(e: &StoreError) -> bool {
    use postgres::error::SqlState;
    match e {
        StoreError::Postgres(e) => e.code().is_some_and(|c| {
            *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
        }),
        _ => false,
    }
}
