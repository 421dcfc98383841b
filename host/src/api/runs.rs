//! `/api/v1/runs`: list (filtered by task, state, node and slot time,
//! newest first, a page at a time), read one, its log, and cancel. A caller
//! limited to some groups sees only the runs of their tasks.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::auth::Caller;
use crate::api::body::{Path, Query};
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::server::ApiState;
use crate::api::views::{Cancelled, Run, RunList, RunLog, RunStateName, page_size};
use crate::clock::now_ms;
use crate::store::{AuditEntry, CancelOutcome, RunFilter, RunRow};
use crate::vocab::{Role, RunState};

/// Filters and paging of the run list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only this task's runs.
    task: Option<String>,
    /// Only runs in this state.
    state: Option<RunStateName>,
    /// Only runs held (or last held) by this node.
    node: Option<String>,
    /// Only slots at or after this time (ms).
    from: Option<i64>,
    /// Only slots before this time (ms).
    to: Option<i64>,
    /// Only ids below this (the `next` of the previous page).
    before: Option<i64>,
    /// Runs per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Run `id`, if it exists and the caller may see its task's runs.
async fn visible(state: &ApiState, caller: &Caller, id: i64) -> ApiResult<RunRow> {
    let not_found = || ApiError::not_found(format!("there is no run {id}")).on("id");
    let run = state.store.get_run(id).await?.ok_or_else(not_found)?;
    if caller.grant.is_limited() {
        let group = state.store.get_task(&run.task).await?.map(|t| t.spec.group);
        if !group.is_some_and(|group| caller.sees(&group)) {
            return Err(not_found());
        }
    }
    Ok(run)
}

/// List runs, newest first.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(ListQuery),
    responses((status = 200, body = RunList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<axum::Json<RunList>> {
    caller.require(Role::Viewer)?;
    let limit = page_size(query.limit)?;
    let filter = RunFilter {
        task: query.task,
        state: query.state.map(RunState::from),
        node: query.node,
        from: query.from,
        to: query.to,
        before_id: query.before,
        visible_groups: caller.grant.groups.clone(),
        limit: limit + 1,
    };
    let mut runs = state.store.list_runs(&filter).await?;
    let next = if runs.len() as i64 > limit {
        runs.truncate(limit as usize);
        runs.last().map(|run| run.id)
    } else {
        None
    };
    Ok(axum::Json(RunList {
        runs: runs.into_iter().map(Run::from).collect(),
        next,
    }))
}

/// Read a run.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, body = Run), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Run>> {
    caller.require(Role::Viewer)?;
    Ok(axum::Json(Run::from(visible(&state, &caller, id).await?)))
}

/// A run's log lines, every attempt's, in order.
#[utoipa::path(get, path = "/api/v1/runs/{id}/logs", tag = "runs",
    params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, body = RunLog), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn logs(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<RunLog>> {
    caller.require(Role::Viewer)?;
    visible(&state, &caller, id).await?;
    let lines = state.store.run_logs(id).await?;
    Ok(axum::Json(RunLog {
        lines: lines.into_iter().map(Into::into).collect(),
    }))
}

/// Cancel a run: a pending one ends at once, a running one is stopped by
/// its host within a poll interval.
#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", tag = "runs",
    params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, body = Cancelled), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn cancel(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Cancelled>> {
    caller.require(Role::Operator)?;
    visible(&state, &caller, id).await?;
    let now = now_ms();
    let reason = format!("cancelled through the API by {}", caller.actor);
    let outcome = match state.store.cancel_run(id, &reason, now).await? {
        CancelOutcome::Cancelled => "cancelled",
        CancelOutcome::Requested => "requested",
        CancelOutcome::AlreadyOver(run_state) => {
            return Err(ApiError::conflict(format!(
                "run {id} is already over ({run_state}); nothing to cancel"
            )));
        }
        CancelOutcome::NotFound => {
            return Err(ApiError::not_found(format!("there is no run {id}")).on("id"));
        }
    };
    let target = id.to_string();
    state
        .store
        .audit(AuditEntry {
            at: now,
            actor: &caller.actor,
            action: "run.cancel",
            target: &target,
            before: None,
            after: None,
        })
        .await?;
    Ok(axum::Json(Cancelled {
        outcome: outcome.to_owned(),
    }))
}
