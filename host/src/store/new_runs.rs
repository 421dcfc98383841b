//! Inserting runs: many per statement, each (task, slot, shard) at most once
//! (the UNIQUE key; a second insert of a slot is a no-op), claimed at insert
//! when the caller says so, and for paged tasks with the next page of the
//! task's durable cursor. Used by the fire transaction and by
//! `carillon task trigger`.

use std::collections::HashMap;

use sqlx::{Any, Row};

use crate::store::claims::ClaimedRun;
use crate::store::sql::{placeholders, row_placeholders};
use crate::store::task_rows::read_task;
use crate::store::write::Tx;
use crate::store::{Backend, Store, StoreError};
use crate::vocab::{RunState, TaskDefinition, TaskRow};

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
    /// The host offered the run first (see the cluster's view of live hosts).
    pub offered_to: Option<String>,
    /// Insert it already claimed by the inserting host (`running` there as
    /// attempt 1). Runs of paged tasks are always inserted pending: each
    /// takes its page in an insert of its own.
    pub claim_here: bool,
    /// Why it exists outside the task's schedule (a chain, a workflow
    /// step): one run per cause and shard.
    pub cause: Option<String>,
    /// Its end is written to the outbox even if its task does not chain
    /// (a workflow step).
    pub watch: bool,
    /// When it may start, if not at `scheduled_at`.
    pub not_before: Option<i64>,
}

/// Rows per multi-row statement: well under SQLite's 32,766 and
/// PostgreSQL's 65,535 parameters.
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// Columns of a run row as the scheduler creates it.
const RUN_COLUMNS: &str = "task, task_group, scheduled_at, shard_index, shard_total, shard_param, params, \
    module, selector, timeout_ms, memory_mib, max_attempts, retry_backoff_ms, state, not_before, \
    created_at, finished_at, error, offered_to, node, attempt, started_at, cause, watched";
const RUN_COLUMN_COUNT: usize = 24;

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
        (Some(_), _) => (RunState::Skipped, Some(now)),
        (None, Some(_)) => (RunState::Running, None),
        (None, None) => (RunState::Pending, None),
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
        .bind(state.as_str())
        .bind(run.not_before.unwrap_or(run.scheduled_at))
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
        .bind(&run.cause)
        .bind(run.watch || spec.chains())
}

/// The key a run is inserted under, as `RETURNING` gives it back.
#[derive(sqlx::FromRow)]
struct Inserted {
    id: i64,
    task: String,
    scheduled_at: i64,
    shard_index: i64,
}

/// Inserts runs already claimed by `node`, many per statement, and returns
/// them as claimed runs (a slot and shard that already has a run is left
/// alone and not returned).
pub(crate) async fn insert_claimed(
    tx: &mut Tx,
    backend: Backend,
    runs: &[(&TaskRow, &NewRun)],
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
        let ids: HashMap<(String, i64, i64), i64> = query
            .try_map(|row| <Inserted as sqlx::FromRow<_>>::from_row(&row))
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .map(|row| ((row.task, row.scheduled_at, row.shard_index), row.id))
            .collect();
        for (task, run) in chunk {
            let key = (task.spec.name.clone(), run.scheduled_at, run.shard_index);
            if let Some(id) = ids.get(&key) {
                claimed.push(claimed_at_insert(*id, task, run, now));
            }
        }
    }
    Ok(claimed)
}

/// The claimed run for a row just inserted running (attempt 1, no page, no
/// checkpoint).
fn claimed_at_insert(id: i64, task: &TaskRow, run: &NewRun, now: i64) -> ClaimedRun {
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
        not_before: run.not_before.unwrap_or(run.scheduled_at),
        params: run.params.clone(),
        module: spec.module.clone(),
        timeout_ms: spec.timeout_ms,
        memory_mib: spec.memory_mib,
        attempt: 1,
        max_attempts: spec.max_retries.max(0) + 1,
        retry_backoff_ms: spec.retry_backoff_ms.max(0),
        checkpoint: None,
        selector: spec.selector.clone(),
        planned_start: run.scheduled_at.max(now),
        mounts: spec.mounts.clone(),
    }
}

/// Inserts pending runs that need no page, many per statement; a slot and
/// shard that already has a run is left alone. Returns how many were created.
pub(crate) async fn insert_pending(
    tx: &mut Tx,
    backend: Backend,
    runs: &[(&TaskRow, &NewRun)],
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

/// Inserts one pending run (a no-op if the slot and shard already have one)
/// and, for a paged task, hands it a page. Returns whether a run was created.
pub(crate) async fn insert_one(
    tx: &mut Tx,
    task: &TaskRow,
    run: &NewRun,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(insert_returning(tx, task, run, now).await?.is_some())
}

/// Inserts one pending run unless its slot and shard, or its cause and
/// shard, already have one; for a paged task, hands it a page. Returns
/// the new run's id.
async fn insert_returning(
    tx: &mut Tx,
    task: &TaskRow,
    run: &NewRun,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let spec = &task.spec;
    let sql = format!(
        "INSERT INTO runs ({RUN_COLUMNS}) VALUES ({}) ON CONFLICT DO NOTHING RETURNING id",
        placeholders(0, RUN_COLUMN_COUNT)
    );
    let inserted = bind_run(sqlx::query(&sql), task, run, now, None)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = inserted else {
        return Ok(None);
    };
    let run_id: i64 = row.try_get("id")?;
    if let (Some(page_size), None) = (spec.page_size.filter(|_| spec.is_paged()), &run.skipped) {
        let page = take_page(tx, &spec.name, run_id).await?;
        sqlx::query("UPDATE runs SET page_index = $1, page_size = $2 WHERE id = $3")
            .bind(page)
            .bind(page_size)
            .bind(run_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(Some(run_id))
}

/// The slots caused runs are stamped with: the millisecond before `now`,
/// then one earlier for each fire of the same task made in this pass, so a
/// fan-out of one task to hundreds of runs does not collide on the (task,
/// slot, shard) key. Backwards, into slots the scheduler has already made
/// (it makes them ahead of time), so a caused run never takes a slot a
/// schedule is about to fire.
pub(crate) struct Stamps {
    pub(crate) now: i64,
    next: HashMap<String, i64>,
}

impl Stamps {
    pub(crate) fn new(now: i64) -> Self {
        Self {
            now,
            next: HashMap::new(),
        }
    }

    pub(crate) fn next_for(&self, task: &str) -> i64 {
        self.next.get(task).copied().unwrap_or(self.now - 1)
    }

    pub(crate) fn used(&mut self, task: &str, last: Option<i64>) {
        if let Some(last) = last {
            self.next.insert(task.to_owned(), last - 1);
        }
    }
}

/// Makes one caused fire of `task` (checked as `definition`): a pending run
/// per shard with `params` and `cause`, startable now, stamped by
/// `stamps`; `watch` writes their ends to the outbox whatever the task
/// chains. Returns the new runs' ids (none when the cause was already
/// fired).
pub(crate) async fn fire_caused(
    tx: &mut Tx,
    task: &TaskRow,
    definition: &TaskDefinition,
    params: &str,
    cause: &str,
    watch: bool,
    stamps: &mut Stamps,
) -> Result<Vec<i64>, StoreError> {
    let runs: Vec<NewRun> = (0..definition.shard_total)
        .map(|index| NewRun {
            scheduled_at: stamps.now,
            shard_index: i64::from(index),
            shard_param: definition.shard_params.get(&index).cloned(),
            params: params.to_owned(),
            skipped: None,
            offered_to: None,
            claim_here: false,
            cause: Some(cause.to_owned()),
            watch,
            not_before: Some(stamps.now),
        })
        .collect();
    let name = &task.spec.name;
    let made = insert_caused(tx, task, &runs, stamps.next_for(name), stamps.now).await?;
    stamps.used(name, made.last().map(|(_, at)| *at));
    Ok(made.into_iter().map(|(id, _)| id).collect())
}

/// How many earlier slots a caused fire tries before giving up.
const STAMP_TRIES: i64 = 10_000;

/// Inserts the runs of one caused fire of `task` (a chained run, a workflow
/// step: every run carries the same cause): each shard once per cause, so
/// a second insert of the same cause is a no-op. The fire is stamped with
/// the first slot from `first_stamp` back that the task has no run at (its
/// shards share it, as a scheduled fire's do). Returns each new run's id
/// and slot.
async fn insert_caused(
    tx: &mut Tx,
    task: &TaskRow,
    runs: &[NewRun],
    first_stamp: i64,
    now: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let name = &task.spec.name;
    let mut stamp = first_stamp;
    'slots: for _ in 0..STAMP_TRIES {
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM runs WHERE task = $1 AND scheduled_at = $2 LIMIT 1")
                .bind(name)
                .bind(stamp)
                .fetch_optional(&mut **tx)
                .await?;
        if taken.is_some() {
            stamp -= 1;
            continue;
        }
        let mut made = Vec::with_capacity(runs.len());
        for run in runs {
            let run = NewRun {
                scheduled_at: stamp,
                ..run.clone()
            };
            match insert_returning(tx, task, &run, now).await? {
                Some(id) => made.push((id, stamp)),
                None => {
                    let already: Option<i64> = sqlx::query_scalar(
                        "SELECT id FROM runs WHERE task = $1 AND cause = $2 AND shard_index = $3",
                    )
                    .bind(name)
                    .bind(&run.cause)
                    .bind(run.shard_index)
                    .fetch_optional(&mut **tx)
                    .await?;
                    if already.is_none() {
                        // Another writer took the slot meanwhile: the shards
                        // made at it are taken back, and the fire tries the
                        // slot before (its shards share one slot).
                        for (id, _) in made.drain(..) {
                            sqlx::query("DELETE FROM task_pages WHERE run_id = $1")
                                .bind(id)
                                .execute(&mut **tx)
                                .await?;
                            sqlx::query("DELETE FROM runs WHERE id = $1")
                                .bind(id)
                                .execute(&mut **tx)
                                .await?;
                        }
                        stamp -= 1;
                        continue 'slots;
                    }
                }
            }
        }
        return Ok(made);
    }
    Err(StoreError::Corrupt(format!(
        "task `{name}` has runs at {STAMP_TRIES} slots in a row back from {first_stamp}: no slot left to stamp a caused run with"
    )))
}

/// The page for a new run: a page handed back (its run failed for good)
/// first, else the next page of the task's durable cursor.
async fn take_page(tx: &mut Tx, task: &str, run_id: i64) -> Result<i64, StoreError> {
    let reissued: Option<i64> = sqlx::query_scalar(
        "SELECT page_index FROM task_pages WHERE task = $1 AND state = 'open' AND run_id IS NULL \
         ORDER BY page_index LIMIT 1",
    )
    .bind(task)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(page) = reissued {
        sqlx::query("UPDATE task_pages SET run_id = $1 WHERE task = $2 AND page_index = $3")
            .bind(run_id)
            .bind(task)
            .bind(page)
            .execute(&mut **tx)
            .await?;
        return Ok(page);
    }
    let next_page: i64 = sqlx::query_scalar(
        "INSERT INTO page_cursors (task, next_page) VALUES ($1, 1) \
         ON CONFLICT (task) DO UPDATE SET next_page = page_cursors.next_page + 1 RETURNING next_page",
    )
    .bind(task)
    .fetch_one(&mut **tx)
    .await?;
    let page = next_page - 1;
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

impl Store {
    /// Creates runs of `task` outside its schedule (`carillon task trigger`),
    /// returning how many were created (none if there is no such task).
    pub async fn insert_runs(
        &self,
        task: &str,
        runs: &[NewRun],
        now: i64,
    ) -> Result<usize, StoreError> {
        let select = self.task_select("WHERE name = $1");
        let select = select.as_str();
        self.write_tx(|mut tx| async move {
            let row = sqlx::query(select)
                .bind(task)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                return Ok((tx, 0));
            };
            let task = read_task(&row).task;
            let mut created = 0;
            for run in runs {
                created += usize::from(insert_one(&mut tx, &task, run, now).await?);
            }
            if created > 0 {
                self.notify_runs(&mut tx, std::iter::once(None)).await?;
            }
            Ok((tx, created))
        })
        .await
    }
}
