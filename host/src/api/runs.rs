//! `/api/v1/runs`: list (filtered by task, state, node and slot time,
//! newest first, a page at a time), read one, its log (whole, or followed
//! live as server-sent events until the run ends), cancel and retry. A
//! caller limited to some groups sees only the runs of their tasks.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::auth::Caller;
use crate::api::body::{Body, Path, Query};
use crate::api::changes;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::server::ApiState;
use crate::api::views::{
    Affected, BulkRunAction, BulkRuns, Cancelled, LogEvent, LogLine, Retried, Run, RunList, RunLog,
    RunSelection, RunStateName, cut_page, page_size,
};
use crate::clock::now_ms;
use crate::store::{CancelOutcome, RetryOutcome, RunFilter, RunRow, Store, StoredLogLine};
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
    if !caller.sees(&run.task_group) {
        return Err(not_found());
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
    let next = cut_page(&mut runs, limit, |row| row.id);
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
    changes::record(&state, &caller, "run.cancel", &target, None, None).await?;
    Ok(axum::Json(Cancelled {
        outcome: outcome.to_owned(),
    }))
}

/// How often a followed log is read for new lines: at first, and at most
/// while nothing new comes (the pause doubles).
const FOLLOW_EVERY: Duration = Duration::from_millis(250);
const FOLLOW_IDLE: Duration = Duration::from_secs(2);

/// Logs followed at once, at most (each reads the database a few times a
/// second).
const MAX_FOLLOWERS: usize = 64;
static FOLLOWERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_FOLLOWERS);

/// A followed log: where it is, what is read but not yet sent.
struct Follow {
    store: Store,
    id: i64,
    /// The last line sent: (attempt, seq).
    cursor: (i64, i64),
    unsent: VecDeque<StoredLogLine>,
    over: bool,
    stopped: tokio::sync::watch::Receiver<bool>,
    /// The pause before the next read.
    pause: Duration,
    /// Its place among [`MAX_FOLLOWERS`], given back when the stream ends.
    _place: tokio::sync::SemaphorePermit<'static>,
}

impl Follow {
    /// The next event: a line, or the end with the run's final state.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(line) = self.unsent.pop_front() {
                self.cursor = (line.attempt, line.seq);
                let id = format!("{}:{}", line.attempt, line.seq);
                let data = serde_json::to_string(&LogLine::from(line)).unwrap_or_default();
                return Some(Event::default().event("line").id(id).data(data));
            }
            if self.over {
                return None;
            }
            match self.read().await {
                Ok(true) => {
                    self.pause = FOLLOW_EVERY;
                    continue;
                }
                Ok(false) => {}
                Err(message) => return Some(self.end(message)),
            }
            // Nothing new: is the run over? Its last lines are recorded in
            // the same transaction as its end, so one more read has them.
            match self.store.get_run(self.id).await {
                Ok(Some(run)) if run.state.is_final() => match self.read().await {
                    Ok(true) => continue,
                    _ => return Some(self.end(run.state.as_str())),
                },
                Ok(None) => return Some(self.end("deleted")),
                _ => {}
            }
            let stopping = tokio::select! {
                () = tokio::time::sleep(self.pause) => false,
                // Stopping, or the host dropped the signal: either way, end.
                _ = self.stopped.wait_for(|stop| *stop) => true,
            };
            if stopping {
                return Some(self.end("host-stopping"));
            }
            self.pause = (self.pause * 2).min(FOLLOW_IDLE);
        }
    }

    /// Reads lines not yet read; whether there were any.
    async fn read(&mut self) -> Result<bool, &'static str> {
        let lines = self
            .store
            .run_logs_after(self.id, self.cursor, 500)
            .await
            .map_err(|e| {
                tracing::warn!(run = self.id, "a followed log cannot be read: {e}");
                "database-error"
            })?;
        let any = !lines.is_empty();
        self.unsent.extend(lines);
        Ok(any)
    }

    /// The last event: `end`, with the run's state (or why the stream ends).
    fn end(&mut self, state: &str) -> Event {
        self.over = true;
        Event::default()
            .event("end")
            .data(serde_json::json!({ "state": state }).to_string())
    }
}

/// Follow a run's log live: every line so far, then each new one as it is
/// recorded (`event: line`, data a log line, id `attempt:seq`; send
/// `Last-Event-ID` to resume after it), and `event: end` with the run's
/// final state when it ends.
#[utoipa::path(get, path = "/api/v1/runs/{id}/logs/stream", tag = "runs",
    params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, content_type = "text/event-stream", body = LogEvent,
        description = "server-sent events: `line` (a log line as JSON), then `end`"),
        (status = "4XX", body = ErrorBody)))]
pub(crate) async fn follow(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    caller.require(Role::Viewer)?;
    visible(&state, &caller, id).await?;
    let place = FOLLOWERS.try_acquire().map_err(|_| {
        ApiError::unavailable(format!(
            "{MAX_FOLLOWERS} logs are followed already; try again later, or read the log whole"
        ))
    })?;
    let cursor = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.split_once(':'))
        .and_then(|(attempt, seq)| Some((attempt.parse().ok()?, seq.parse().ok()?)))
        .unwrap_or((i64::MIN, i64::MIN));
    let follow = Follow {
        store: state.store.clone(),
        id,
        cursor,
        unsent: VecDeque::new(),
        over: false,
        stopped: state.stopped.clone(),
        pause: FOLLOW_EVERY,
        _place: place,
    };
    let events = futures_util::stream::unfold(follow, |mut follow| async move {
        let event = follow.next_event().await?;
        Some((Ok(event), follow))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// Run a failed, timed-out, orphaned or cancelled run again, as a new
/// attempt (any host may take it).
#[utoipa::path(post, path = "/api/v1/runs/{id}/retry", tag = "runs",
    params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, body = Retried), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn retry(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Retried>> {
    caller.require(Role::Operator)?;
    visible(&state, &caller, id).await?;
    let now = now_ms();
    match state.store.retry_run(id, now).await? {
        RetryOutcome::Retried => {}
        RetryOutcome::NotRetryable(run_state) => {
            return Err(ApiError::conflict(format!(
                "run {id} is {run_state}; only failed, timed-out, orphaned and cancelled runs \
                 are retried (trigger the task for a new run)"
            )));
        }
        RetryOutcome::Paged => {
            return Err(ApiError::conflict(format!(
                "run {id} is a paged run: its page went back to the task when it ended, and \
                 the task's next run takes it"
            )));
        }
        RetryOutcome::WorkflowStep { workflow_run, step } => {
            return Err(ApiError::conflict(format!(
                "run {id} is step `{step}` of workflow run {workflow_run}: retry the step \
                 (POST /api/v1/workflow-runs/{workflow_run}/steps/{step}/retry), so the \
                 workflow goes on from it"
            )));
        }
        RetryOutcome::NotFound => {
            return Err(ApiError::not_found(format!("there is no run {id}")).on("id"));
        }
    }
    let target = id.to_string();
    changes::record(&state, &caller, "run.retry", &target, None, None).await?;
    Ok(axum::Json(Retried {
        state: "pending".to_owned(),
    }))
}

/// The most runs one bulk action takes.
const MAX_BULK_RUNS: i64 = 100_000;
/// The most ids a selection may list.
const MAX_PICKED_RUNS: usize = 10_000;

/// Cancel or retry every run a selection matches that the action applies
/// to (at most 100,000 at once); answers how many it affected, or with
/// `dry_run` how many it would take.
#[utoipa::path(post, path = "/api/v1/bulk/runs", tag = "runs", request_body = BulkRuns,
    responses((status = 200, body = Affected), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn bulk(
    State(state): State<ApiState>,
    caller: Caller,
    Body(bulk): Body<BulkRuns>,
) -> ApiResult<axum::Json<Affected>> {
    caller.require(Role::Operator)?;
    let select = &bulk.select;
    if select
        .ids
        .as_ref()
        .is_some_and(|ids| ids.len() > MAX_PICKED_RUNS)
    {
        return Err(ApiError::invalid("select at most 10000 ids; use a filter for more").on("ids"));
    }
    let applies: &[RunState] = match bulk.action {
        BulkRunAction::Cancel => &[RunState::Pending, RunState::Running],
        BulkRunAction::Retry => &[
            RunState::Failed,
            RunState::TimedOut,
            RunState::Orphaned,
            RunState::Cancelled,
        ],
    };
    let asked = select.state.map(RunState::from);
    let states: Vec<RunState> = applies
        .iter()
        .copied()
        .filter(|s| asked.is_none_or(|a| a == *s))
        .collect();
    let chosen = match &select.ids {
        Some(ids) => picked(&state, &caller, select, ids, &states).await?,
        None => matching(&state, &caller, select, &states).await?,
    };
    if bulk.dry_run {
        return Ok(axum::Json(Affected {
            affected: i64::try_from(chosen.len()).unwrap_or(i64::MAX),
        }));
    }
    let reason = format!("cancelled through the API by {} (bulk)", caller.actor);
    let mut affected = 0i64;
    for id in chosen {
        let now = now_ms();
        let done = match bulk.action {
            BulkRunAction::Cancel => matches!(
                state.store.cancel_run(id, &reason, now).await?,
                CancelOutcome::Cancelled | CancelOutcome::Requested
            ),
            BulkRunAction::Retry => {
                matches!(state.store.retry_run(id, now).await?, RetryOutcome::Retried)
            }
        };
        affected += i64::from(done);
    }
    let action = match bulk.action {
        BulkRunAction::Cancel => "run.bulk-cancel",
        BulkRunAction::Retry => "run.bulk-retry",
    };
    changes::record(
        &state,
        &caller,
        action,
        &format!("{affected} runs"),
        None,
        changes::json(&bulk.select),
    )
    .await?;
    Ok(axum::Json(Affected { affected }))
}

/// The ids of the runs the filter matches in `states`, newest first, at
/// most [`MAX_BULK_RUNS`].
async fn matching(
    state: &ApiState,
    caller: &Caller,
    select: &RunSelection,
    states: &[RunState],
) -> ApiResult<Vec<i64>> {
    let mut chosen = Vec::new();
    for run_state in states {
        let mut filter = RunFilter {
            task: select.task.clone(),
            state: Some(*run_state),
            node: select.node.clone(),
            from: select.from,
            to: select.to,
            before_id: None,
            visible_groups: caller.grant.groups.clone(),
            limit: 1000,
        };
        while chosen.len() < MAX_BULK_RUNS as usize {
            let page = state.store.list_runs(&filter).await?;
            let Some(last) = page.last() else { break };
            filter.before_id = Some(last.id);
            chosen.extend(page.iter().map(|run| run.id));
        }
    }
    chosen.truncate(MAX_BULK_RUNS as usize);
    Ok(chosen)
}

/// Those of the listed runs that exist, that the caller may see, that are
/// in `states` and that the rest of the filter matches, each once.
async fn picked(
    state: &ApiState,
    caller: &Caller,
    select: &RunSelection,
    ids: &[i64],
    states: &[RunState],
) -> ApiResult<Vec<i64>> {
    let mut seen = std::collections::HashSet::new();
    let mut chosen = Vec::new();
    for &id in ids {
        if !seen.insert(id) {
            continue;
        }
        let Some(run) = state.store.get_run(id).await? else {
            continue;
        };
        let fits = caller.sees(&run.task_group)
            && states.contains(&run.state)
            && select.task.as_ref().is_none_or(|task| *task == run.task)
            && select
                .node
                .as_ref()
                .is_none_or(|node| run.node.as_ref() == Some(node))
            && select.from.is_none_or(|from| run.scheduled_at >= from)
            && select.to.is_none_or(|to| run.scheduled_at < to);
        if fits {
            chosen.push(id);
        }
    }
    Ok(chosen)
}
