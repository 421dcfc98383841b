//! The `tasks` table: the public interface other systems write with plain
//! SQL, and the scheduler's bookkeeping columns (`next_fire_at`,
//! `last_fire_at`, `error`, `error_code`).

use sqlx::Row;

use crate::store::sql::row_placeholders;
use crate::store::task_rows::{ReadRow, RowKey, columns, read_task};
use crate::store::write::{AnyQuery, Tx};
use crate::store::{Backend, Store, StoreError};
use crate::vocab::{
    ChainRow, TaskError, TaskErrorKind, TaskRow, TaskSpec, loop_through, parse_task_list,
};

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
    pub error: Option<TaskError>,
}

/// The columns a user sets, in the order [`Store::upsert_task`] binds them.
const SPEC_COLUMNS: [&str; 28] = [
    "name",
    "task_group",
    "module",
    "schedule",
    "time_zone",
    "paused",
    "shard_total",
    "shard_params",
    "page_size",
    "params",
    "concurrency",
    "misfire",
    "timeout_ms",
    "memory_mib",
    "max_retries",
    "retry_backoff_ms",
    "selector",
    "start_at",
    "end_at",
    "keep_runs",
    "allowed_hosts",
    "secrets",
    "mounts",
    "databases",
    "calendar",
    "on_success",
    "on_failure",
    "keepers",
];

/// `task_group = $2, module = $3, …`: every definition column but the
/// name, numbered as [`bind_spec`] binds them.
fn spec_assignments() -> String {
    SPEC_COLUMNS
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, column)| format!("{column} = ${}", i + 1))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Binds `spec`'s columns in [`SPEC_COLUMNS`]' order.
fn bind_spec<'q>(query: AnyQuery<'q>, spec: &'q TaskSpec) -> AnyQuery<'q> {
    query
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
        .bind(spec.keep_runs)
        .bind(&spec.allowed_hosts)
        .bind(&spec.secrets)
        .bind(&spec.mounts)
        .bind(&spec.databases)
        .bind(&spec.calendar)
        .bind(&spec.on_success)
        .bind(&spec.on_failure)
        .bind(&spec.keepers)
}

/// Splits rows into readable tasks and unreadable rows.
pub(crate) fn split_readable(rows: impl Iterator<Item = ReadRow>) -> (Vec<TaskRow>, Vec<ReadRow>) {
    let (unreadable, readable): (Vec<ReadRow>, Vec<ReadRow>) =
        rows.partition(|row| row.task.unreadable.is_some());
    (
        readable.into_iter().map(|row| row.task).collect(),
        unreadable,
    )
}

/// Records on each unreadable row why it does not fire (the columns and
/// what they hold), so no pass reads it again until someone changes it; and
/// says so in the host's log.
pub(crate) async fn set_aside(
    tx: &mut Tx,
    backend: Backend,
    rows: &[ReadRow],
) -> Result<(), StoreError> {
    for row in rows {
        let problem = row.task.unreadable.clone().unwrap_or_default();
        let shown = match &row.key {
            RowKey::Rowid(rowid) => format!("rowid {rowid}"),
            RowKey::Name(name) => format!("`{}`", name.escape_debug()),
        };
        tracing::warn!(
            task = %row.task.spec.name.escape_debug(),
            "task row {shown} cannot be read and does not fire until it is fixed: {problem}"
        );
        let error = TaskError::invalid(problem);
        let sql = match (backend, &row.key) {
            (Backend::Sqlite, RowKey::Rowid(_)) => {
                "UPDATE tasks SET next_fire_at = NULL, error = $1, error_code = $2 WHERE rowid = $3"
            }
            _ => {
                "UPDATE tasks SET next_fire_at = NULL, error = $1, error_code = $2 WHERE name = $3"
            }
        };
        let query = sqlx::query(sql)
            .bind(&error.message)
            .bind(error.kind.as_str());
        let query = match &row.key {
            RowKey::Rowid(rowid) => query.bind(*rowid),
            RowKey::Name(name) => query.bind(name),
        };
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

impl Store {
    /// `SELECT` of every task column, then `filter` (`WHERE …`, `ORDER BY …`).
    pub(crate) fn task_select(&self, filter: &str) -> String {
        format!("SELECT {} FROM tasks {filter}", columns(self.backend))
    }

    /// Every task, by name. A row with unreadable columns is listed with
    /// them named in [`TaskRow::unreadable`].
    pub async fn list_tasks(&self) -> Result<Vec<TaskRow>, StoreError> {
        let rows = sqlx::query(&self.task_select("ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|row| read_task(row).task).collect())
    }

    /// The task called `name`.
    pub async fn get_task(&self, name: &str) -> Result<Option<TaskRow>, StoreError> {
        let row = sqlx::query(&self.task_select("WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(|row| read_task(row).task))
    }

    /// What is wrong with `spec`'s chains beside the table's: a loop they
    /// would close (`on_success`/`on_failure` are checked one by one when
    /// the row is read; a loop needs the whole table), or a task they name
    /// that does not exist. `None` when they are fine or there are none.
    pub async fn chain_problem(&self, spec: &TaskSpec) -> Result<Option<TaskError>, StoreError> {
        if !spec.chains() {
            return Ok(None);
        }
        for column in ["on_success", "on_failure"] {
            let text = if column == "on_success" {
                &spec.on_success
            } else {
                &spec.on_failure
            };
            let names = text
                .as_deref()
                .and_then(|t| parse_task_list(t).ok())
                .unwrap_or_default();
            for name in names {
                let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM tasks WHERE name = $1")
                    .bind(&name)
                    .fetch_optional(&self.pool)
                    .await?;
                if exists.is_none() {
                    return Ok(Some(
                        TaskError::invalid(format!(
                            "column `{column}` names `{name}`, which is not a task; create it first \
                             (a task that should run only when chained can have the schedule `manual`)"
                        ))
                        .in_column(column),
                    ));
                }
            }
        }
        let rows: Vec<ChainRow> = sqlx::query_as(
            "SELECT name, on_success, on_failure FROM tasks \
             WHERE on_success IS NOT NULL OR on_failure IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(loop_through(spec, &rows).map(|(column, path)| {
            TaskError::invalid(format!(
                "column `{column}` makes a loop: {}; a chain may not loop, so remove one of these",
                path.join(" → ")
            ))
            .in_column(column)
        }))
    }

    /// Inserts a new task or, if the name exists, replaces its definition
    /// (which makes the host recompute when it fires). Returns whether it was new.
    pub async fn upsert_task(&self, spec: &TaskSpec) -> Result<bool, StoreError> {
        let update = format!("UPDATE tasks SET {} WHERE name = $1", spec_assignments());
        let insert = format!(
            "INSERT INTO tasks ({}) VALUES ({})",
            SPEC_COLUMNS.join(", "),
            crate::store::sql::placeholders(0, SPEC_COLUMNS.len())
        );
        self.write(|| async {
            let existed = sqlx::query("SELECT 1 FROM tasks WHERE name = $1")
                .bind(&spec.name)
                .fetch_optional(&self.pool)
                .await?
                .is_some();
            bind_spec(sqlx::query(if existed { &update } else { &insert }), spec)
                .execute(&self.pool)
                .await?;
            Ok(!existed)
        })
        .await
    }

    /// Replaces the definition of task `spec.name` if its revision is still
    /// `revision` (no one else changed it since it was read); returns
    /// whether it did. An edit made from a read row goes through here, so
    /// two edits at once never silently undo each other.
    pub async fn update_task_at(&self, spec: &TaskSpec, revision: i64) -> Result<bool, StoreError> {
        let update = format!(
            "UPDATE tasks SET {} WHERE name = $1 AND revision = ${}",
            spec_assignments(),
            SPEC_COLUMNS.len() + 1
        );
        let updated = self
            .write_rows(&update, |query| bind_spec(query, spec).bind(revision))
            .await?;
        Ok(updated > 0)
    }

    /// Inserts a new task; returns false (and changes nothing) if the name
    /// is taken.
    pub async fn insert_task(&self, spec: &TaskSpec) -> Result<bool, StoreError> {
        let insert = format!(
            "INSERT INTO tasks ({}) VALUES ({}) ON CONFLICT (name) DO NOTHING",
            SPEC_COLUMNS.join(", "),
            crate::store::sql::placeholders(0, SPEC_COLUMNS.len())
        );
        let inserted = self
            .write_rows(&insert, |query| bind_spec(query, spec))
            .await?;
        Ok(inserted > 0)
    }

    /// Deletes a task; its runs and logs stay. Returns whether it existed.
    pub async fn delete_task(&self, name: &str) -> Result<bool, StoreError> {
        let deleted = self
            .write_rows("DELETE FROM tasks WHERE name = $1", |query| {
                query.bind(name)
            })
            .await?;
        Ok(deleted > 0)
    }

    /// Pauses or resumes a task. Returns whether it exists.
    pub async fn set_paused(&self, name: &str, paused: bool) -> Result<bool, StoreError> {
        let found = self
            .write_rows("UPDATE tasks SET paused = $1 WHERE name = $2", |query| {
                query.bind(paused).bind(name)
            })
            .await?;
        Ok(found > 0)
    }

    /// Tasks whose next fire time must be (re)computed: new rows, and rows
    /// whose schedule changed. Paused and erroneous rows are left alone.
    ///
    /// A row with unreadable columns is set aside here: its error is
    /// recorded (naming the columns) and it is not returned.
    pub async fn unscheduled_tasks(&self, limit: i64) -> Result<Vec<TaskRow>, StoreError> {
        let rows = sqlx::query(&self.task_select(
            "WHERE next_fire_at IS NULL AND error IS NULL AND NOT paused ORDER BY name LIMIT $1",
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let (readable, unreadable) = split_readable(rows.iter().map(read_task));
        if !unreadable.is_empty() {
            self.write_tx(|mut tx| {
                let unreadable = &unreadable;
                async move {
                    set_aside(&mut tx, self.backend, unreadable).await?;
                    Ok((tx, ()))
                }
            })
            .await?;
        }
        Ok(readable)
    }

    /// Records the scheduler's verdicts on tasks: each one's next fire time,
    /// or why it has none. A row whose revision changed meanwhile (someone
    /// edited it) is left for the next pass.
    pub async fn set_schedules(&self, verdicts: &[ScheduleVerdict]) -> Result<(), StoreError> {
        if verdicts.is_empty() {
            return Ok(());
        }
        let backend = self.backend;
        self.write_tx(|mut tx| async move {
            for chunk in verdicts.chunks(200) {
                let sql = format!(
                    "UPDATE tasks SET next_fire_at = v.column3, error = v.column4, error_code = v.column5 \
                     FROM (VALUES {}) AS v WHERE tasks.name = v.column1 AND tasks.revision = v.column2",
                    row_placeholders(backend, chunk.len(), 5)
                );
                let mut query = sqlx::query(&sql);
                for verdict in chunk {
                    let error = verdict.error.as_ref();
                    query = query
                        .bind(&verdict.name)
                        .bind(verdict.revision)
                        .bind(verdict.next_fire_at)
                        .bind(error.map(|e| e.message.as_str()))
                        .bind(error.map(|e| e.kind.as_str()));
                }
                query.execute(&mut *tx).await?;
            }
            Ok((tx, ()))
        })
        .await
    }

    /// Stops every task of `module` from firing, recording `error` on them.
    pub async fn block_module_tasks(
        &self,
        module: &str,
        error: &TaskError,
    ) -> Result<u64, StoreError> {
        self.write_rows(
            "UPDATE tasks SET next_fire_at = NULL, error = $1, error_code = $2 WHERE module = $3",
            |query| {
                query
                    .bind(&error.message)
                    .bind(error.kind.as_str())
                    .bind(module)
            },
        )
        .await
    }

    /// Lets the tasks of `module` that were blocked because it was not
    /// loaded be scheduled again: found by their error code, whatever the
    /// message says. Rows blocked by a host older than the code (error set,
    /// no code: during a rolling upgrade) are found by that host's message.
    pub async fn unblock_module_tasks(&self, module: &str) -> Result<u64, StoreError> {
        self.write_rows(
            "UPDATE tasks SET error = NULL, error_code = NULL WHERE module = $1 \
             AND (error_code = $2 OR (error_code IS NULL AND error LIKE $3))",
            |query| {
                query
                    .bind(module)
                    .bind(TaskErrorKind::MissingModule.as_str())
                    .bind(format!("module `{module}` is not loaded%"))
            },
        )
        .await
    }

    /// The earliest task fire time after `now`.
    pub async fn next_fire_after(&self, now: i64) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(next_fire_at) AS t FROM tasks WHERE next_fire_at > $1 AND NOT paused AND error IS NULL",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<Option<i64>, _>("t")?)
    }
}
