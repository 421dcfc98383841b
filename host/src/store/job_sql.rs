//! The databases jobs query through the contract's `sql` import: the
//! connections the host config names (`[databases.NAME]`), each a small
//! pool whose connections open on first use. Statements are run with their
//! parameters bound (never spliced in); a query's rows come back as typed
//! values, at most the connection's row cap and [`MAX_RESULT_BYTES`]. A
//! connection goes back to the pool reset (a transaction a job left open
//! rolled back; on PostgreSQL what `DISCARD ALL` resets but the prepared
//! statements), so no job sees another's
//! session. On SQLite, statements that reach beyond the granted file
//! (`ATTACH`, `VACUUM INTO`, `PRAGMA`) are refused. Which task may use which
//! connection is decided by the caller.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow, AnyTypeInfoKind, install_default_drivers};
use sqlx::{AnyPool, Column, Executor as _, Row, ValueRef};

use crate::store::redact;
use crate::vocab::{SqlRows, SqlValue};

/// `DISCARD ALL` but `DEALLOCATE ALL`: sqlx keeps its prepared statements
/// per connection, and they hold no job's state.
const POSTGRES_RESET: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; \
    SELECT pg_advisory_unlock_all(); DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES";

/// The most a query's values may come to, in bytes.
pub(crate) const MAX_RESULT_BYTES: usize = 16 << 20;

/// A connection the host config names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDatabase {
    /// Its name (`[databases.NAME]`, the `databases` column).
    pub name: String,
    /// `postgres://…` or `sqlite://…`.
    pub url: String,
    /// Rows a query may return; more is an error, not a silent truncation.
    pub max_rows: usize,
    /// Connections its pool may open.
    pub max_connections: u32,
}

impl JobDatabase {
    /// The default row cap of a query.
    pub const DEFAULT_MAX_ROWS: usize = 10_000;
    /// The default pool size.
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 4;
}

/// Why a statement did not run, as the job is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobSqlError {
    /// The host has no connection of that name.
    #[error(
        "database `{0}` is not configured on this host; add [databases.{0}] url = \"…\" to its carillon.toml"
    )]
    NotConfigured(String),
    /// The connection could not be opened (its URL is in the host's log,
    /// not told to the job).
    #[error("database `{name}` cannot be reached: {reason}")]
    Unreachable {
        /// The connection's name.
        name: String,
        /// What the driver said.
        reason: String,
    },
    /// A statement this host does not run for jobs.
    #[error("{0}")]
    Refused(String),
    /// The statement failed.
    #[error("{0}")]
    Statement(String),
    /// The query returned more rows than the cap.
    #[error(
        "the query returned more than {cap} rows, the cap of database `{name}`; page through the table \
         (`WHERE id > $1 ORDER BY id LIMIT …`) or raise [databases.{name}] max_rows"
    )]
    TooManyRows {
        /// The connection's name.
        name: String,
        /// Its row cap.
        cap: usize,
    },
    /// The query's values came to more than [`MAX_RESULT_BYTES`].
    #[error(
        "the query's rows came to more than {} MiB; select fewer columns or page through the rows",
        MAX_RESULT_BYTES >> 20
    )]
    TooBig,
}

/// The connections jobs may be granted. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct JobDatabases {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    configured: BTreeMap<String, JobDatabase>,
    pools: std::sync::Mutex<HashMap<String, AnyPool>>,
}

impl JobDatabases {
    /// These connections, none opened yet.
    pub fn new(configured: BTreeMap<String, JobDatabase>) -> Self {
        Self {
            inner: Arc::new(Inner {
                configured,
                pools: std::sync::Mutex::default(),
            }),
        }
    }

    /// Whether the host configures a connection called `name`.
    pub fn is_configured(&self, name: &str) -> bool {
        self.inner.configured.contains_key(name)
    }

    fn pool(&self, name: &str) -> Result<(AnyPool, &JobDatabase), JobSqlError> {
        let config = self
            .inner
            .configured
            .get(name)
            .ok_or_else(|| JobSqlError::NotConfigured(name.to_owned()))?;
        let mut pools = self.inner.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.get(name) {
            return Ok((pool.clone(), config));
        }
        install_default_drivers();
        let sqlite = config.url.starts_with("sqlite:");
        // Lazy: nothing is held while connecting, so one unreachable
        // database does not stall the others' statements.
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .after_release(move |connection, _| {
                Box::pin(async move {
                    // No transaction or session setting outlives its job.
                    let _ = connection.execute("ROLLBACK").await;
                    let reset = if sqlite { "SELECT 1" } else { POSTGRES_RESET };
                    Ok(connection.execute(reset).await.is_ok())
                })
            })
            .connect_lazy(&config.url)
            .map_err(|error| self.unreachable(name, &error))?;
        pools.insert(name.to_owned(), pool.clone());
        Ok((pool, config))
    }

    fn unreachable(&self, name: &str, error: &sqlx::Error) -> JobSqlError {
        let url = self
            .inner
            .configured
            .get(name)
            .map_or_else(String::new, |config| redact(&config.url));
        tracing::warn!(database = %name, %url, "a job's database cannot be reached: {error}");
        JobSqlError::Unreachable {
            name: name.to_owned(),
            reason: error.to_string(),
        }
    }

    /// The error of a statement on `name`.
    fn failed(&self, name: &str, error: sqlx::Error) -> JobSqlError {
        match error {
            sqlx::Error::Database(error) => JobSqlError::Statement(error.message().to_owned()),
            error @ (sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Configuration(_)) => self.unreachable(name, &error),
            other => JobSqlError::Statement(other.to_string()),
        }
    }

    /// Runs query `statement` on `name` with `params` bound; its rows.
    pub async fn query(
        &self,
        name: &str,
        statement: &str,
        params: &[SqlValue],
    ) -> Result<SqlRows, JobSqlError> {
        use futures_util::TryStreamExt as _;

        let (pool, config) = self.pool(name)?;
        check_statement(config, statement)?;
        let mut rows = bind(sqlx::query(statement), params).fetch(&pool);
        let mut result = SqlRows::default();
        let mut bytes = 0usize;
        while let Some(row) = rows.try_next().await.map_err(|e| self.failed(name, e))? {
            if result.rows.len() == config.max_rows {
                return Err(JobSqlError::TooManyRows {
                    name: name.to_owned(),
                    cap: config.max_rows,
                });
            }
            if result.columns.is_empty() {
                result.columns = row.columns().iter().map(|c| c.name().to_owned()).collect();
            }
            let values = values_of(&row)?;
            bytes += values.iter().map(size_of).sum::<usize>();
            if bytes > MAX_RESULT_BYTES {
                return Err(JobSqlError::TooBig);
            }
            result.rows.push(values);
        }
        Ok(result)
    }

    /// Runs `statement` on `name` with `params` bound; the rows it affected.
    pub async fn execute(
        &self,
        name: &str,
        statement: &str,
        params: &[SqlValue],
    ) -> Result<u64, JobSqlError> {
        let (pool, config) = self.pool(name)?;
        check_statement(config, statement)?;
        let done = bind(sqlx::query(statement), params)
            .execute(&pool)
            .await
            .map_err(|e| self.failed(name, e))?;
        Ok(done.rows_affected())
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind<'q>(mut query: AnyQuery<'q>, params: &'q [SqlValue]) -> AnyQuery<'q> {
    for param in params {
        query = match param {
            // Sent as text: PostgreSQL needs `$1::int` where another type is meant.
            SqlValue::Null => query.bind(Option::<String>::None),
            SqlValue::Boolean(value) => query.bind(*value),
            SqlValue::Integer(value) => query.bind(*value),
            SqlValue::Real(value) => query.bind(*value),
            SqlValue::Text(value) => query.bind(value.as_str()),
            SqlValue::Blob(value) => query.bind(value.as_slice()),
        };
    }
    query
}

/// On SQLite, refuses statements that reach beyond the granted file:
/// another database attached, the file copied elsewhere, settings changed.
fn check_statement(config: &JobDatabase, statement: &str) -> Result<(), JobSqlError> {
    if !config.url.starts_with("sqlite:") {
        return Ok(());
    }
    let words = statement
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map(str::to_ascii_uppercase);
    for word in words {
        if matches!(word.as_str(), "ATTACH" | "DETACH" | "VACUUM" | "PRAGMA") {
            return Err(JobSqlError::Refused(format!(
                "`{word}` is not run for jobs on SQLite database `{}`: it reaches beyond the granted file",
                config.name
            )));
        }
    }
    Ok(())
}

/// What a value weighs, roughly, for the result cap.
fn size_of(value: &SqlValue) -> usize {
    match value {
        SqlValue::Text(text) => text.len() + 8,
        SqlValue::Blob(bytes) => bytes.len() + 8,
        _ => 16,
    }
}

fn statement_error(error: sqlx::Error) -> JobSqlError {
    JobSqlError::Statement(match error {
        sqlx::Error::Database(error) => error.message().to_owned(),
        other => other.to_string(),
    })
}

/// A row's values, typed by what the database says each one is.
fn values_of(row: &AnyRow) -> Result<Vec<SqlValue>, JobSqlError> {
    (0..row.len())
        .map(|index| {
            let raw = row.try_get_raw(index).map_err(statement_error)?;
            if raw.is_null() {
                return Ok(SqlValue::Null);
            }
            let kind = raw.type_info().kind;
            let value = match kind {
                AnyTypeInfoKind::Null => SqlValue::Null,
                AnyTypeInfoKind::Bool => {
                    SqlValue::Boolean(row.try_get(index).map_err(statement_error)?)
                }
                AnyTypeInfoKind::SmallInt => SqlValue::Integer(
                    row.try_get::<i16, _>(index)
                        .map_err(statement_error)?
                        .into(),
                ),
                AnyTypeInfoKind::Integer => SqlValue::Integer(
                    row.try_get::<i32, _>(index)
                        .map_err(statement_error)?
                        .into(),
                ),
                AnyTypeInfoKind::BigInt => {
                    SqlValue::Integer(row.try_get(index).map_err(statement_error)?)
                }
                AnyTypeInfoKind::Real => SqlValue::Real(
                    row.try_get::<f32, _>(index)
                        .map_err(statement_error)?
                        .into(),
                ),
                AnyTypeInfoKind::Double => {
                    SqlValue::Real(row.try_get(index).map_err(statement_error)?)
                }
                AnyTypeInfoKind::Text => {
                    SqlValue::Text(row.try_get(index).map_err(statement_error)?)
                }
                AnyTypeInfoKind::Blob => {
                    SqlValue::Blob(row.try_get(index).map_err(statement_error)?)
                }
            };
            Ok(value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(url: &str) -> JobDatabase {
        JobDatabase {
            name: "shop".to_owned(),
            url: url.to_owned(),
            max_rows: 10,
            max_connections: 1,
        }
    }

    #[test]
    fn sqlite_statements_that_reach_beyond_the_file_are_refused() {
        let sqlite = database("sqlite:///srv/shop.db");
        for statement in [
            "ATTACH DATABASE '/var/lib/carillon.db' AS host",
            "select 1; vacuum into '/tmp/copy.db'",
            "PRAGMA writable_schema = 1",
        ] {
            let refused = check_statement(&sqlite, statement).unwrap_err();
            assert!(
                refused
                    .to_string()
                    .contains("reaches beyond the granted file"),
                "{statement}: {refused}"
            );
        }
        assert!(check_statement(&sqlite, "SELECT id, attachment FROM orders").is_ok());
        let postgres = database("postgres://jobs@db/shop");
        assert!(check_statement(&postgres, "VACUUM orders").is_ok());
    }

    #[tokio::test]
    async fn an_open_transaction_does_not_outlive_its_job() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/shop.db?mode=rwc", dir.path().display());
        let databases = JobDatabases::new(BTreeMap::from([("shop".to_owned(), database(&url))]));
        databases
            .execute("shop", "CREATE TABLE t (x INTEGER)", &[])
            .await
            .unwrap();
        // A job begins a transaction and leaves it open: it is rolled back
        // as the connection goes back, so the next statement (perhaps
        // another job's) is outside it.
        databases.execute("shop", "BEGIN", &[]).await.unwrap();
        let commit = databases.execute("shop", "COMMIT", &[]).await.unwrap_err();
        assert!(
            commit.to_string().contains("no transaction is active"),
            "{commit}"
        );
        databases
            .execute("shop", "INSERT INTO t VALUES (1)", &[])
            .await
            .unwrap();
        let rows = databases
            .query("shop", "SELECT count(*) AS n FROM t", &[])
            .await
            .unwrap();
        assert_eq!(rows.columns, ["n"]);
        assert_eq!(rows.rows, [[SqlValue::Integer(1)]]);
    }
}
