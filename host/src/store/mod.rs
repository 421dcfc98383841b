//! The database: the only module that speaks SQL. One code path for SQLite
//! (embedded, the default) and PostgreSQL (clusters), through sqlx's `Any`
//! driver with `$N` placeholders, which both accept. Migrations in
//! `migrations/{sqlite,postgres}` run at connect time. Every write goes
//! through one helper (`write.rs`: this process's write turn, the
//! transaction, retries of transient errors); rows are read into the typed
//! vocabulary here, so states and codes are text only at this edge.
//!
//! Nothing here decides *what* to fire or run: callers (the scheduler and the
//! dispatcher) make those decisions; the store makes them durable, atomically.
//!
//! By file: `tasks` (the public task table) and `task_pages` (filtered
//! listings of it), `fire` (the fire transaction)
//! and `new_runs` (inserting runs), `claims`, `runs` (listings, checkpoints,
//! cancel requests), `records` (log lines and fenced completions), `rescue`
//! (runs of stopped hosts), `nodes`, `modules`, `misfires` (listings),
//! `outbox` (following up what ended: chains, workflow steps, alerts),
//! `alerts` (rules, channels, keepers, alerts and their deliveries), `workflows`
//! (their definitions and runs),
//! `state`, `calendars` (the named calendars tasks skip times by), `tokens` and
//! `audit` (the admin API's bearer tokens and change log), `users`
//! (console users and their sessions), `delays` (delay
//! tasks and their callback attempts); on PostgreSQL also
//! `notifications` (LISTEN/NOTIFY) and `vacuum` (when autovacuum is off);
//! `retention` purges old runs. `job_sql` is not the host's database: it
//! runs jobs' statements on the databases the host config names for them.

mod alerts;
mod audit;
mod calendars;
mod claims;
mod delays;
mod error;
mod fire;
mod job_sql;
mod misfires;
mod modules;
mod new_runs;
mod nodes;
mod notifications;
mod outbox;
mod records;
mod rescue;
mod retention;
mod runs;
mod secrets;
mod sql;
mod state;
mod task_pages;
mod task_rows;
mod tasks;
mod tokens;
mod users;
mod vacuum;
mod workflows;
mod write;

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

pub use alerts::{
    AlertRow, ChannelRow, DeliveryOutcome, DueDelivery, IntFlag, KeeperRow, NewAlert, RuleRow,
};
pub use audit::{AuditEntry, AuditRow};
pub use calendars::CalendarRecord;
pub use claims::ClaimedRun;
pub use delays::{
    AttemptRecord, CancelDelay, DelayAttempt, DelayAudit, DelayCreation, DelayFilter, DelayRow,
    DueDelay,
};
pub use error::StoreError;
pub use fire::{FireBatch, FireDecision, FirePlanner, MisfireRecord};
pub use job_sql::{JobDatabase, JobDatabases, JobSqlError};
pub use misfires::MisfireRow;
pub use modules::ModuleRow;
pub use new_runs::NewRun;
pub use nodes::NodeRow;
pub use notifications::{Change, ChangeListener};
pub use outbox::FollowedUp;
pub use records::{Completion, FencedCompletion, StoredLogLine};
pub use rescue::Rescued;
pub use runs::{CancelOutcome, RetryOutcome, RunFilter, RunRow};
pub use secrets::{SealedSecret, SecretRow};
pub use task_pages::{SortKey, TaskCursor, TaskFilter, TaskOrder, TaskPage};
pub use tasks::ScheduleVerdict;
pub use tokens::TokenRow;
pub use users::{SessionRow, UserRow};
pub use workflows::{Started, StepAction, StepRow, WorkflowRecord, WorkflowRunRow};

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

/// The database, shared by every part of the host. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The URL connected to, for the connections that live outside the pool
    /// (PostgreSQL's LISTEN and vacuum).
    url: Arc<str>,
    /// SQLite allows one writer; writers of this process queue here instead
    /// of failing with `database is locked`.
    write_lock: Arc<tokio::sync::Mutex<()>>,
    /// Told when this process recorded an end the outbox follows up.
    outbox_written: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("url", &redact(&self.url))
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `url` and migrates it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::open(url, true).await
    }

    /// Opens the database at `url` and migrates it, without creating a
    /// SQLite file that is not there (a mistyped path is an error, not a new
    /// empty database): for commands that only read.
    pub async fn connect_existing(url: &str) -> Result<Self, StoreError> {
        Self::open(url, false).await
    }

    async fn open(url: &str, create: bool) -> Result<Self, StoreError> {
        install_default_drivers();
        let shown = redact(url);
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let mut url = format!("sqlite:{rest}");
            if !url.contains("mode=") {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(if create { "mode=rwc" } else { "mode=rw" });
            }
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if !create && !path.is_empty() && !std::path::Path::new(path).exists() {
                return Err(StoreError::Missing(shown));
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
        let max_connections = if backend == Backend::Sqlite { 4 } else { 8 };
        let pool = Self::pool(backend, &url, max_connections)
            .await
            .map_err(|source| StoreError::Connect {
                url: shown.clone(),
                source,
            })?;
        let mut migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
        };
        // A database a newer host has migrated further (a rolling upgrade)
        // is used as it is: migrations only add.
        migrator.set_ignore_missing(true);
        migrator
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate { url: shown, source })?;
        Ok(Self {
            pool,
            backend,
            url: Arc::from(url),
            write_lock: Default::default(),
            outbox_written: Default::default(),
        })
    }

    /// The same database through a pool of its own, of at most
    /// `max_connections`: for a part of the host whose queries must never
    /// wait for (or keep waiting) the scheduler's connections — the API.
    /// Its SQLite writes still queue behind this process's other writers.
    /// Connections are opened on the calling runtime's threads.
    pub async fn side_pool(&self, max_connections: u32) -> Result<Self, StoreError> {
        let pool = Self::pool(self.backend, &self.url, max_connections)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact(&self.url),
                source,
            })?;
        Ok(Self {
            pool,
            backend: self.backend,
            url: self.url.clone(),
            write_lock: self.write_lock.clone(),
            outbox_written: self.outbox_written.clone(),
        })
    }

    async fn pool(backend: Backend, url: &str, max_connections: u32) -> sqlx::Result<AnyPool> {
        AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        connection.execute(SQLITE_PRAGMAS).await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
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

    /// Resolves when this process has recorded a run end the outbox
    /// follows up (a watched run, a failure) since the last call.
    pub async fn outbox_written(&self) {
        self.outbox_written.notified().await;
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

#[cfg(test)]
impl Store {
    /// Runs `statement` as it is: for tests elsewhere in the crate that set
    /// rows up by hand.
    pub(crate) async fn run_sql(&self, statement: &str) {
        if let Err(error) = sqlx::query(statement).execute(&self.pool).await {
            panic!("{statement}: {error}");
        }
    }
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

    #[tokio::test]
    async fn a_store_shows_no_password_when_debugged() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("x.db").display());
        let store = Store::connect(&url).await.unwrap();
        let shown = format!("{store:?}");
        assert!(shown.contains("Sqlite"), "{shown}");
        let mut store = store;
        store.url = Arc::from("postgres://carillon:s3cret@db/jobs");
        let shown = format!("{store:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
