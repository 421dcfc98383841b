//! Materialising fires: in one transaction per batch, take the due tasks
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL), ask the caller's
//! [`FirePlanner`] what each fires, insert the runs (the UNIQUE (task, slot,
//! shard) key makes a second fire of a slot impossible), record misfires and
//! skipped fires, hand out pages, and advance `next_fire_at`: all or nothing.
//!
//! The store decides nothing here: which slots fire, which runs are skipped,
//! to which host each is offered and which are claimed by this host at
//! insert all come from the planner; the store only makes them durable.
//! Fires are taken a little ahead of their slot (the `horizon`), except for
//! tasks whose concurrency policy looks at running runs (`forbid`,
//! `replace`): those are only taken once their slot is due (`now`).

use crate::store::claims::ClaimedRun;
use crate::store::new_runs::{
    NewRun, ROWS_PER_STATEMENT, insert_claimed, insert_one, insert_pending,
};
use crate::store::sql::row_placeholders;
use crate::store::task_rows::read_task;
use crate::store::tasks::{set_aside, split_readable};
use crate::store::write::Tx;
use crate::store::{Backend, Store, StoreError};
use crate::vocab::{Concurrency, TaskError, TaskRow};

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
        /// Why the task has no next slot (its schedule is finished).
        note: Option<TaskError>,
        /// Ask the task's running runs to stop with this reason (concurrency
        /// `replace`).
        cancel_running: Option<String>,
    },
    /// The row cannot be scheduled: record why; it stops firing until changed.
    Block(TaskError),
}

/// Decides, inside the fire transaction, what each due task fires.
pub trait FirePlanner {
    /// A (new) attempt of the transaction begins: anything decided in an
    /// earlier attempt was rolled back and must be forgotten (claims counted,
    /// say).
    fn begin(&self);

    /// What `task` fires; `active` is how many of its runs are pending or
    /// running (counted only for tasks whose concurrency is not `allow`;
    /// 0 for those).
    fn decide(&self, task: &TaskRow, active: i64) -> FireDecision;
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
    pub blocked: Vec<(String, TaskError)>,
    /// Runs created already claimed by this host ([`NewRun::claim_here`]).
    pub claimed: Vec<ClaimedRun>,
}

/// The scheduler's bookkeeping for one task after a fire.
struct TaskUpdate<'a> {
    name: &'a str,
    next_fire_at: Option<i64>,
    last_fire_at: Option<i64>,
    error: Option<TaskError>,
}

impl Store {
    /// Takes up to `limit` tasks due by `horizon` (now, or a little ahead:
    /// their runs start at their slot), asks `planner` what each fires and
    /// records it in one transaction. Runs marked [`NewRun::claim_here`] are
    /// inserted running on `node`. Tasks whose concurrency policy is not
    /// `allow` are only taken once due by `now`.
    pub async fn fire_due_tasks(
        &self,
        now: i64,
        horizon: i64,
        limit: i64,
        node: &str,
        planner: &(impl FirePlanner + Sync),
    ) -> Result<FireBatch, StoreError> {
        let sql = self.task_select(&format!(
            "WHERE next_fire_at <= $1 AND (next_fire_at <= $3 OR TRIM(concurrency) = '{}') \
             AND NOT paused AND error IS NULL ORDER BY next_fire_at LIMIT $2{}",
            Concurrency::Allow.as_str(),
            self.skip_locked()
        ));
        let sql = sql.as_str();
        let backend = self.backend;
        self.write_tx(|mut tx| async move {
            planner.begin();
            let rows = sqlx::query(sql)
                .bind(horizon)
                .bind(limit)
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
            // A row that cannot be read is set aside (its error recorded),
            // and the others fire.
            let (tasks, unreadable) = split_readable(rows.iter().map(read_task));
            set_aside(&mut tx, backend, &unreadable).await?;
            let mut batch = FireBatch::default();
            let mut new_runs: Vec<(&TaskRow, NewRun)> = Vec::new();
            let mut updates: Vec<TaskUpdate> = Vec::new();
            for task in &tasks {
                batch.tasks += 1;
                let active = count_active(&mut tx, task).await?;
                match planner.decide(task, active) {
                    FireDecision::Block(error) => {
                        updates.push(TaskUpdate {
                            name: &task.spec.name,
                            next_fire_at: None,
                            last_fire_at: None,
                            error: Some(error.clone()),
                        });
                        batch.blocked.push((task.spec.name.clone(), error));
                    }
                    FireDecision::Fire {
                        runs,
                        misfire,
                        next_fire_at,
                        note,
                        cancel_running,
                    } => {
                        if let Some(reason) = cancel_running {
                            batch.cancelled.extend(
                                ask_running_to_cancel(&mut tx, &task.spec.name, &reason).await?,
                            );
                        }
                        if let Some(misfire) = &misfire {
                            record_misfire(&mut tx, &task.spec.name, misfire, now).await?;
                            batch.missed += misfire.missed;
                        }
                        updates.push(TaskUpdate {
                            name: &task.spec.name,
                            next_fire_at,
                            last_fire_at: runs.iter().map(|r| r.scheduled_at).max(),
                            error: note,
                        });
                        new_runs.extend(runs.into_iter().map(|run| (task, run)));
                    }
                }
            }
            let mut paged = Vec::new();
            let mut claimed = Vec::new();
            let mut pending = Vec::new();
            for (task, run) in &new_runs {
                if task.spec.is_paged() && run.skipped.is_none() {
                    paged.push((*task, run));
                } else if run.claim_here && run.skipped.is_none() {
                    claimed.push((*task, run));
                } else {
                    pending.push((*task, run));
                }
            }
            batch.claimed = insert_claimed(&mut tx, backend, &claimed, node, now).await?;
            let created_pending = insert_pending(&mut tx, backend, &pending, now).await?;
            let mut created_paged = 0;
            for (task, run) in &paged {
                created_paged += usize::from(insert_one(&mut tx, task, run, now).await?);
            }
            batch.runs = batch.claimed.len() + created_pending + created_paged;
            if created_pending + created_paged > 0 {
                let offered = pending
                    .iter()
                    .chain(&paged)
                    .filter(|(_, run)| run.skipped.is_none())
                    .map(|(_, run)| run.offered_to.as_deref());
                self.notify_runs(&mut tx, offered).await?;
            }
            update_tasks(&mut tx, backend, &updates).await?;
            Ok((tx, batch))
        })
        .await
    }
}

/// Runs of `task` pending or running, for a task whose concurrency policy
/// looks at them; 0 without a look for `allow` tasks.
async fn count_active(tx: &mut Tx, task: &TaskRow) -> Result<i64, StoreError> {
    if task.spec.concurrency.parse() == Ok(Concurrency::Allow) {
        return Ok(0);
    }
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM runs WHERE task = $1 AND state IN ('pending', 'running')",
    )
    .bind(&task.spec.name)
    .fetch_one(&mut **tx)
    .await?)
}

/// Sets `reason` as the cancel request of `task`'s running runs; returns their ids.
async fn ask_running_to_cancel(
    tx: &mut Tx,
    task: &str,
    reason: &str,
) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE runs SET cancel_reason = $1 WHERE task = $2 AND state = 'running' RETURNING id",
    )
    .bind(reason)
    .bind(task)
    .fetch_all(&mut **tx)
    .await?)
}

async fn record_misfire(
    tx: &mut Tx,
    task: &str,
    misfire: &MisfireRecord,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO misfires (task, first_slot, last_slot, missed, policy, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(task)
    .bind(misfire.first_slot)
    .bind(misfire.last_slot)
    .bind(misfire.missed)
    .bind(&misfire.policy)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves many tasks on in one statement per chunk (`UPDATE … FROM (VALUES …)`;
/// both databases name the VALUES columns `column1`, `column2`, …).
async fn update_tasks(
    tx: &mut Tx,
    backend: Backend,
    updates: &[TaskUpdate<'_>],
) -> Result<(), StoreError> {
    for chunk in updates.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "UPDATE tasks SET next_fire_at = v.column2, last_fire_at = COALESCE(v.column3, tasks.last_fire_at), \
             error = v.column4, error_code = v.column5 FROM (VALUES {}) AS v WHERE tasks.name = v.column1",
            row_placeholders(backend, chunk.len(), 5)
        );
        let mut query = sqlx::query(&sql);
        for update in chunk {
            let error = update.error.as_ref();
            query = query
                .bind(update.name)
                .bind(update.next_fire_at)
                .bind(update.last_fire_at)
                .bind(error.map(|e| e.message.as_str()))
                .bind(error.map(|e| e.kind.as_str()));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
