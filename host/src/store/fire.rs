//! Materialising fires: in one transaction per batch, take the due tasks
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL), let the caller decide what each
//! fires, insert the runs (the UNIQUE (task, slot, shard) key makes a second
//! fire of a slot impossible), record misfires and skipped fires, hand out
//! pages, and advance `next_fire_at`: all or nothing.
//!
//! Fires are made a little ahead of their slot (the scheduler's horizon),
//! except for tasks whose concurrency policy looks at running runs (`forbid`,
//! `replace`): those are decided at their slot. Runs this host may take
//! (offered to it, selector matched) are inserted already claimed, up to the
//! slots the dispatcher reserved: one row write and no claim query saved per
//! run; each starts at its slot.

use sqlx::{Any, Row, Transaction};

use crate::store::runs::ClaimedRun;
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

/// Runs the firing host takes at insert time.
pub struct ClaimAtFire<'a> {
    /// This host.
    pub node: &'a str,
    /// At most this many (free slots reserved for them).
    pub max: usize,
    /// Whether this host's labels satisfy a selector.
    pub accepts: &'a (dyn Fn(Option<&str>) -> bool + Sync),
}

impl std::fmt::Debug for ClaimAtFire<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimAtFire")
            .field("node", &self.node)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl ClaimAtFire<'_> {
    /// Whether `run` of `task` may be taken here: not skipped, not paged
    /// (a paged run takes its page in an insert of its own), offered to this
    /// host or to anyone, and matching its selector.
    fn wants(&self, task: &TaskRow, run: &NewRun) -> bool {
        run.skipped.is_none()
            && task.spec.page_size.is_none_or(|s| s <= 0)
            && run.offered_to.as_deref().is_none_or(|n| n == self.node)
            && (self.accepts)(task.spec.selector.as_deref())
    }
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
    /// Runs created already claimed by this host ([`ClaimAtFire`]).
    pub claimed: Vec<ClaimedRun>,
}

impl Store {
    /// Takes up to `limit` tasks due by `horizon` (now, or a little ahead:
    /// runs are made before their slot and start at it) and applies `decide`
    /// to each (given the task and its count of pending or running runs).
    /// Runs `claim` wants are created already running on its node.
    pub async fn fire_due_tasks<F>(
        &self,
        now: i64,
        horizon: i64,
        limit: i64,
        claim: &ClaimAtFire<'_>,
        mut decide: F,
    ) -> Result<FireBatch, StoreError>
    where
        F: FnMut(&TaskRow, i64) -> FireDecision,
    {
        let mut backoff = TransientBackoff::default();
        loop {
            match self
                .fire_due_tasks_once(now, horizon, limit, claim, &mut decide)
                .await
            {
                Err(error) if backoff.should_retry(&error).await => continue,
                result => return result,
            }
        }
    }

    async fn fire_due_tasks_once<F>(
        &self,
        now: i64,
        horizon: i64,
        limit: i64,
        claim: &ClaimAtFire<'_>,
        decide: &mut F,
    ) -> Result<FireBatch, StoreError>
    where
        F: FnMut(&TaskRow, i64) -> FireDecision,
    {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let sql = task_select(&format!(
            "WHERE next_fire_at <= $1 AND (next_fire_at <= $3 OR TRIM(concurrency) = 'allow') \
             AND NOT paused AND error IS NULL ORDER BY next_fire_at LIMIT $2{}",
            self.skip_locked()
        ));
        let rows = sqlx::query(&sql)
            .bind(horizon)
            .bind(limit)
            .bind(now)
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
        let mut taken = 0;
        let (mine, others): (Vec<_>, Vec<_>) = unpaged.into_iter().partition(|(task, run)| {
            let take = taken < claim.max && claim.wants(task, run);
            taken += usize::from(take);
            take
        });
        batch.claimed = insert_claimed(&mut tx, self.backend, &mine, claim.node, now).await?;
        batch.runs += batch.claimed.len();
        let pending = insert_runs_batched(&mut tx, self.backend, &others, now).await?;
        batch.runs += pending;
        let mut paged_created = 0;
        for (task, run) in &paged {
            paged_created += usize::from(insert_run(&mut tx, task, run, now).await?);
        }
        batch.runs += paged_created;
        if pending + paged_created > 0 {
            let offered = others
                .iter()
                .chain(&paged)
                .filter(|(_, run)| run.skipped.is_none())
                .map(|(_, run)| run.offered_to.as_deref());
            self.notify_runs(&mut tx, offered).await?;
        }
        update_tasks_batched(&mut tx, self.backend, &task_updates).await?;
        tx.commit().await?;
        Ok(batch)
    }
}

impl Store {
    /// PostgreSQL: tells the hosts pending runs `offered` to them (`None`:
    /// to anyone) were created, when the transaction commits. Nothing on
    /// SQLite, whose single host was woken in-process.
    pub(crate) async fn notify_runs<'a>(
        &self,
        tx: &mut Transaction<'_, Any>,
        offered: impl Iterator<Item = Option<&'a str>>,
    ) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let mut hosts = std::collections::BTreeSet::new();
        for host in offered {
            hosts.insert(host.unwrap_or("*"));
        }
        if hosts.is_empty() {
            return Ok(());
        }
        let mut payload = hosts.into_iter().collect::<Vec<_>>().join(",");
        if payload.len() > 7900 {
            payload = "*".to_owned();
        }
        sqlx::query("SELECT pg_notify('carillon_runs', $1)")
            .bind(payload)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// The scheduler's bookkeeping for one task after a fire.
struct TaskUpdate<'a> {
    name: &'a str,
    next_fire_at: Option<i64>,
    last_fire_at: Option<i64>,
    error: Option<String>,
}

/// Rows per multi-row statement: well under SQLite's 32,766 and
/// PostgreSQL's 65,535 parameters.
const ROWS_PER_STATEMENT: usize = 500;

/// Columns of a run row as the scheduler creates it.
const RUN_COLUMNS: &str = "task, task_group, scheduled_at, shard_index, shard_total, shard_param, params, \
    module, selector, timeout_ms, memory_mib, max_attempts, retry_backoff_ms, state, not_before, \
    created_at, finished_at, error, offered_to, node, attempt, started_at";
const RUN_COLUMN_COUNT: usize = 22;

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

/// Binds a new run's columns; with `claimed_by`, the run starts out running
/// there as attempt 1.
fn bind_run<'q>(
    query: AnyQuery<'q>,
    task: &'q TaskRow,
    run: &'q NewRun,
    now: i64,
    claimed_by: Option<&'q str>,
) -> AnyQuery<'q> {
    let spec = &task.spec;
    let (state, finished_at) = match (&run.skipped, claimed_by) {
        (Some(_), _) => ("skipped", Some(now)),
        (None, Some(_)) => ("running", None),
        (None, None) => ("pending", None),
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
        .bind(run.scheduled_at)
        .bind(now)
        .bind(finished_at)
        .bind(&run.skipped)
        .bind(if claimed_by.is_some() {
            None
        } else {
            run.offered_to.as_deref()
        })
        .bind(claimed_by)
        .bind(i64::from(claimed_by.is_some()))
        .bind(claimed_by.map(|_| run.scheduled_at.max(now)))
}

/// Inserts runs already claimed by `node`, many per statement, and returns
/// them as claimed runs (a slot and shard that already has a run is left
/// alone and not returned).
async fn insert_claimed(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    runs: &[(&TaskRow, NewRun)],
    node: &str,
    now: i64,
) -> Result<Vec<ClaimedRun>, StoreError> {
    let mut claimed = Vec::with_capacity(runs.len());
    for chunk in runs.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO runs ({RUN_COLUMNS}) VALUES {} ON CONFLICT (task, scheduled_at, shard_index) DO NOTHING \
             RETURNING id, task, scheduled_at, shard_index",
            row_placeholders(backend, chunk.len(), RUN_COLUMN_COUNT)
        );
        let mut query = sqlx::query(&sql);
        for (task, run) in chunk {
            query = bind_run(query, task, run, now, Some(node));
        }
        let mut ids = std::collections::HashMap::with_capacity(chunk.len());
        for row in query.fetch_all(&mut **tx).await? {
            let key: (String, i64, i64) = (
                row.try_get("task")?,
                row.try_get("scheduled_at")?,
                row.try_get("shard_index")?,
            );
            ids.insert(key, row.try_get::<i64, _>("id")?);
        }
        for (task, run) in chunk {
            let key = (task.spec.name.clone(), run.scheduled_at, run.shard_index);
            if let Some(id) = ids.get(&key) {
                claimed.push(claimed_at_insert(*id, task, run));
            }
        }
    }
    Ok(claimed)
}

/// The claimed run for a row just inserted running (attempt 1, no page, no
/// checkpoint).
fn claimed_at_insert(id: i64, task: &TaskRow, run: &NewRun) -> ClaimedRun {
    let spec = &task.spec;
    ClaimedRun {
        id,
        task: spec.name.clone(),
        group: spec.group.clone(),
        scheduled_at: run.scheduled_at,
        shard_index: run.shard_index,
        shard_total: spec.shard_total.max(1),
        shard_param: run.shard_param.clone(),
        page_index: None,
        page_size: None,
        not_before: run.scheduled_at,
        params: run.params.clone(),
        module: spec.module.clone(),
        timeout_ms: spec.timeout_ms,
        memory_mib: spec.memory_mib,
        attempt: 1,
        max_attempts: spec.max_retries.max(0) + 1,
        retry_backoff_ms: spec.retry_backoff_ms.max(0),
        checkpoint: None,
        selector: spec.selector.clone(),
    }
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
            query = bind_run(query, task, run, now, None);
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
    let inserted = bind_run(sqlx::query(&sql), task, run, now, None)
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
