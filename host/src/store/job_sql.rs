//! The databases jobs query through the contract's `sql` import: the
//! connections the host config names (`[databases.NAME]`), each a small
//! pool opened on first use. Statements are run with their parameters bound
//! (never spliced in), one at a time, each in its own implicit transaction;
//! a query's rows come back as typed values, at most the connection's row
//! cap. Which task may use which connection is decided by the caller.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow, AnyTypeInfoKind, install_default_drivers};
use sqlx::{AnyPool, Column, Row, ValueRef};

use crate::store::redact;
use crate::vocab::{SqlRows, SqlValue};

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
    /// The connection could not be opened.
    #[error("database `{name}` ({url}) cannot be reached: {reason}")]
    Unreachable {
        /// The connection's name.
        name: String,
        /// Its URL, password hidden.
        url: String,
        /// What the driver said.
        reason: String,
    },
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
}

/// The connections jobs may be granted. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct JobDatabases {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    configured: BTreeMap<String, JobDatabase>,
    pools: tokio::sync::Mutex<HashMap<String, AnyPool>>,
}

impl JobDatabases {
    /// These connections, none opened yet.
    pub fn new(configured: BTreeMap<String, JobDatabase>) -> Self {
        Self {
            inner: Arc::new(Inner {
                configured,
                pools: tokio::sync::Mutex::default(),
            }),
        }
    }

    /// Whether the host configures a connection called `name`.
    pub fn is_configured(&self, name: &str) -> bool {
        self.inner.configured.contains_key(name)
    }

    async fn pool(&self, name: &str) -> Result<(AnyPool, &JobDatabase), JobSqlError> {
        let config = self
            .inner
            .configured
            .get(name)
            .ok_or_else(|| JobSqlError::NotConfigured(name.to_owned()))?;
        let mut pools = self.inner.pools.lock().await;
        if let Some(pool) = pools.get(name) {
            return Ok((pool.clone(), config));
        }
        install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(&config.url)
            .await
            .map_err(|error| JobSqlError::Unreachable {
                name: name.to_owned(),
                url: redact(&config.url),
                reason: error.to_string(),
            })?;
        pools.insert(name.to_owned(), pool.clone());
        Ok((pool, config))
    }

    /// Runs query `statement` on `name` with `params` bound; its rows.
    pub async fn query(
        &self,
        name: &str,
        statement: &str,
        params: &[SqlValue],
    ) -> Result<SqlRows, JobSqlError> {
        use futures_util::TryStreamExt as _;

        let (pool, config) = self.pool(name).await?;
        let mut rows = bind(sqlx::query(statement), params).fetch(&pool);
        let mut result = SqlRows::default();
        while let Some(row) = rows.try_next().await.map_err(statement_error)? {
            if result.rows.len() == config.max_rows {
                return Err(JobSqlError::TooManyRows {
                    name: name.to_owned(),
                    cap: config.max_rows,
                });
            }
            if result.columns.is_empty() {
                result.columns = row.columns().iter().map(|c| c.name().to_owned()).collect();
            }
            result.rows.push(values_of(&row)?);
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
        let (pool, _) = self.pool(name).await?;
        let done = bind(sqlx::query(statement), params)
            .execute(&pool)
            .await
            .map_err(statement_error)?;
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
