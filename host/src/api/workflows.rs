//! `/api/v1/workflows` and `/api/v1/workflow-runs`: define, read and delete
//! workflows (a graph of steps, each a task), start a run of one with
//! params, list and read runs with their steps, retry a failed step or
//! mark it succeeded so the run goes on, cancel a run. A workflow runs tasks
//! of any group, so changing or starting one takes a role in every group
//! (editor to define, operator to start and steer runs); reading takes a
//! viewer. Every change is audited.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::auth::Caller;
use crate::api::body::{Body, OptionalBody, Path, Query};
use crate::api::changes;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::server::ApiState;
use crate::api::views::{TriggerBody, created_or_ok, cut_page, page_size};
use crate::clock::now_ms;
use crate::store::{Started, StepAction, StepRow, WorkflowRecord, WorkflowRunRow};
use crate::vocab::{Role, StepDef, WorkflowDef, WorkflowState, parse_outputs, parse_params};

/// A step of a workflow.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepView {
    /// Unique within the workflow: letters, digits, `-`, `_`, `.`.
    #[schema(min_length = 1, max_length = 200)]
    pub(crate) name: String,
    /// The task it runs.
    #[schema(min_length = 1, max_length = 200)]
    pub(crate) task: String,
    /// The steps it waits for; none: it starts the workflow.
    #[serde(default)]
    pub(crate) after: Vec<String>,
    /// `success` (default: every step it waits for succeeded), `failure`
    /// (one failed) or `always`.
    #[serde(default)]
    pub(crate) when: Option<String>,
    /// Params on top of its task's; `${STEP.KEY}` is step STEP's output KEY.
    #[serde(default)]
    pub(crate) params: BTreeMap<String, String>,
}

impl From<&StepDef> for StepView {
    fn from(step: &StepDef) -> Self {
        Self {
            name: step.name.clone(),
            task: step.task.clone(),
            after: step.after.clone(),
            when: Some(step.when.as_str().to_owned()),
            params: step.params.clone(),
        }
    }
}

/// A workflow.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkflowView {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) steps: Vec<StepView>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    /// Why it cannot run as it stands (a definition written with SQL is
    /// checked when it starts), if it cannot.
    pub(crate) problem: Option<String>,
}

impl From<WorkflowRecord> for WorkflowView {
    fn from(record: WorkflowRecord) -> Self {
        let problem = record.check().err().map(|e| e.reason);
        Self {
            steps: record.steps.iter().map(StepView::from).collect(),
            name: record.name,
            description: record.description,
            created_at: record.created_at,
            updated_at: record.updated_at,
            problem,
        }
    }
}

/// Workflows, by name.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkflowList {
    pub(crate) workflows: Vec<WorkflowView>,
}

/// A workflow to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkflowBody {
    pub(crate) description: Option<String>,
    #[schema(min_items = 1, max_items = 10000)]
    pub(crate) steps: Vec<StepView>,
}

/// A step of a workflow run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StepRunView {
    pub(crate) step: String,
    pub(crate) task: String,
    /// `waiting`, `running`, `succeeded`, `failed` or `skipped`.
    pub(crate) state: String,
    /// Tries started (a retry is one more).
    pub(crate) tries: i64,
    /// The first run of its latest try.
    pub(crate) run_id: Option<i64>,
    /// What it handed on.
    pub(crate) outputs: BTreeMap<String, String>,
    /// Why it failed, or who marked it succeeded.
    pub(crate) error: Option<String>,
    pub(crate) started_at: Option<i64>,
    pub(crate) finished_at: Option<i64>,
}

impl From<StepRow> for StepRunView {
    fn from(row: StepRow) -> Self {
        Self {
            step: row.step,
            task: row.task,
            state: row.state.as_str().to_owned(),
            tries: row.tries,
            run_id: row.run_id,
            outputs: parse_outputs(row.outputs.as_deref()),
            error: row.error,
            started_at: row.started_at,
            finished_at: row.finished_at,
        }
    }
}

/// A run of a workflow.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkflowRunView {
    pub(crate) id: i64,
    pub(crate) workflow: String,
    /// `running`, `succeeded`, `failed` or `cancelled`.
    pub(crate) state: String,
    /// Who or what started it: `trigger by ACTOR`, `task TASK run RUN`.
    pub(crate) started_by: String,
    /// The params it was started with, given to every step.
    pub(crate) params: BTreeMap<String, String>,
    pub(crate) created_at: i64,
    pub(crate) finished_at: Option<i64>,
    /// Its steps (only when one run is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) steps: Option<Vec<StepRunView>>,
}

impl WorkflowRunView {
    fn new(row: WorkflowRunRow, steps: Option<Vec<StepRow>>) -> Self {
        Self {
            id: row.id,
            workflow: row.workflow,
            state: row.state.as_str().to_owned(),
            started_by: row.started_by,
            params: parse_params(&row.params).unwrap_or_default(),
            created_at: row.created_at,
            finished_at: row.finished_at,
            steps: steps.map(|steps| steps.into_iter().map(StepRunView::from).collect()),
        }
    }
}

/// A page of workflow runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkflowRunList {
    pub(crate) runs: Vec<WorkflowRunView>,
    /// Pass as `before` for the next page; absent on the last.
    pub(crate) next: Option<i64>,
}

/// A workflow run started.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkflowStarted {
    pub(crate) workflow_run: i64,
}

/// Which workflow runs to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunsQuery {
    /// Only runs of this workflow.
    workflow: Option<String>,
    /// Only runs in this state: running, succeeded, failed or cancelled.
    state: Option<String>,
    /// Only ids below this (the `next` of the previous page).
    before: Option<i64>,
    /// Runs per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// List workflows.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows",
    responses((status = 200, body = WorkflowList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<WorkflowList>> {
    // A workflow's steps are tasks of any group: reading it needs a
    // grant for every group.
    caller.require_everywhere(Role::Viewer)?;
    let workflows = state.store.list_workflows().await?;
    Ok(axum::Json(WorkflowList {
        workflows: workflows.into_iter().map(WorkflowView::from).collect(),
    }))
}

/// Read a workflow.
#[utoipa::path(get, path = "/api/v1/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")),
    responses((status = 200, body = WorkflowView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<WorkflowView>> {
    // A workflow's steps are tasks of any group: reading it needs a
    // grant for every group.
    caller.require_everywhere(Role::Viewer)?;
    Ok(axum::Json(existing(&state, &name).await?.into()))
}

/// Create or replace a workflow (its steps replaced whole; runs in flight
/// keep the steps they started with).
#[utoipa::path(put, path = "/api/v1/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")), request_body = WorkflowBody,
    responses((status = 200, body = WorkflowView, description = "Replaced"),
        (status = 201, body = WorkflowView, description = "Created"),
        (status = "4XX", body = ErrorBody)))]
pub(crate) async fn put(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<WorkflowBody>,
) -> ApiResult<(StatusCode, axum::Json<WorkflowView>)> {
    caller.require_everywhere(Role::Editor)?;
    let def = definition(&name, body.steps)?;
    for step in &def.steps {
        if state.store.get_task(&step.task).await?.is_none() {
            return Err(ApiError::invalid(format!(
                "step `{}` runs task `{}`, which is not a task; create it first (a task that runs only \
                 in workflows can have the schedule `manual`)",
                step.name, step.task
            ))
            .on("steps"));
        }
    }
    let before = state.store.get_workflow(&name).await?;
    let description = body.description.filter(|d| !d.trim().is_empty());
    let created = state
        .store
        .put_workflow(&def, description.as_deref(), now_ms())
        .await?;
    let after = existing(&state, &name).await?;
    let view = WorkflowView::from(after);
    changes::record(
        &state,
        &caller,
        "workflow.set",
        &name,
        before.as_ref().and_then(changes::json),
        changes::json(&view),
    )
    .await?;
    Ok((created_or_ok(created), axum::Json(view)))
}

/// The definition `steps` make for workflow `name`, checked.
fn definition(name: &str, steps: Vec<StepView>) -> ApiResult<WorkflowDef> {
    let steps = steps
        .into_iter()
        .map(|step| {
            let when = step
                .when
                .as_deref()
                .unwrap_or("success")
                .parse()
                .map_err(|e: String| {
                    ApiError::invalid(format!("step `{}`: {e}", step.name)).on("steps")
                })?;
            Ok(StepDef {
                name: step.name,
                task: step.task,
                after: step.after,
                when,
                params: step.params,
            })
        })
        .collect::<ApiResult<Vec<StepDef>>>()?;
    let def = WorkflowDef {
        name: name.to_owned(),
        steps,
    };
    def.check().map_err(|e| {
        let field = if e.reason.starts_with("workflow name") {
            "name"
        } else {
            "steps"
        };
        ApiError::invalid(e.to_string()).on(field)
    })?;
    Ok(def)
}

/// Delete a workflow (its runs stay).
#[utoipa::path(delete, path = "/api/v1/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_everywhere(Role::Editor)?;
    let record = existing(&state, &name).await?;
    state.store.delete_workflow(&name).await?;
    changes::record(
        &state,
        &caller,
        "workflow.delete",
        &name,
        changes::json(&record),
        None,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start a run of a workflow now, with params given to every step.
#[utoipa::path(post, path = "/api/v1/workflows/{name}/trigger", tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")), request_body = Option<TriggerBody>,
    responses((status = 200, body = WorkflowStarted), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn trigger(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    OptionalBody(body): OptionalBody<TriggerBody>,
) -> ApiResult<axum::Json<WorkflowStarted>> {
    caller.require_everywhere(Role::Operator)?;
    let started_by = format!("trigger by {}", caller.actor);
    let started = state
        .store
        .start_workflow(&name, &body.params, &started_by, false, now_ms())
        .await?;
    let id = match started {
        Started::Run { id, .. } => id,
        Started::NoSuchWorkflow => {
            return Err(ApiError::not_found(format!(
                "there is no workflow `{name}`; see GET /api/v1/workflows"
            ))
            .on("name"));
        }
        Started::Invalid(error) => {
            return Err(ApiError::conflict(format!(
                "{error}; fix the definition before starting it"
            )));
        }
    };
    changes::record(
        &state,
        &caller,
        "workflow.trigger",
        &name,
        None,
        changes::json(&body.params),
    )
    .await?;
    Ok(axum::Json(WorkflowStarted { workflow_run: id }))
}

/// List workflow runs, newest first.
#[utoipa::path(get, path = "/api/v1/workflow-runs", tag = "workflows", params(RunsQuery),
    responses((status = 200, body = WorkflowRunList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn runs(
    State(state): State<ApiState>,
    caller: Caller,
    Query(query): Query<RunsQuery>,
) -> ApiResult<axum::Json<WorkflowRunList>> {
    // A workflow's steps are tasks of any group: reading it needs a
    // grant for every group.
    caller.require_everywhere(Role::Viewer)?;
    let limit = page_size(query.limit)?;
    let wanted = match query.state.as_deref() {
        None => None,
        Some(text) => Some(
            text.parse::<WorkflowState>()
                .map_err(|e| ApiError::bad_request(e).on("state"))?,
        ),
    };
    let mut rows = state
        .store
        .list_workflow_runs(query.workflow.as_deref(), wanted, query.before, limit + 1)
        .await?;
    let next = cut_page(&mut rows, limit, |row| row.id);
    Ok(axum::Json(WorkflowRunList {
        runs: rows
            .into_iter()
            .map(|row| WorkflowRunView::new(row, None))
            .collect(),
        next,
    }))
}

/// Read a workflow run with its steps.
#[utoipa::path(get, path = "/api/v1/workflow-runs/{id}", tag = "workflows",
    params(("id" = i64, Path, description = "Workflow run id")),
    responses((status = 200, body = WorkflowRunView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn run(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<WorkflowRunView>> {
    // A workflow's steps are tasks of any group: reading it needs a
    // grant for every group.
    caller.require_everywhere(Role::Viewer)?;
    let (row, steps) = state
        .store
        .get_workflow_run(id)
        .await?
        .ok_or_else(|| no_run(id))?;
    Ok(axum::Json(WorkflowRunView::new(row, Some(steps))))
}

/// Cancel a workflow run: its waiting steps are skipped and its running
/// steps' runs asked to stop.
#[utoipa::path(post, path = "/api/v1/workflow-runs/{id}/cancel", tag = "workflows",
    params(("id" = i64, Path, description = "Workflow run id")),
    responses((status = 200, body = WorkflowRunView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn cancel(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<WorkflowRunView>> {
    caller.require_everywhere(Role::Operator)?;
    let reason = format!("its workflow run {id} was cancelled by {}", caller.actor);
    if !state
        .store
        .cancel_workflow_run(id, &reason, now_ms())
        .await?
    {
        let (row, _) = state
            .store
            .get_workflow_run(id)
            .await?
            .ok_or_else(|| no_run(id))?;
        return Err(ApiError::conflict(format!(
            "workflow run {id} is already over ({}); nothing to cancel",
            row.state
        )));
    }
    changes::record(
        &state,
        &caller,
        "workflow-run.cancel",
        &id.to_string(),
        None,
        None,
    )
    .await?;
    read(&state, id).await
}

/// Run a failed step of a workflow run again; the steps skipped because it
/// failed wait again, and the run goes on from there.
#[utoipa::path(post, path = "/api/v1/workflow-runs/{id}/steps/{step}/retry", tag = "workflows",
    params(("id" = i64, Path, description = "Workflow run id"), ("step" = String, Path, description = "Step name")),
    responses((status = 200, body = WorkflowRunView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn retry_step(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, step)): Path<(i64, String)>,
) -> ApiResult<axum::Json<WorkflowRunView>> {
    caller.require_everywhere(Role::Operator)?;
    let done = state.store.retry_step(id, &step, now_ms()).await?;
    step_done(&state, &caller, id, &step, done, "workflow-run.retry-step").await
}

/// Mark a failed step of a workflow run succeeded, so the steps waiting on
/// it go on.
#[utoipa::path(post, path = "/api/v1/workflow-runs/{id}/steps/{step}/succeed", tag = "workflows",
    params(("id" = i64, Path, description = "Workflow run id"), ("step" = String, Path, description = "Step name")),
    responses((status = 200, body = WorkflowRunView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn succeed_step(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, step)): Path<(i64, String)>,
) -> ApiResult<axum::Json<WorkflowRunView>> {
    caller.require_everywhere(Role::Operator)?;
    let done = state
        .store
        .mark_step_succeeded(id, &step, &caller.actor, now_ms())
        .await?;
    step_done(
        &state,
        &caller,
        id,
        &step,
        done,
        "workflow-run.succeed-step",
    )
    .await
}

async fn step_done(
    state: &ApiState,
    caller: &Caller,
    id: i64,
    step: &str,
    done: StepAction,
    action: &str,
) -> ApiResult<axum::Json<WorkflowRunView>> {
    match done {
        StepAction::Done => {}
        StepAction::NotFound => {
            return Err(
                ApiError::not_found(format!("workflow run {id} has no step `{step}`")).on("step"),
            );
        }
        StepAction::Refused(reason) => return Err(ApiError::conflict(reason)),
    }
    changes::record(state, caller, action, &format!("{id}/{step}"), None, None).await?;
    read(state, id).await
}

async fn read(state: &ApiState, id: i64) -> ApiResult<axum::Json<WorkflowRunView>> {
    let (row, steps) = state
        .store
        .get_workflow_run(id)
        .await?
        .ok_or_else(|| no_run(id))?;
    Ok(axum::Json(WorkflowRunView::new(row, Some(steps))))
}

fn no_run(id: i64) -> ApiError {
    ApiError::not_found(format!(
        "there is no workflow run {id}; see GET /api/v1/workflow-runs"
    ))
    .on("id")
}

async fn existing(state: &ApiState, name: &str) -> ApiResult<WorkflowRecord> {
    state.store.get_workflow(name).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "there is no workflow `{name}`; see GET /api/v1/workflows"
        ))
        .on("name")
    })
}
