//! Materialising fires: in one transaction per batch, take the due tasks
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL), let the caller decide what each
//! fires, insert the runs (the UNIQUE (task, slot, shard) key makes a second
//! fire of a slot impossible), record misfires and skipped fires, hand out
//! pages, and advance `next_fire_at`: all or nothing.

use sqlx::{Any, Row, Transaction};

use crate::store::tasks::{TaskRow, task_from_row, task_select};
use crate::store::{Backend, Store, StoreError, TransientBackoff, placeholders, row_placeholders};

/// One run to create: a slot and a shard of the task being fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    /// The slot, ms since epoch.
    pub scheduled_at: i64,
    /// 0-based shard index.
    pub shard_index: i64,
    /// The shard's parameter.
    pub shard_param: Option<String>,
    /// Merged params as a JSON object.
    pub params: String,
    /// `Some(reason)` records the fire as `skipped` instead of running it.
    pub skipped: Option<String>,
    /// The host offered the run first (see [`crate::cluster::ClusterView`]).
    pub offered_to: Option<String>,
}

/// Slots a misfire policy did not fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MisfireRecord {
    /// Oldest missed slot.
    pub first_slot: i64,
    /// Newest missed slot.
    pub last_slot: i64,
    /// How many.
    pub missed: i64,
    /// The policy that applied.
    pub policy: String,
}

/// What to do with one due task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FireDecision {
    /// Create these runs and move the task on.
    Fire {
        /// Runs to create.
        runs: Vec<NewRun>,
        /// Slots missed, if any.
        misfire: Option<MisfireRecord>,
        /// The task's next slot; `None` with `note` when the schedule is over.
        next_fire_at: Option<i64>,
        /// Why the task has no next slot (e.g. its schedule is finished).
        note: Option<String>,
        /// Ask running runs of this task to stop (concurrency `replace`).
        cancel_running: Option<String>,
    },
    /// The row cannot be scheduled: record why; it stops firing until changed.
    Block(String),
}

/// What a materialisation pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FireBatch {
    /// Due tasks handled.
    pub tasks: usize,
    /// Runs created.
    pub runs: usize,
    /// Slots recorded as missed.
    pub missed: i64,
    /// Runs asked to cancel (concurrency `replace`).
    pub cancelled: Vec<i64>,
    /// Names of the tasks blocked, with the reason.
    pub blocked: Vec<(String, String)>,
}

impl Store {
    /// Takes up to `limit` tasks due at `now` and applies `decide` to each
    /// (given the task and its count of pending or running runs).
    pub async fn fire_due_tasks<F>(
        &self,
        now: i64,
        limit: i64,
        mut decide: F,
    ) -> Result<FireBatch, StoreError>
    where
        F: FnMut(&TaskRow, i64) -> FireDecision,
    {
        let mut backoff = TransientBackoff::default();
        loop {
            match self.fire_due_tasks_once(now, limit, &mut decide).await {
                Err(error) if backoff.should_retry(&error).await => continue,
                result => return result,
            }
        }
    }

    async fn fire_due_tasks_once<F>(
        &self,
        now: i64,
        limit: i64,
        decide: &mut F,
    ) -> Result<FireBatch, StoreError>
    where
        F: FnMut(&TaskRow, i64) -> FireDecision,
    {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let sql = task_select(&format!(
            "WHERE next_fire_at <= $1 AND NOT paused AND error IS NULL ORDER BY next_fire_at LIMIT $2{}",
            self.skip_locked()
        ));
        let rows = sqlx::query(&sql)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let mut batch = FireBatch::default();
        let mut new_runs: Vec<(&TaskRow, NewRun)> = Vec::new();
        let mut task_updates: Vec<TaskUpdate> = Vec::new();
        let tasks: Vec<TaskRow> = rows.iter().map(task_from_row).collect::<Result<_, _>>()?;
        for task in &tasks {
            let active = if task.spec.concurrency.trim() == "allow" {
                0
            } else {
                sqlx::query("SELECT COUNT(*) AS n FROM runs WHERE task = $1 AND state IN ('pending', 'running')")
                    .bind(&task.spec.name)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get::<i64, _>("n")?
            };
            batch.tasks += 1;
            match decide(task, active) {
                FireDecision::Block(reason) => {
                    task_updates.push(TaskUpdate {
                        name: &task.spec.name,
                        next_fire_at: None,
                        last_fire_at: None,
                        error: Some(reason.clone()),
                    });
                    batch.blocked.push((task.spec.name.clone(), reason));
                }
                FireDecision::Fire {
                    runs,
                    misfire,
                    next_fire_at,
                    note,
                    cancel_running,
                } => {
                    if let Some(reason) = cancel_running {
                        let ids = sqlx::query(
                            "UPDATE runs SET cancel_reason = $1 WHERE task = $2 AND state = 'running' RETURNING id",
                        )
                        .bind(&reason)
                        .bind(&task.spec.name)
                        .fetch_all(&mut *tx)
                        .await?;
                        for id in ids {
                            batch.cancelled.push(id.try_get("id")?);
                        }
                    }
                    if let Some(misfire) = &misfire {
                        sqlx::query(
                            "INSERT INTO misfires (task, first_slot, last_slot, missed, policy, recorded_at) VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(&task.spec.name)
                        .bind(misfire.first_slot)
                        .bind(misfire.last_slot)
                        .bind(misfire.missed)
                        .bind(&misfire.policy)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        batch.missed += misfire.missed;
                    }
                    task_updates.push(TaskUpdate {
                        name: &task.spec.name,
                        next_fire_at,
                        last_fire_at: runs.iter().map(|r| r.scheduled_at).max(),
                        error: note,
                    });
                    new_runs.extend(runs.into_iter().map(|run| (task, run)));
                }
            }
        }
        let (paged, unpaged): (Vec<_>, Vec<_>) = new_runs.into_iter().partition(|(task, run)| {
            task.spec.page_size.is_some_and(|s| s > 0) && run.skipped.is_none()
        });
        batch.runs += insert_runs_batched(&mut tx, self.backend, &unpaged, now).await?;
        for (task, run) in &paged {
            batch.runs += usize::from(insert_run(&mut tx, task, run, now).await?);
        }
        update_tasks_batched(&mut tx, self.backend, &task_updates).await?;
        tx.commit().await?;
        Ok(batch)
    }
}

/// The scheduler's bookkeeping for one task after a fire.
struct TaskUpdate<'a> {
    name: &'a str,
    next_fire_at: Option<i64>,
    last_fire_at: Option<i64>,
    error: Option<String>,
}

/// Rows per multi-row statement: well under SQLite's 32,766 parameters.
const ROWS_PER_STATEMENT: usize = 100;

/// Columns of a run row as the scheduler creates it.
const RUN_COLUMNS: &str = "task, task_group, scheduled_at, shard_index, shard_total, shard_param, params, \
    module, selector, timeout_ms, memory_mib, max_attempts, retry_backoff_ms, state, not_before, \
    created_at, finished_at, error, offered_to";
const RUN_COLUMN_COUNT: usize = 19;

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

fn bind_run<'q>(query: AnyQuery<'q>, task: &'q TaskRow, run: &'q NewRun, now: i64) -> AnyQuery<'q> {
    let spec = &task.spec;
    let (state, finished_at) = match run.skipped {
        Some(_) => ("skipped", Some(now)),
        None => ("pending", None),
    };
    query
        .bind(&spec.name)
        .bind(&spec.group)
        .bind(run.scheduled_at)
        .bind(run.shard_index)
        .bind(spec.shard_total.max(1))
        .bind(&run.shard_param)
        .bind(&run.params)
        .bind(&spec.module)
        .bind(&spec.selector)
        .bind(spec.timeout_ms)
        .bind(spec.memory_mib)
        .bind(spec.max_retries.max(0) + 1)
        .bind(spec.retry_backoff_ms.max(0))
        .bind(state)
        .bind(run.scheduled_at.min(now))
        .bind(now)
        .bind(finished_at)
        .bind(&run.skipped)
        .bind(&run.offered_to)
}

/// Inserts runs that need no page, many per statement; a slot and shard
/// that already has a run is left alone. Returns how many were created.
async fn insert_runs_batched(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    runs: &[(&TaskRow, NewRun)],
    now: i64,
) -> Result<usize, StoreError> {
    let mut created = 0;
    for chunk in runs.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO runs ({RUN_COLUMNS}) VALUES {} ON CONFLICT (task, scheduled_at, shard_index) DO NOTHING",
            row_placeholders(backend, chunk.len(), RUN_COLUMN_COUNT)
        );
        let mut query = sqlx::query(&sql);
        for (task, run) in chunk {
            query = bind_run(query, task, run, now);
        }
        created += query.execute(&mut **tx).await?.rows_affected() as usize;
    }
    Ok(created)
}

/// Moves many tasks on in one statement per chunk (`UPDATE … FROM (VALUES …)`;
/// both databases name the VALUES columns `column1`, `column2`, …).
async fn update_tasks_batched(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    updates: &[TaskUpdate<'_>],
) -> Result<(), StoreError> {
    for chunk in updates.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "UPDATE tasks SET next_fire_at = v.column2, last_fire_at = COALESCE(v.column3, tasks.last_fire_at), \
             error = v.column4 FROM (VALUES {}) AS v WHERE tasks.name = v.column1",
            row_placeholders(backend, chunk.len(), 4)
        );
        let mut query = sqlx::query(&sql);
        for update in chunk {
            query = query
                .bind(update.name)
                .bind(update.next_fire_at)
                .bind(update.last_fire_at)
                .bind(&update.error);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Inserts one run (a no-op if the slot and shard already have one) and, for
/// a paged task, hands it a page. Returns whether a run was created.
pub(crate) async fn insert_run(
    tx: &mut Transaction<'_, Any>,
    task: &TaskRow,
    run: &NewRun,
    now: i64,
) -> Result<bool, StoreError> {
    let spec = &task.spec;
    let sql = format!(
        "INSERT INTO runs ({RUN_COLUMNS}) VALUES ({}) \
         ON CONFLICT (task, scheduled_at, shard_index) DO NOTHING RETURNING id",
        placeholders(0, RUN_COLUMN_COUNT)
    );
    let inserted = bind_run(sqlx::query(&sql), task, run, now)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = inserted else {
        return Ok(false);
    };
    let run_id: i64 = row.try_get("id")?;
    if let (Some(page_size), None) = (spec.page_size.filter(|s| *s > 0), &run.skipped) {
        let page = take_page(tx, &spec.name, run_id).await?;
        sqlx::query("UPDATE runs SET page_index = $1, page_size = $2 WHERE id = $3")
            .bind(page)
            .bind(page_size)
            .bind(run_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(true)
}

/// The page for a new run: a page handed back (its run failed for good)
/// first, else the next page of the task's durable cursor.
async fn take_page(
    tx: &mut Transaction<'_, Any>,
    task: &str,
    run_id: i64,
) -> Result<i64, StoreError> {
    let reissued = sqlx::query(
        "SELECT page_index FROM task_pages WHERE task = $1 AND state = 'open' AND run_id IS NULL ORDER BY page_index LIMIT 1",
    )
    .bind(task)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = reissued {
        let page: i64 = row.try_get("page_index")?;
        sqlx::query("UPDATE task_pages SET run_id = $1 WHERE task = $2 AND page_index = $3")
            .bind(run_id)
            .bind(task)
            .bind(page)
            .execute(&mut **tx)
            .await?;
        return Ok(page);
    }
    let row = sqlx::query(
        "INSERT INTO page_cursors (task, next_page) VALUES ($1, 1) \
         ON CONFLICT (task) DO UPDATE SET next_page = page_cursors.next_page + 1 RETURNING next_page",
    )
    .bind(task)
    .fetch_one(&mut **tx)
    .await?;
    let page = row.try_get::<i64, _>("next_page")? - 1;
    sqlx::query(
        "INSERT INTO task_pages (task, page_index, state, run_id) VALUES ($1, $2, 'open', $3)",
    )
    .bind(task)
    .bind(page)
    .bind(run_id)
    .execute(&mut **tx)
    .await?;
    Ok(page)
}
