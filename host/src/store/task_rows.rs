//! Reading `tasks` rows, whatever they hold. The table is written by anyone
//! with SQL, and SQLite stores any value in any column: `shard_total = 'abc'`,
//! `timeout_ms = 1.5`, a blob schedule or a NULL name must not make a whole
//! listing or scheduling pass fail. Each column is read as its type; one that
//! holds something else is read as the table's default and reported, naming
//! the column and what it holds, so that row alone is set aside.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::store::Backend;
use crate::vocab::{TaskRow, TaskSpec};

/// Where a row is, to record a problem on it even when its name is unreadable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RowKey {
    /// SQLite's rowid.
    Rowid(i64),
    /// The task's name (PostgreSQL, whose types keep names readable).
    Name(String),
}

/// A row as read: the task (unreadable columns at their defaults, listed in
/// [`TaskRow::unreadable`]) and where it is.
#[derive(Debug, Clone)]
pub(crate) struct ReadRow {
    pub(crate) task: TaskRow,
    pub(crate) key: RowKey,
}

/// The columns [`read_task`] reads, for `backend`. `paused` is read through
/// an expression: sqlx's `Any` driver reads no column declared boolean, and
/// on SQLite a value that is not 0 or 1 (a text `'true'` in a table from
/// before its type checks) must reach the reader to be named.
pub(crate) fn columns(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "rowid AS row_key, name, task_group, module, schedule, time_zone, \
             CASE WHEN typeof(paused) = 'integer' THEN paused ELSE quote(paused) END AS paused, shard_total, \
             shard_params, page_size, params, concurrency, misfire, timeout_ms, memory_mib, max_retries, \
             retry_backoff_ms, selector, start_at, end_at, keep_runs, allowed_hosts, secrets, mounts, databases, calendar, on_success, on_failure, keepers, created_at, \
             next_fire_at, last_fire_at, error, error_code, revision"
        }
        Backend::Postgres => {
            "NULL AS row_key, name, task_group, module, schedule, time_zone, \
             CASE WHEN paused THEN 1 ELSE 0 END AS paused, shard_total, shard_params, page_size, params, \
             concurrency, misfire, timeout_ms, memory_mib, max_retries, retry_backoff_ms, selector, \
             start_at, end_at, keep_runs, allowed_hosts, secrets, mounts, databases, calendar, on_success, on_failure, keepers, created_at, \
             next_fire_at, last_fire_at, error, error_code, revision"
        }
    }
}

/// Reads one row of [`columns`]. Never fails: what cannot be read is named
/// in the row's `unreadable`.
pub(crate) fn read_task(row: &AnyRow) -> ReadRow {
    let mut reader = Reader {
        row,
        problems: Vec::new(),
    };
    let defaults = TaskSpec::new("", "", "");
    let name = reader.text("name", "");
    let spec = TaskSpec {
        group: reader.text("task_group", &defaults.group),
        module: reader.text("module", ""),
        schedule: reader.text("schedule", ""),
        time_zone: reader.text("time_zone", &defaults.time_zone),
        paused: reader.flag("paused"),
        shard_total: reader.int("shard_total", defaults.shard_total),
        shard_params: reader.optional_text("shard_params"),
        page_size: reader.optional_int("page_size"),
        params: reader.text("params", &defaults.params),
        concurrency: reader.text("concurrency", &defaults.concurrency),
        misfire: reader.text("misfire", &defaults.misfire),
        timeout_ms: reader.optional_int("timeout_ms"),
        memory_mib: reader.optional_int("memory_mib"),
        max_retries: reader.int("max_retries", defaults.max_retries),
        retry_backoff_ms: reader.int("retry_backoff_ms", defaults.retry_backoff_ms),
        selector: reader.optional_text("selector"),
        start_at: reader.optional_int("start_at"),
        end_at: reader.optional_int("end_at"),
        keep_runs: reader.optional_int("keep_runs"),
        allowed_hosts: reader.optional_text("allowed_hosts"),
        secrets: reader.optional_text("secrets"),
        mounts: reader.optional_text("mounts"),
        databases: reader.optional_text("databases"),
        calendar: reader.optional_text("calendar"),
        on_success: reader.optional_text("on_success"),
        on_failure: reader.optional_text("on_failure"),
        keepers: reader.optional_text("keepers"),
        name,
    };
    let created_at = reader.int("created_at", 0);
    let next_fire_at = reader.optional_int("next_fire_at");
    let last_fire_at = reader.optional_int("last_fire_at");
    let error = reader.optional_text("error");
    let error_code = reader
        .optional_text("error_code")
        .and_then(|code| code.parse().ok());
    let revision = reader.int("revision", 0);
    let key = match row.try_get::<Option<i64>, _>("row_key") {
        Ok(Some(rowid)) => RowKey::Rowid(rowid),
        _ => RowKey::Name(spec.name.clone()),
    };
    let unreadable = (!reader.problems.is_empty()).then(|| reader.problems.join("; "));
    ReadRow {
        task: TaskRow {
            spec,
            created_at,
            next_fire_at,
            last_fire_at,
            error,
            error_code,
            revision,
            unreadable,
        },
        key,
    }
}

/// Reads columns, collecting what could not be read.
struct Reader<'r> {
    row: &'r AnyRow,
    problems: Vec<String>,
}

impl Reader<'_> {
    fn text(&mut self, column: &str, default: &str) -> String {
        match self.row.try_get::<Option<String>, _>(column) {
            Ok(Some(text)) => text,
            Ok(None) => {
                self.problems
                    .push(format!("column `{column}` is NULL; it needs text"));
                default.to_owned()
            }
            Err(_) => {
                self.report(column, "text");
                default.to_owned()
            }
        }
    }

    fn optional_text(&mut self, column: &str) -> Option<String> {
        self.row
            .try_get::<Option<String>, _>(column)
            .unwrap_or_else(|_| {
                self.report(column, "text");
                None
            })
    }

    fn int(&mut self, column: &str, default: i64) -> i64 {
        match self.row.try_get::<Option<i64>, _>(column) {
            Ok(Some(number)) => number,
            Ok(None) => {
                self.problems.push(format!(
                    "column `{column}` is NULL; it needs a whole number"
                ));
                default
            }
            Err(_) => {
                self.report(column, "a whole number");
                default
            }
        }
    }

    fn optional_int(&mut self, column: &str) -> Option<i64> {
        self.row
            .try_get::<Option<i64>, _>(column)
            .unwrap_or_else(|_| {
                self.report(column, "a whole number (or NULL)");
                None
            })
    }

    /// A boolean stored as 0 or 1 (TRUE and FALSE are those on SQLite).
    fn flag(&mut self, column: &str) -> bool {
        match self.row.try_get::<Option<i64>, _>(column) {
            Ok(Some(0)) => false,
            Ok(Some(1)) => true,
            Ok(_) | Err(_) => {
                self.report(column, "TRUE or FALSE");
                false
            }
        }
    }

    /// Records that `column` holds something other than `wanted`, showing it.
    fn report(&mut self, column: &str, wanted: &str) {
        let shown = shown(self.row, column);
        self.problems
            .push(format!("column `{column}` = {shown}: not {wanted}"));
    }
}

/// What a column holds, for a message: its text, its number, or its kind.
fn shown(row: &AnyRow, column: &str) -> String {
    if let Ok(Some(text)) = row.try_get::<Option<String>, _>(column) {
        let short: String = text.chars().take(60).collect();
        return format!("`{}`", short.escape_debug());
    }
    if let Ok(Some(number)) = row.try_get::<Option<i64>, _>(column) {
        return format!("`{number}`");
    }
    if let Ok(Some(number)) = row.try_get::<Option<f64>, _>(column) {
        return format!("`{number}`");
    }
    if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>, _>(column) {
        return format!("a blob of {} bytes", bytes.len());
    }
    "NULL".to_owned()
}
