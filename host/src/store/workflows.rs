//! `workflows` and `workflow_steps` (definitions, public tables) and
//! `workflow_runs` and `workflow_run_steps` (each run and its steps).
//! Starting a run and moving it on happen in one transaction each, with
//! the run's row locked (`FOR UPDATE` on PostgreSQL), so hosts following
//! up the ends of two steps of one run take turns; a step's runs carry
//! the cause `workflow RUN STEP TRY`, unique per task and shard, so each
//! try of a step runs once across a cluster.
//!
//! What moves is decided by the rules in `vocab::workflow` (which steps
//! start or are skipped, how a run ended, a step's params); this file
//! reads the rows they need and makes the result durable.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::Row;

use crate::store::new_runs::{Stamps, fire_caused};
use crate::store::task_rows::{columns, read_task};
use crate::store::write::Tx;
use crate::store::{Backend, Store, StoreError};
use crate::vocab::{
    FireEnd, HTTP_MODULE, MAX_TEXT_BYTES, RunWhen, StepDef, StepMove, StepState, TaskDefinition,
    WorkflowDef, WorkflowError, WorkflowState, next_moves, parse_after, parse_outputs,
    parse_params, step_cause, substitute, workflow_state,
};

/// A workflow as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkflowRecord {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Its steps, in order.
    pub steps: Vec<StepDef>,
    /// When it was made (ms).
    pub created_at: i64,
    /// When it was last changed (ms).
    pub updated_at: i64,
    /// A step column that could not be read (written with SQL), if any:
    /// the step is kept with that column's default, and [`Self::check`]
    /// refuses the workflow, naming it.
    #[serde(skip)]
    pub unreadable: Option<String>,
}

impl WorkflowRecord {
    /// Whether it can run as it stands: every column read, and the
    /// steps holding together.
    pub fn check(&self) -> Result<(), WorkflowError> {
        if let Some(reason) = &self.unreadable {
            return Err(WorkflowError {
                workflow: self.name.clone(),
                reason: reason.clone(),
            });
        }
        self.definition().check()
    }

    /// Its definition.
    pub fn definition(&self) -> WorkflowDef {
        WorkflowDef {
            name: self.name.clone(),
            steps: self.steps.clone(),
        }
    }
}

/// A run of a workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct WorkflowRunRow {
    /// Its id.
    pub id: i64,
    /// The workflow.
    pub workflow: String,
    /// How it stands.
    #[sqlx(try_from = "String")]
    pub state: WorkflowState,
    /// Who or what started it.
    pub started_by: String,
    /// The params it was started with (a JSON object).
    pub params: String,
    /// When it started (ms).
    pub created_at: i64,
    /// When it ended (ms).
    pub finished_at: Option<i64>,
}

/// A step of a workflow run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StepRow {
    /// The step.
    pub step: String,
    /// The task it runs.
    pub task: String,
    /// Where it is.
    #[sqlx(try_from = "String")]
    pub state: StepState,
    /// Tries started.
    pub tries: i64,
    /// The first run of its latest try.
    pub run_id: Option<i64>,
    /// What it handed on (a JSON object).
    pub outputs: Option<String>,
    /// Why it failed, or who marked it succeeded.
    pub error: Option<String>,
    /// When its latest try started (ms).
    pub started_at: Option<i64>,
    /// When it ended (ms).
    pub finished_at: Option<i64>,
}

/// What starting a workflow run came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// The run, and the runs its first steps made.
    Run {
        /// The workflow run.
        id: i64,
        /// Task runs made.
        runs_created: usize,
    },
    /// No workflow of that name.
    NoSuchWorkflow,
    /// Its definition does not hold together.
    Invalid(WorkflowError),
}

/// What an operator's action on a step came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAction {
    /// Done: the run goes on.
    Done,
    /// No such run or step.
    NotFound,
    /// The step is not in a state the action applies to.
    Refused(String),
}

const RUN_COLUMNS: &str = "id, workflow, state, started_by, params, created_at, finished_at";
const STEP_COLUMNS: &str =
    "step, task, state, tries, run_id, outputs, error, started_at, finished_at";

impl Store {
    /// Every workflow, by name.
    pub async fn list_workflows(&self) -> Result<Vec<WorkflowRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, description, created_at, updated_at FROM workflows ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        let steps = sqlx::query(
            "SELECT workflow, name, task, after, run_when, params FROM workflow_steps \
             ORDER BY workflow, position, name",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut by_workflow: BTreeMap<String, (Vec<StepDef>, Option<String>)> = BTreeMap::new();
        for row in &steps {
            let workflow: String = row.try_get("workflow")?;
            let (step, problem) = read_step(row)?;
            let (steps, unreadable) = by_workflow.entry(workflow).or_default();
            steps.push(step);
            if unreadable.is_none() {
                *unreadable = problem;
            }
        }
        rows.iter()
            .map(|row| {
                let name: String = row.try_get("name")?;
                let (steps, unreadable) = by_workflow.remove(&name).unwrap_or_default();
                Ok(WorkflowRecord {
                    steps,
                    unreadable,
                    name,
                    description: row.try_get("description")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// Workflow `name`.
    pub async fn get_workflow(&self, name: &str) -> Result<Option<WorkflowRecord>, StoreError> {
        let mut tx = self.pool.acquire().await?;
        read_workflow(&mut tx, name).await
    }

    /// Creates or replaces workflow `def` (its steps replaced whole);
    /// returns whether it was new. Runs in flight keep the steps they
    /// started with.
    pub async fn put_workflow(
        &self,
        def: &WorkflowDef,
        description: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write_tx(|mut tx| async move {
            let updated = sqlx::query(
                "UPDATE workflows SET description = $1, updated_at = $2 WHERE name = $3",
            )
            .bind(description)
            .bind(now)
            .bind(&def.name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                sqlx::query(
                    "INSERT INTO workflows (name, description, created_at, updated_at) VALUES ($1, $2, $3, $3) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(&def.name)
                .bind(description)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("DELETE FROM workflow_steps WHERE workflow = $1")
                .bind(&def.name)
                .execute(&mut *tx)
                .await?;
            for (position, step) in def.steps.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO workflow_steps (workflow, name, task, after, run_when, params, position) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&def.name)
                .bind(&step.name)
                .bind(&step.task)
                .bind((!step.after.is_empty()).then(|| step.after.join(", ")))
                .bind(step.when.as_str())
                .bind(serde_json::to_string(&step.params).unwrap_or_else(|_| "{}".into()))
                .bind(position as i64)
                .execute(&mut *tx)
                .await?;
            }
            Ok((tx, updated == 0))
        })
        .await
    }

    /// Deletes workflow `name` and its steps (its runs stay); returns
    /// whether it existed.
    pub async fn delete_workflow(&self, name: &str) -> Result<bool, StoreError> {
        self.write_tx(|mut tx| async move {
            sqlx::query("DELETE FROM workflow_steps WHERE workflow = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            let gone = sqlx::query("DELETE FROM workflows WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            Ok((tx, gone > 0))
        })
        .await
    }

    /// Starts a run of workflow `name` with `params` (given to every step),
    /// and its first steps. With `once`, a run already started by
    /// `started_by` (a workflow task's run tried again) is answered instead
    /// of a second.
    pub async fn start_workflow(
        &self,
        name: &str,
        params: &BTreeMap<String, String>,
        started_by: &str,
        once: bool,
        now: i64,
    ) -> Result<Started, StoreError> {
        let backend = self.backend;
        self.write_tx(|mut tx| async move {
            if once {
                let started: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM workflow_runs WHERE started_by = $1")
                        .bind(started_by)
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some(id) = started {
                    return Ok((
                        tx,
                        Started::Run {
                            id,
                            runs_created: 0,
                        },
                    ));
                }
            }
            let Some(record) = read_workflow(&mut tx, name).await? else {
                return Ok((tx, Started::NoSuchWorkflow));
            };
            if let Err(error) = record.check() {
                return Ok((tx, Started::Invalid(error)));
            }
            let def = record.definition();
            let definition = serde_json::to_string(&def.steps).unwrap_or_default();
            let params_json = serde_json::to_string(params).unwrap_or_else(|_| "{}".into());
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO workflow_runs (workflow, state, started_by, params, definition, created_at) \
                 VALUES ($1, 'running', $2, $3, $4, $5) RETURNING id",
            )
            .bind(name)
            .bind(started_by)
            .bind(&params_json)
            .bind(&definition)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            for chunk in def.steps.chunks(200) {
                let values: Vec<String> = (0..chunk.len())
                    .map(|i| format!("(${}, ${}, ${})", i * 3 + 1, i * 3 + 2, i * 3 + 3))
                    .collect();
                let sql = format!(
                    "INSERT INTO workflow_run_steps (workflow_run, step, task) VALUES {}",
                    values.join(", ")
                );
                let mut query = sqlx::query(&sql);
                for step in chunk {
                    query = query.bind(id).bind(&step.name).bind(&step.task);
                }
                query.execute(&mut *tx).await?;
            }
            let mut stamps = Stamps::new(now);
            let runs_created = advance(&mut tx, backend, id, &mut stamps).await?;
            if runs_created > 0 {
                self.notify_runs(&mut tx, std::iter::once(None)).await?;
            }
            Ok((tx, Started::Run { id, runs_created }))
        })
        .await
    }

    /// Workflow runs, newest first: of `workflow`, in `state`, with ids
    /// below `before`.
    pub async fn list_workflow_runs(
        &self,
        workflow: Option<&str>,
        state: Option<WorkflowState>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WorkflowRunRow>, StoreError> {
        let mut conditions = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        if let Some(workflow) = workflow {
            texts.push(workflow.to_owned());
            conditions.push(format!("workflow = ${}", texts.len()));
        }
        if let Some(state) = state {
            texts.push(state.as_str().to_owned());
            conditions.push(format!("state = ${}", texts.len()));
        }
        if let Some(before) = before {
            conditions.push(format!("id < {before}"));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM workflow_runs {filter} ORDER BY id DESC LIMIT {}",
            limit.max(0)
        );
        let mut query = sqlx::query_as(&sql);
        for text in &texts {
            query = query.bind(text);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Workflow run `id` and its steps, in definition order.
    pub async fn get_workflow_run(
        &self,
        id: i64,
    ) -> Result<Option<(WorkflowRunRow, Vec<StepRow>)>, StoreError> {
        let run: Option<WorkflowRunRow> = sqlx::query_as(&format!(
            "SELECT {RUN_COLUMNS} FROM workflow_runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(run) = run else {
            return Ok(None);
        };
        let definition: String =
            sqlx::query_scalar("SELECT definition FROM workflow_runs WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        let order: Vec<StepDef> = serde_json::from_str(&definition).unwrap_or_default();
        let mut steps: Vec<StepRow> = sqlx::query_as(&format!(
            "SELECT {STEP_COLUMNS} FROM workflow_run_steps WHERE workflow_run = $1"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        steps.sort_by_key(|step| {
            order
                .iter()
                .position(|s| s.name == step.step)
                .unwrap_or(usize::MAX)
        });
        Ok(Some((run, steps)))
    }

    /// Runs failed step `step` of workflow run `run` again (a new try,
    /// whatever its condition) and gives the steps skipped because of it
    /// back to waiting, so the run goes on from there.
    pub async fn retry_step(
        &self,
        run: i64,
        step: &str,
        now: i64,
    ) -> Result<StepAction, StoreError> {
        self.step_action(run, step, now, None).await
    }

    /// Marks failed step `step` of workflow run `run` succeeded (by
    /// `actor`), so the steps waiting on it go on.
    pub async fn mark_step_succeeded(
        &self,
        run: i64,
        step: &str,
        actor: &str,
        now: i64,
    ) -> Result<StepAction, StoreError> {
        self.step_action(run, step, now, Some(actor)).await
    }

    /// Retry (`marked_by` none) or mark succeeded.
    async fn step_action(
        &self,
        run: i64,
        step: &str,
        now: i64,
        marked_by: Option<&str>,
    ) -> Result<StepAction, StoreError> {
        let backend = self.backend;
        self.write_tx(|mut tx| async move {
            let Some(def) = lock_run(&mut tx, backend, run).await? else {
                return Ok((tx, StepAction::NotFound));
            };
            let Some(step_def) = def.step(step).cloned() else {
                return Ok((tx, StepAction::NotFound));
            };
            let run_state: String =
                sqlx::query_scalar("SELECT state FROM workflow_runs WHERE id = $1")
                    .bind(run)
                    .fetch_one(&mut *tx)
                    .await?;
            if run_state == WorkflowState::Cancelled.as_str() {
                return Ok((
                    tx,
                    StepAction::Refused(format!(
                        "workflow run {run} was cancelled; start the workflow again instead"
                    )),
                ));
            }
            let state: Option<String> = sqlx::query_scalar(
                "SELECT state FROM workflow_run_steps WHERE workflow_run = $1 AND step = $2",
            )
            .bind(run)
            .bind(step)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(state) = state else {
                return Ok((tx, StepAction::NotFound));
            };
            if state != StepState::Failed.as_str() {
                return Ok((
                    tx,
                    StepAction::Refused(format!(
                        "step `{step}` of workflow run {run} is {state}; only a failed step can be retried or marked succeeded"
                    )),
                ));
            }
            // The steps skipped because this one failed wait again.
            for later in def.downstream(step) {
                sqlx::query(
                    "UPDATE workflow_run_steps SET state = 'waiting', finished_at = NULL \
                     WHERE workflow_run = $1 AND step = $2 AND state = 'skipped'",
                )
                .bind(run)
                .bind(&later)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("UPDATE workflow_runs SET state = 'running', finished_at = NULL WHERE id = $1")
                .bind(run)
                .execute(&mut *tx)
                .await?;
            let mut stamps = Stamps::new(now);
            let mut created = 0;
            match marked_by {
                Some(actor) => {
                    sqlx::query(
                        "UPDATE workflow_run_steps SET state = 'succeeded', finished_at = $1, error = $2 \
                         WHERE workflow_run = $3 AND step = $4",
                    )
                    .bind(now)
                    .bind(format!("marked succeeded by {actor}"))
                    .bind(run)
                    .bind(step)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    let params = run_params(&mut tx, run).await?;
                    let outputs = step_outputs(&mut tx, run).await?;
                    created += start_step(
                        &mut tx, backend, run, &def, &step_def, &params, &outputs, &mut stamps,
                    )
                    .await?;
                }
            }
            created += advance(&mut tx, backend, run, &mut stamps).await?;
            if created > 0 {
                self.notify_runs(&mut tx, std::iter::once(None)).await?;
            }
            Ok((tx, StepAction::Done))
        })
        .await
    }

    /// Cancels workflow run `id`: its waiting steps are skipped and the
    /// runs of its running steps asked to stop. Returns false when there is
    /// no such run or it is over.
    pub async fn cancel_workflow_run(
        &self,
        id: i64,
        reason: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let backend = self.backend;
        let running: Option<Vec<i64>> = self
            .write_tx(|mut tx| async move {
                if lock_run(&mut tx, backend, id).await?.is_none() {
                    return Ok((tx, None));
                }
                let state: String =
                    sqlx::query_scalar("SELECT state FROM workflow_runs WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                if state != WorkflowState::Running.as_str() {
                    return Ok((tx, None));
                }
                sqlx::query(
                    "UPDATE workflow_runs SET state = 'cancelled', finished_at = $1 WHERE id = $2",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE workflow_run_steps SET state = 'skipped', finished_at = $1 \
                     WHERE workflow_run = $2 AND state = 'waiting'",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let runs: Vec<i64> = sqlx::query_scalar(
                    "SELECT r.id FROM workflow_run_steps s JOIN runs r \
                     ON r.task = s.task AND r.cause = 'workflow ' || s.workflow_run || ' ' || s.step || ' ' || s.tries \
                     WHERE s.workflow_run = $1 AND s.state = 'running' AND r.state IN ('pending', 'running')",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                Ok((tx, Some(runs)))
            })
            .await?;
        let Some(runs) = running else {
            return Ok(false);
        };
        for run in runs {
            self.cancel_run(run, reason, now).await?;
        }
        Ok(true)
    }
}

/// Reads one `workflow_steps` row. A `run_when` or `params` that cannot
/// be read is kept as its default, and named in the second value.
fn read_step(row: &sqlx::any::AnyRow) -> Result<(StepDef, Option<String>), StoreError> {
    let name: String = row.try_get("name")?;
    let after: Option<String> = row.try_get("after")?;
    let when: String = row.try_get("run_when")?;
    let params: String = row.try_get("params")?;
    let mut problem = None;
    let when = when.parse().unwrap_or_else(|why| {
        problem = Some(format!("step `{name}`: column `run_when`: {why}"));
        RunWhen::Success
    });
    let params = parse_params(&params).unwrap_or_else(|why| {
        problem.get_or_insert(format!("step `{name}`: column `params`: {why}"));
        BTreeMap::new()
    });
    let step = StepDef {
        name,
        task: row.try_get("task")?,
        after: parse_after(after.as_deref()),
        when,
        params,
    };
    Ok((step, problem))
}

/// Workflow `name` with its steps.
async fn read_workflow(
    connection: &mut sqlx::AnyConnection,
    name: &str,
) -> Result<Option<WorkflowRecord>, StoreError> {
    let row = sqlx::query(
        "SELECT name, description, created_at, updated_at FROM workflows WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let steps = sqlx::query(
        "SELECT name, task, after, run_when, params FROM workflow_steps WHERE workflow = $1 \
         ORDER BY position, name",
    )
    .bind(name)
    .fetch_all(&mut *connection)
    .await?;
    let mut read = Vec::new();
    let mut unreadable = None;
    for row in &steps {
        let (step, problem) = read_step(row)?;
        read.push(step);
        if unreadable.is_none() {
            unreadable = problem;
        }
    }
    Ok(Some(WorkflowRecord {
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        steps: read,
        unreadable,
    }))
}

/// Locks workflow run `run` for this transaction (PostgreSQL) and returns
/// the steps it started with.
pub(crate) async fn lock_run(
    tx: &mut Tx,
    backend: Backend,
    run: i64,
) -> Result<Option<WorkflowDef>, StoreError> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let row = sqlx::query(&format!(
        "SELECT workflow, definition FROM workflow_runs WHERE id = $1{lock}"
    ))
    .bind(run)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let definition: String = row.try_get("definition")?;
    Ok(Some(WorkflowDef {
        name: row.try_get("workflow")?,
        steps: serde_json::from_str(&definition).unwrap_or_default(),
    }))
}

async fn run_params(tx: &mut Tx, run: i64) -> Result<BTreeMap<String, String>, StoreError> {
    let params: String = sqlx::query_scalar("SELECT params FROM workflow_runs WHERE id = $1")
        .bind(run)
        .fetch_one(&mut **tx)
        .await?;
    Ok(parse_params(&params).unwrap_or_default())
}

/// What each step of run `run` handed on.
async fn step_outputs(
    tx: &mut Tx,
    run: i64,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, StoreError> {
    let rows = sqlx::query(
        "SELECT step, outputs FROM workflow_run_steps WHERE workflow_run = $1 AND outputs IS NOT NULL",
    )
    .bind(run)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| {
            let outputs: Option<String> = row.try_get("outputs")?;
            Ok((row.try_get("step")?, parse_outputs(outputs.as_deref())))
        })
        .collect()
}

/// Records how try `try_number` of step `step` ended, if it is still the
/// step's latest try and under way: `end` of its fire, with `outputs` and
/// `error`. Returns whether it was recorded (the caller then moves the run
/// on).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn step_ended(
    tx: &mut Tx,
    run: i64,
    step: &str,
    try_number: i64,
    end: FireEnd,
    outputs: &BTreeMap<String, String>,
    error: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let (state, error) = match end {
        FireEnd::Succeeded => (StepState::Succeeded, None),
        FireEnd::Failed => (StepState::Failed, error.map(str::to_owned)),
        FireEnd::Stopped => (
            StepState::Failed,
            Some(error.unwrap_or("its run was cancelled").to_owned()),
        ),
    };
    let outputs = (!outputs.is_empty()).then(|| serde_json::to_string(outputs).unwrap_or_default());
    let updated = sqlx::query(
        "UPDATE workflow_run_steps SET state = $1, outputs = $2, error = $3, finished_at = $4 \
         WHERE workflow_run = $5 AND step = $6 AND tries = $7 AND state = 'running'",
    )
    .bind(state.as_str())
    .bind(outputs)
    .bind(error)
    .bind(now)
    .bind(run)
    .bind(step)
    .bind(try_number)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

/// Moves workflow run `run` on as far as it goes now: starts the steps
/// whose condition holds, skips those whose cannot, and records how the
/// run ended once every step is over. Returns the task runs made.
pub(crate) async fn advance(
    tx: &mut Tx,
    backend: Backend,
    run: i64,
    stamps: &mut Stamps,
) -> Result<usize, StoreError> {
    let Some(def) = lock_run(tx, backend, run).await? else {
        return Ok(0);
    };
    let state: String = sqlx::query_scalar("SELECT state FROM workflow_runs WHERE id = $1")
        .bind(run)
        .fetch_one(&mut **tx)
        .await?;
    if state != WorkflowState::Running.as_str() {
        return Ok(0);
    }
    let rows = sqlx::query("SELECT step, state FROM workflow_run_steps WHERE workflow_run = $1")
        .bind(run)
        .fetch_all(&mut **tx)
        .await?;
    let mut states: BTreeMap<String, StepState> = BTreeMap::new();
    for row in &rows {
        let state: String = row.try_get("state")?;
        states.insert(
            row.try_get("step")?,
            StepState::try_from(state).map_err(StoreError::Corrupt)?,
        );
    }
    let params = run_params(tx, run).await?;
    let mut outputs: Option<BTreeMap<String, BTreeMap<String, String>>> = None;
    let mut created = 0;
    loop {
        let moves = next_moves(&def, &states);
        if moves.is_empty() {
            break;
        }
        let mut skipped = BTreeSet::new();
        for (name, step_move) in moves {
            match step_move {
                StepMove::Skip => {
                    skipped.insert(name.clone());
                    states.insert(name, StepState::Skipped);
                }
                StepMove::Start => {
                    let Some(step) = def.step(&name).cloned() else {
                        continue;
                    };
                    if outputs.is_none() {
                        outputs = Some(step_outputs(tx, run).await?);
                    }
                    let made = start_step(
                        tx,
                        backend,
                        run,
                        &def,
                        &step,
                        &params,
                        outputs.as_ref().expect("read above"),
                        stamps,
                    )
                    .await?;
                    created += made;
                    let state =
                        if made > 0 || step_state(tx, run, &name).await? == StepState::Running {
                            StepState::Running
                        } else {
                            StepState::Failed
                        };
                    states.insert(name, state);
                }
            }
        }
        set_skipped(tx, run, &skipped, stamps.now).await?;
    }
    let ended = workflow_state(states.values().copied());
    if ended != WorkflowState::Running {
        sqlx::query("UPDATE workflow_runs SET state = $1, finished_at = $2 WHERE id = $3")
            .bind(ended.as_str())
            .bind(stamps.now)
            .bind(run)
            .execute(&mut **tx)
            .await?;
    }
    Ok(created)
}

async fn step_state(tx: &mut Tx, run: i64, step: &str) -> Result<StepState, StoreError> {
    let state: String = sqlx::query_scalar(
        "SELECT state FROM workflow_run_steps WHERE workflow_run = $1 AND step = $2",
    )
    .bind(run)
    .bind(step)
    .fetch_one(&mut **tx)
    .await?;
    StepState::try_from(state).map_err(StoreError::Corrupt)
}

async fn set_skipped(
    tx: &mut Tx,
    run: i64,
    steps: &BTreeSet<String>,
    now: i64,
) -> Result<(), StoreError> {
    for step in steps {
        sqlx::query(
            "UPDATE workflow_run_steps SET state = 'skipped', finished_at = $1 \
             WHERE workflow_run = $2 AND step = $3 AND state = 'waiting'",
        )
        .bind(now)
        .bind(run)
        .bind(step)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Starts the next try of `step`: its task's runs, with the task's params,
/// the run's, the step's (outputs filled in) and `workflow.*`. A step that
/// cannot start (its task missing, paused or broken, an output it refers
/// to not set) fails with the reason. Returns the runs made.
#[allow(clippy::too_many_arguments)]
async fn start_step(
    tx: &mut Tx,
    backend: Backend,
    run: i64,
    def: &WorkflowDef,
    step: &StepDef,
    run_params: &BTreeMap<String, String>,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
    stamps: &mut Stamps,
) -> Result<usize, StoreError> {
    let tries: i64 = sqlx::query_scalar(
        "SELECT tries FROM workflow_run_steps WHERE workflow_run = $1 AND step = $2",
    )
    .bind(run)
    .bind(&step.name)
    .fetch_one(&mut **tx)
    .await?;
    let try_number = tries + 1;
    match step_runs(
        tx, backend, run, def, step, run_params, outputs, try_number, stamps,
    )
    .await?
    {
        Ok(ids) => {
            sqlx::query(
                "UPDATE workflow_run_steps SET state = 'running', tries = $1, run_id = $2, outputs = NULL, \
                 error = NULL, started_at = $3, finished_at = NULL WHERE workflow_run = $4 AND step = $5",
            )
            .bind(try_number)
            .bind(ids.first().copied())
            .bind(stamps.now)
            .bind(run)
            .bind(&step.name)
            .execute(&mut **tx)
            .await?;
            Ok(ids.len())
        }
        Err(reason) => {
            sqlx::query(
                "UPDATE workflow_run_steps SET state = 'failed', tries = $1, error = $2, started_at = $3, \
                 finished_at = $3 WHERE workflow_run = $4 AND step = $5",
            )
            .bind(try_number)
            .bind(reason)
            .bind(stamps.now)
            .bind(run)
            .bind(&step.name)
            .execute(&mut **tx)
            .await?;
            Ok(0)
        }
    }
}

/// Makes the runs of one try of `step`, or says why it cannot start.
#[allow(clippy::too_many_arguments)]
async fn step_runs(
    tx: &mut Tx,
    backend: Backend,
    run: i64,
    def: &WorkflowDef,
    step: &StepDef,
    run_params: &BTreeMap<String, String>,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
    try_number: i64,
    stamps: &mut Stamps,
) -> Result<Result<Vec<i64>, String>, StoreError> {
    let select = format!("SELECT {} FROM tasks WHERE name = $1", columns(backend));
    let row = sqlx::query(&select)
        .bind(&step.task)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else {
        return Ok(Err(format!("task `{}` does not exist", step.task)));
    };
    let task = read_task(&row).task;
    if task.spec.paused {
        return Ok(Err(format!("task `{}` is paused", step.task)));
    }
    let definition = match TaskDefinition::from_row(&task) {
        Ok(definition) => definition,
        Err(error) => return Ok(Err(format!("task `{}`: {error}", step.task))),
    };
    let step_params = match substitute(&step.params, outputs) {
        Ok(params) => params,
        Err(reason) => return Ok(Err(reason)),
    };
    // A run's params (given by whoever starts it, an operator) reach every
    // step but an HTTP task's: its params are its call (URL, headers,
    // body), which only an editor may change, in the task or the step.
    let mut overrides = if task.spec.module == HTTP_MODULE {
        BTreeMap::new()
    } else {
        run_params.clone()
    };
    overrides.extend(step_params);
    overrides.insert("workflow.name".into(), def.name.clone());
    overrides.insert("workflow.run_id".into(), run.to_string());
    overrides.insert("workflow.step".into(), step.name.clone());
    let params = definition.params_json(&overrides);
    if params.len() > MAX_TEXT_BYTES {
        return Ok(Err(format!(
            "its params would be {} bytes, over {MAX_TEXT_BYTES}",
            params.len()
        )));
    }
    let cause = step_cause(run, &step.name, try_number);
    Ok(Ok(fire_caused(
        tx,
        &task,
        &definition,
        &params,
        &cause,
        true,
        stamps,
    )
    .await?))
}
