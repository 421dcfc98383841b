//! Why a store operation failed, and which failures are worth retrying.
//! Transient errors are recognised by the databases' result codes, never by
//! the wording of their messages.

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
    /// A SQLite file that is not there, opened by a command that only reads.
    #[error(
        "there is no database at {0}; check --database (or `database.url`), or start `carillon serve` once to create it"
    )]
    Missing(String),
    /// A row holds a value the host cannot read (written by hand).
    #[error("the database holds a value the host cannot read: {0}; fix the row with SQL")]
    Corrupt(String),
    /// The host is stopping: its writers no longer take work.
    #[error("the host is stopping; try again on a running host")]
    Stopping,
    /// The operation needs PostgreSQL (e.g. change notifications).
    #[error("{0} needs PostgreSQL; this host runs on SQLite")]
    NeedsPostgres(&'static str),
}

impl StoreError {
    /// Whether retrying may help: SQLite busy or locked by another
    /// connection, a PostgreSQL serialization failure or deadlock, or a
    /// dropped connection.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Query(error) => is_transient(error),
            _ => false,
        }
    }

    /// Whether the failure may pass if the same write is tried again later:
    /// a transient error, the database out of reach or restarting, or its
    /// disk full or failing (SQLite `FULL` or `IOERR`; PostgreSQL's
    /// connection, resource and shutdown classes). What must not be lost
    /// (run records) is held and retried while this is so.
    pub fn may_pass(&self) -> bool {
        match self {
            StoreError::Query(sqlx::Error::Database(db)) => {
                if let Some(sqlite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                    let code = sqlx::error::DatabaseError::code(sqlite);
                    return sqlite_code_may_pass(code.as_deref());
                }
                db.code().is_some_and(|code| {
                    PG_RETRYABLE.contains(&code.as_ref())
                        || PG_MAY_PASS_CLASSES
                            .iter()
                            .any(|class| code.starts_with(class))
                })
            }
            StoreError::Stopping => true,
            _ => self.is_transient(),
        }
    }
}

/// SQLite's `IOERR` and `FULL`.
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;

/// PostgreSQL classes of errors that pass with time: connection exceptions,
/// insufficient resources (a full disk), operator intervention (a restart).
const PG_MAY_PASS_CLASSES: [&str; 3] = ["08", "53", "57P"];

fn sqlite_code_may_pass(code: Option<&str>) -> bool {
    sqlite_code_is_transient(code)
        || code
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, SQLITE_IOERR | SQLITE_FULL))
}

/// SQLite's primary result codes `SQLITE_BUSY` and `SQLITE_LOCKED`; the
/// extended codes (`SQLITE_BUSY_SNAPSHOT`, …) carry them in their low byte.
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;

/// PostgreSQL's `serialization_failure` and `deadlock_detected`.
const PG_RETRYABLE: [&str; 2] = ["40001", "40P01"];

fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => {
            if let Some(sqlite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                return sqlite_code_is_transient(
                    sqlx::error::DatabaseError::code(sqlite).as_deref(),
                );
            }
            db.code()
                .is_some_and(|code| PG_RETRYABLE.contains(&code.as_ref()))
        }
        _ => false,
    }
}

/// Whether an (extended) SQLite result code, as sqlx gives it, is busy or
/// locked.
fn sqlite_code_is_transient(code: Option<&str>) -> bool {
    code.and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_busy_and_locked_are_known_by_code() {
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED_SHAREDCACHE.
        for code in ["5", "6", "517", "262"] {
            assert!(sqlite_code_is_transient(Some(code)), "{code}");
        }
        // SQLITE_CONSTRAINT_UNIQUE, SQLITE_FULL, SQLITE_CORRUPT.
        for code in ["2067", "13", "11"] {
            assert!(!sqlite_code_is_transient(Some(code)), "{code}");
        }
        assert!(!sqlite_code_is_transient(None));
        // A full disk or an I/O error may pass; a constraint never does.
        assert!(sqlite_code_may_pass(Some("13")));
        assert!(sqlite_code_may_pass(Some("522")));
        assert!(!sqlite_code_may_pass(Some("2067")));
    }
}
