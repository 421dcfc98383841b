//! The database: the only module that speaks SQL. One code path for SQLite
//! (embedded, the default) and PostgreSQL (clusters), through sqlx's `Any`
//! driver with `$N` placeholders, which both accept. Migrations in
//! `migrations/{sqlite,postgres}` run at connect time.
//!
//! Nothing here decides *what* to fire or run: callers (the scheduler and the
//! dispatcher) make those decisions; the store makes them durable, atomically.

mod fire;
mod logs;
mod modules;
mod nodes;
mod runs;
mod state;
mod tasks;
pub mod upkeep;

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

pub use fire::{ClaimAtFire, FireBatch, FireDecision, MisfireRecord, NewRun};
pub use logs::StoredLogLine;
pub use modules::ModuleRow;
pub use nodes::NodeRow;
pub use runs::{ClaimedRun, Completion, FencedCompletion, RunFilter, RunRow};
pub use tasks::{ScheduleVerdict, TaskRow, TaskSpec};

/// Every SQLite connection: WAL (readers never block the writer), fsync at
/// checkpoints only, and wait up to 5 s for another process's write lock.
const SQLITE_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;";

/// Which database is behind the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (single host).
    Sqlite,
    /// PostgreSQL server (one or many hosts).
    Postgres,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported database.
    #[error(
        "database url `{0}` is not supported: use `sqlite://FILE` or `postgres://USER@HOST/DB`"
    )]
    UnsupportedUrl(String),
    /// Could not connect or migrate.
    #[error("cannot open database {url}: {source}")]
    Connect {
        /// The URL, without password.
        url: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The schema migration failed (e.g. a corrupt database).
    #[error("cannot migrate database {url}: {source}")]
    Migrate {
        /// The URL, without password.
        url: String,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    /// A row holds a value that cannot be read back.
    #[error("bad value in the database: {0}")]
    BadValue(String),
}

impl StoreError {
    /// Whether retrying may help (SQLite busy/locked, a dropped connection).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Query(error) => is_transient(error),
            _ => false,
        }
    }
}

fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => {
            let message = db.message().to_ascii_lowercase();
            message.contains("database is locked")
                || message.contains("database table is locked")
                || message.contains("busy")
                || db.code().is_some_and(|c| c == "40001" || c == "40P01")
        }
        _ => false,
    }
}

/// The database, shared by every part of the host. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer; writers of this process queue here instead
    /// of failing with `database is locked`.
    write_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and migrates it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let shown = redact(url);
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let mut url = format!("sqlite:{rest}");
            if !url.contains("mode=") {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str("mode=rwc");
            }
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::UnsupportedUrl(shown));
        };
        // One direct attempt first: a pool retries until its timeout, but a
        // refused connection or a corrupt file should fail start-up at once.
        let connect_error = |source| StoreError::Connect {
            url: shown.clone(),
            source,
        };
        let mut probe = AnyConnection::connect(&url).await.map_err(connect_error)?;
        if backend == Backend::Sqlite {
            probe.execute(SQLITE_PRAGMAS).await.map_err(connect_error)?;
        }
        let _ = probe.close().await;
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        connection.execute(SQLITE_PRAGMAS).await?;
                    }
                    Ok(())
                })
            });
        let pool = options
            .connect(&url)
            .await
            .map_err(|source| StoreError::Connect {
                url: shown.clone(),
                source,
            })?;
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
        };
        migrator
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate { url: shown, source })?;
        Ok(Self {
            pool,
            backend,
            write_lock: Default::default(),
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// ` FOR UPDATE SKIP LOCKED` on PostgreSQL; nothing on SQLite, whose
    /// single writer already serialises claims.
    fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// Serialises this process's write transactions on SQLite.
    async fn write_guard(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(self.write_lock.lock().await),
            Backend::Postgres => None,
        }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }
}

/// Paces retries of transient errors (SQLite busy or locked by another
/// process, a dropped connection): doubling delays, about 10 s in all.
pub(crate) struct TransientBackoff {
    delay: Duration,
    waited: Duration,
}

impl Default for TransientBackoff {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(5),
            waited: Duration::ZERO,
        }
    }
}

impl TransientBackoff {
    /// Sleeps and returns true if `error` is transient and time is left.
    pub(crate) async fn should_retry(&mut self, error: &StoreError) -> bool {
        if !error.is_transient() || self.waited >= Duration::from_secs(10) {
            return false;
        }
        tracing::debug!("retrying a transient database error: {error}");
        tokio::time::sleep(self.delay).await;
        self.waited += self.delay;
        self.delay = (self.delay * 2).min(Duration::from_millis(500));
        true
    }
}

/// Runs `operation` again while it fails with a transient error.
pub(crate) async fn retry_transient<T, F, Fut>(mut operation: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut backoff = TransientBackoff::default();
    loop {
        match operation().await {
            Err(error) if backoff.should_retry(&error).await => continue,
            result => return result,
        }
    }
}

/// The URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `$1, $2, …, $n` starting after `offset` placeholders.
fn placeholders(offset: usize, count: usize) -> String {
    (offset + 1..=offset + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Placeholders for the rows of a multi-row statement whose parameters are
/// all positional and used once: `(?, ?), (?, ?)` on SQLite, `($1, $2),
/// ($3, $4)` on PostgreSQL. sqlx looks up the name of every `$N` parameter
/// on SQLite, a linear search per parameter that made binding a 1,800-value
/// statement quadratic (half the host's CPU at 10,000 fires/s); anonymous
/// `?` parameters have no name to look up.
fn row_placeholders(backend: Backend, rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| match backend {
            Backend::Sqlite => format!("({})", vec!["?"; columns].join(", ")),
            Backend::Postgres => format!("({})", placeholders(row * columns, columns)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("postgres://carillon:s3cret@db/jobs"),
            "postgres://carillon:***@db/jobs"
        );
        assert_eq!(
            redact("postgres://carillon@db/jobs"),
            "postgres://carillon@db/jobs"
        );
        assert_eq!(redact("sqlite://carillon.db"), "sqlite://carillon.db");
    }

    #[test]
    fn placeholders_number_from_the_offset() {
        assert_eq!(placeholders(2, 3), "$3, $4, $5");
        assert_eq!(
            row_placeholders(Backend::Postgres, 2, 2),
            "($1, $2), ($3, $4)"
        );
        assert_eq!(row_placeholders(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
    }
}
