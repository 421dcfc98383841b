//! The `tasks` table: the public interface other systems write with plain
//! SQL, and the scheduler's bookkeeping columns (`next_fire_at`,
//! `last_fire_at`, `error`).

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::store::{Store, StoreError, retry_transient, row_placeholders};

/// The columns a user sets. Every field but name, module and schedule has a
/// default in the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskSpec {
    /// Unique task name.
    pub name: String,
    /// Group, for listings (default `default`).
    pub group: String,
    /// Name of the module (job component) to run.
    pub module: String,
    /// Cron expression, `every …`, `at …` or `after …`.
    pub schedule: String,
    /// IANA zone the schedule is read in.
    pub time_zone: String,
    /// Paused tasks do not fire.
    pub paused: bool,
    /// Shards per fire.
    pub shard_total: i64,
    /// Per-shard parameters, `0=Beijing,1=Shanghai`.
    pub shard_params: Option<String>,
    /// Page size for paged tasks.
    pub page_size: Option<i64>,
    /// JSON object of string params.
    pub params: String,
    /// `allow`, `forbid` or `replace`.
    pub concurrency: String,
    /// `fire-now`, `skip`, `catch-up` or `catch-up:N`.
    pub misfire: String,
    /// Run timeout in ms (host default when unset).
    pub timeout_ms: Option<i64>,
    /// Memory cap in MiB (host default when unset).
    pub memory_mib: Option<i64>,
    /// Retries after a failed attempt.
    pub max_retries: i64,
    /// First retry delay in ms; doubles each retry.
    pub retry_backoff_ms: i64,
    /// Node labels a host needs to run this task, `key=value,…`.
    pub selector: Option<String>,
    /// No fire before this time (ms since epoch).
    pub start_at: Option<i64>,
    /// No fire after this time (ms since epoch).
    pub end_at: Option<i64>,
}

impl TaskSpec {
    /// A spec with the table's defaults.
    pub fn new(name: &str, module: &str, schedule: &str) -> Self {
        Self {
            name: name.to_owned(),
            group: "default".to_owned(),
            module: module.to_owned(),
            schedule: schedule.to_owned(),
            time_zone: "UTC".to_owned(),
            paused: false,
            shard_total: 1,
            shard_params: None,
            page_size: None,
            params: "{}".to_owned(),
            concurrency: "allow".to_owned(),
            misfire: "fire-now".to_owned(),
            timeout_ms: None,
            memory_mib: None,
            max_retries: 0,
            retry_backoff_ms: 1000,
            selector: None,
            start_at: None,
            end_at: None,
        }
    }
}

/// The scheduler's verdict on one task row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleVerdict {
    /// The task.
    pub name: String,
    /// The revision the verdict was made on.
    pub revision: i64,
    /// Its next fire time, if any.
    pub next_fire_at: Option<i64>,
    /// Why it has none, if it has none.
    pub error: Option<String>,
}

/// A task row: the user's spec and the host's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRow {
    /// What the user set.
    #[serde(flatten)]
    pub spec: TaskSpec,
    /// When the row was created (ms).
    pub created_at: i64,
    /// The next slot the host will fire (ms); unset while (re)computing, on error or when finished.
    pub next_fire_at: Option<i64>,
    /// The last slot fired (ms).
    pub last_fire_at: Option<i64>,
    /// Why the host does not schedule the row, if it does not.
    pub error: Option<String>,
    /// Bumped on every change not made by the scheduler.
    pub revision: i64,
}

/// `paused` is read as an integer: sqlx's `Any` driver has no SQLite boolean.
const COLUMNS: &str = "name, task_group, module, schedule, time_zone, \
    CASE WHEN paused THEN 1 ELSE 0 END AS paused, shard_total, shard_params, \
    page_size, params, concurrency, misfire, timeout_ms, memory_mib, max_retries, retry_backoff_ms, \
    selector, start_at, end_at, created_at, next_fire_at, last_fire_at, error, revision";

pub(crate) fn task_from_row(row: &AnyRow) -> Result<TaskRow, sqlx::Error> {
    Ok(TaskRow {
        spec: TaskSpec {
            name: row.try_get("name")?,
            group: row.try_get("task_group")?,
            module: row.try_get("module")?,
            schedule: row.try_get("schedule")?,
            time_zone: row.try_get("time_zone")?,
            paused: read_bool(row, "paused")?,
            shard_total: row.try_get("shard_total")?,
            shard_params: row.try_get("shard_params")?,
            page_size: row.try_get("page_size")?,
            params: row.try_get("params")?,
            concurrency: row.try_get("concurrency")?,
            misfire: row.try_get("misfire")?,
            timeout_ms: row.try_get("timeout_ms")?,
            memory_mib: row.try_get("memory_mib")?,
            max_retries: row.try_get("max_retries")?,
            retry_backoff_ms: row.try_get("retry_backoff_ms")?,
            selector: row.try_get("selector")?,
            start_at: row.try_get("start_at")?,
            end_at: row.try_get("end_at")?,
        },
        created_at: row.try_get("created_at")?,
        next_fire_at: row.try_get("next_fire_at")?,
        last_fire_at: row.try_get("last_fire_at")?,
        error: row.try_get("error")?,
        revision: row.try_get("revision")?,
    })
}

fn read_bool(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

pub(crate) fn task_select(filter: &str) -> String {
    format!("SELECT {COLUMNS} FROM tasks {filter}")
}

impl Store {
    /// Every task, by name.
    pub async fn list_tasks(&self) -> Result<Vec<TaskRow>, StoreError> {
        let rows = sqlx::query(&task_select("ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(task_from_row).collect::<Result<_, _>>()?)
    }

    /// The task called `name`.
    pub async fn get_task(&self, name: &str) -> Result<Option<TaskRow>, StoreError> {
        let row = sqlx::query(&task_select("WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(task_from_row).transpose()?)
    }

    /// Inserts a new task or, if the name exists, replaces its definition
    /// (which makes the host recompute when it fires). Returns whether it was new.
    pub async fn upsert_task(&self, spec: &TaskSpec) -> Result<bool, StoreError> {
        retry_transient(|| self.upsert_task_once(spec)).await
    }

    async fn upsert_task_once(&self, spec: &TaskSpec) -> Result<bool, StoreError> {
        let _guard = self.write_guard().await;
        let existed = sqlx::query("SELECT 1 FROM tasks WHERE name = $1")
            .bind(&spec.name)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        let sql = if existed {
            "UPDATE tasks SET task_group = $2, module = $3, schedule = $4, time_zone = $5, paused = $6, \
             shard_total = $7, shard_params = $8, page_size = $9, params = $10, concurrency = $11, \
             misfire = $12, timeout_ms = $13, memory_mib = $14, max_retries = $15, retry_backoff_ms = $16, \
             selector = $17, start_at = $18, end_at = $19 WHERE name = $1"
        } else {
            "INSERT INTO tasks (name, task_group, module, schedule, time_zone, paused, shard_total, \
             shard_params, page_size, params, concurrency, misfire, timeout_ms, memory_mib, max_retries, \
             retry_backoff_ms, selector, start_at, end_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        };
        sqlx::query(sql)
            .bind(&spec.name)
            .bind(&spec.group)
            .bind(&spec.module)
            .bind(&spec.schedule)
            .bind(&spec.time_zone)
            .bind(spec.paused)
            .bind(spec.shard_total)
            .bind(&spec.shard_params)
            .bind(spec.page_size)
            .bind(&spec.params)
            .bind(&spec.concurrency)
            .bind(&spec.misfire)
            .bind(spec.timeout_ms)
            .bind(spec.memory_mib)
            .bind(spec.max_retries)
            .bind(spec.retry_backoff_ms)
            .bind(&spec.selector)
            .bind(spec.start_at)
            .bind(spec.end_at)
            .execute(&self.pool)
            .await?;
        Ok(!existed)
    }

    /// Deletes a task; its runs and logs stay. Returns whether it existed.
    pub async fn delete_task(&self, name: &str) -> Result<bool, StoreError> {
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            let done = sqlx::query("DELETE FROM tasks WHERE name = $1")
                .bind(name)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    /// Pauses or resumes a task. Returns whether it exists.
    pub async fn set_paused(&self, name: &str, paused: bool) -> Result<bool, StoreError> {
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            let done = sqlx::query("UPDATE tasks SET paused = $1 WHERE name = $2")
                .bind(paused)
                .bind(name)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    /// Tasks whose next fire time must be (re)computed: new rows, and rows
    /// whose schedule changed. Paused and erroneous rows are left alone.
    pub async fn unscheduled_tasks(&self, limit: i64) -> Result<Vec<TaskRow>, StoreError> {
        let rows = sqlx::query(&task_select(
            "WHERE next_fire_at IS NULL AND error IS NULL AND NOT paused ORDER BY name LIMIT $1",
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(task_from_row).collect::<Result<_, _>>()?)
    }

    /// Records the scheduler's verdicts on tasks: each one's next fire time,
    /// or why it has none. A row whose revision changed meanwhile (someone
    /// edited it) is left for the next pass.
    pub async fn set_schedules(&self, verdicts: &[ScheduleVerdict]) -> Result<(), StoreError> {
        if verdicts.is_empty() {
            return Ok(());
        }
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            let mut tx = self.pool.begin().await?;
            for chunk in verdicts.chunks(200) {
                let sql = format!(
                    "UPDATE tasks SET next_fire_at = v.column3, error = v.column4 FROM (VALUES {}) AS v \
                     WHERE tasks.name = v.column1 AND tasks.revision = v.column2",
                    row_placeholders(self.backend, chunk.len(), 4)
                );
                let mut query = sqlx::query(&sql);
                for verdict in chunk {
                    query = query
                        .bind(&verdict.name)
                        .bind(verdict.revision)
                        .bind(verdict.next_fire_at)
                        .bind(&verdict.error);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Stops every task of `module` from firing, recording `reason` on them.
    pub async fn block_module_tasks(&self, module: &str, reason: &str) -> Result<u64, StoreError> {
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            let done =
                sqlx::query("UPDATE tasks SET next_fire_at = NULL, error = $1 WHERE module = $2")
                    .bind(reason)
                    .bind(module)
                    .execute(&self.pool)
                    .await?;
            Ok(done.rows_affected())
        })
        .await
    }

    /// Lets tasks of `module` blocked with exactly `error` (the scheduler's
    /// "module is not loaded" message) be scheduled again.
    pub async fn unblock_module_tasks(&self, module: &str, error: &str) -> Result<u64, StoreError> {
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            let done =
                sqlx::query("UPDATE tasks SET error = NULL WHERE module = $1 AND error = $2")
                    .bind(module)
                    .bind(error)
                    .execute(&self.pool)
                    .await?;
            Ok(done.rows_affected())
        })
        .await
    }
}
