//! `/api/v1/delays`: delay tasks (ScheduleMaster's `DelayTask`): create one
//! (a callback at a time, unique per topic and key, so sending the same one
//! again does not double it), list, read one with its attempts, cancel one
//! that has not been called. Delays belong to no task group: a caller
//! limited to some groups cannot use them. Creating needs the editor role,
//! cancelling the operator role, reading the viewer role.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::auth::Caller;
use crate::api::body::{Body, Path, Query};
use crate::api::changes;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::server::ApiState;
use crate::api::views::{cut_page, page_size};
use crate::clock::now_ms;
use crate::store::{CancelDelay, DelayAttempt, DelayAudit, DelayCreation, DelayFilter, DelayRow};
use crate::vocab::{Callback, DelayProblem, DelayState, NewDelay, Role, due_time};

/// A delay's state, as the API writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum DelayStateName {
    Pending,
    Delivering,
    Succeeded,
    Failed,
    Cancelled,
}

impl From<DelayState> for DelayStateName {
    fn from(state: DelayState) -> Self {
        match state {
            DelayState::Pending => Self::Pending,
            DelayState::Delivering => Self::Delivering,
            DelayState::Succeeded => Self::Succeeded,
            DelayState::Failed => Self::Failed,
            DelayState::Cancelled => Self::Cancelled,
        }
    }
}

impl From<DelayStateName> for DelayState {
    fn from(state: DelayStateName) -> Self {
        match state {
            DelayStateName::Pending => Self::Pending,
            DelayStateName::Delivering => Self::Delivering,
            DelayStateName::Succeeded => Self::Succeeded,
            DelayStateName::Failed => Self::Failed,
            DelayStateName::Cancelled => Self::Cancelled,
        }
    }
}

/// A callback method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum MethodName {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl MethodName {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// What a delay calls.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallbackBody {
    /// An absolute `http(s)` URL the host's `delays.allowed_hosts` allows.
    #[schema(min_length = 1, max_length = 2048)]
    url: String,
    /// Default `POST`.
    method: Option<MethodName>,
    /// Extra headers.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// The body sent.
    #[schema(max_length = 1048576)]
    body: Option<String>,
    /// Its `Content-Type`.
    content_type: Option<String>,
}

/// A delay to create: `delay` or `at`, not both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDelayBody {
    /// What it is about (`order-timeout`).
    #[schema(min_length = 1, max_length = 200)]
    topic: String,
    /// Which one (`order-42`), unique within the topic.
    #[schema(min_length = 1, max_length = 200)]
    key: String,
    /// How long from now, e.g. `90s`, `15m`.
    delay: Option<String>,
    /// When, RFC 3339.
    at: Option<String>,
    callback: CallbackBody,
    /// Attempts after the first when one gets no 2xx (default 3).
    #[schema(minimum = 0, maximum = 100)]
    retries: Option<u32>,
}

/// A delay.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Delay {
    topic: String,
    key: String,
    state: DelayStateName,
    /// When it is (or was last) due, ms since the epoch.
    due_at: i64,
    callback: CallbackBody,
    retries: i64,
    /// Attempts made so far.
    attempts: i64,
    /// The host calling it now.
    node: Option<String>,
    /// The status of the last answer.
    last_status: Option<i64>,
    /// Why the last attempt got no 2xx, or was not made.
    last_error: Option<String>,
    created_at: i64,
    finished_at: Option<i64>,
}

impl From<DelayRow> for Delay {
    fn from(row: DelayRow) -> Self {
        let method = match row.callback.method.as_str() {
            "GET" => MethodName::Get,
            "PUT" => MethodName::Put,
            "PATCH" => MethodName::Patch,
            "DELETE" => MethodName::Delete,
            _ => MethodName::Post,
        };
        Self {
            topic: row.topic,
            key: row.key,
            state: row.state.into(),
            due_at: row.due_at,
            callback: CallbackBody {
                url: row.callback.url,
                method: Some(method),
                headers: row.callback.headers,
                body: row.callback.body,
                content_type: row.callback.content_type,
            },
            retries: row.retries,
            attempts: row.attempts,
            node: row.node,
            last_status: row.last_status,
            last_error: row.last_error,
            created_at: row.created_at,
            finished_at: row.finished_at,
        }
    }
}

/// One attempt at a callback.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Attempt {
    attempt: i64,
    node: String,
    due_at: i64,
    started_at: i64,
    finished_at: i64,
    status: Option<i64>,
    error: Option<String>,
}

impl From<DelayAttempt> for Attempt {
    fn from(a: DelayAttempt) -> Self {
        Self {
            attempt: a.attempt,
            node: a.node,
            due_at: a.due_at,
            started_at: a.started_at,
            finished_at: a.finished_at,
            status: a.status,
            error: a.error,
        }
    }
}

/// A delay with every attempt at it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DelayDetail {
    #[serde(flatten)]
    delay: Delay,
    attempts_made: Vec<Attempt>,
}

/// A page of delays, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DelayList {
    delays: Vec<Delay>,
    /// Pass as `before` for the next page; absent on the last.
    next: Option<i64>,
}

/// Filters and paging of the delay list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only this topic.
    topic: Option<String>,
    /// Only in this state.
    state: Option<DelayStateName>,
    /// The `next` of the previous page.
    before: Option<i64>,
    /// Delays per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

fn invalid(problem: DelayProblem) -> ApiError {
    ApiError::invalid(problem.message).on(problem.field)
}

/// Refuses callers limited to some task groups: delays have none.
fn require(caller: &Caller, role: Role) -> ApiResult<()> {
    caller.require_everywhere(role)
}

/// Create a delay. Sending the same topic and key again answers the one
/// stored (200) and changes nothing; a different callback for a stored
/// topic and key is a conflict.
#[utoipa::path(post, path = "/api/v1/delays", tag = "delays", request_body = NewDelayBody,
    responses((status = 201, body = Delay), (status = 200, body = Delay), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    Body(body): Body<NewDelayBody>,
) -> ApiResult<(StatusCode, axum::Json<Delay>)> {
    require(&caller, Role::Editor)?;
    let now = now_ms();
    let due_at = due_time(body.delay.as_deref(), body.at.as_deref(), now).map_err(invalid)?;
    let callback = Callback {
        url: body.callback.url,
        method: body
            .callback
            .method
            .unwrap_or(MethodName::Post)
            .as_str()
            .to_owned(),
        headers: body.callback.headers,
        body: body.callback.body,
        content_type: body.callback.content_type,
    };
    let delay = NewDelay {
        topic: body.topic,
        key: body.key,
        due_at,
        callback,
        retries: body.retries.unwrap_or(3),
    };
    delay.check().map_err(invalid)?;
    state
        .egress
        .check(&delay.callback.url)
        .map_err(|error| ApiError::invalid(error.to_string()).on("callback.url"))?;
    let (callback, retries) = (delay.callback.clone(), i64::from(delay.retries));
    let creation = DelayCreation {
        delay,
        audit: Some(DelayAudit {
            actor: caller.actor.clone(),
            action: "delay.create",
            after: |row| changes::json(&Delay::from(row.clone())),
        }),
    };
    let (row, created) = state.delay_writer().create(creation, now).await?;
    if !created {
        if row.callback != callback || row.retries != retries {
            return Err(ApiError::conflict(format!(
                "delay {}/{} exists ({}) with another callback; cancel it or use another key",
                row.topic, row.key, row.state
            ))
            .on("key"));
        }
        return Ok((StatusCode::OK, axum::Json(Delay::from(row))));
    }
    state.delays_wake.notify_one();
    let view = Delay::from(row);
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// List delays, newest first.
#[utoipa::path(get, path = "/api/v1/delays", tag = "delays", params(ListQuery),
    responses((status = 200, body = DelayList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<axum::Json<DelayList>> {
    require(&caller, Role::Viewer)?;
    let limit = page_size(query.limit)?;
    let mut rows = state
        .store
        .list_delays(&DelayFilter {
            topic: query.topic,
            state: query.state.map(DelayState::from),
            before_id: query.before,
            limit: limit + 1,
        })
        .await?;
    let next = cut_page(&mut rows, limit, |row| row.id);
    Ok(axum::Json(DelayList {
        delays: rows.into_iter().map(Delay::from).collect(),
        next,
    }))
}

/// A delay and every attempt at it.
#[utoipa::path(get, path = "/api/v1/delays/{topic}/{key}", tag = "delays",
    params(("topic" = String, Path, description = "Topic"), ("key" = String, Path, description = "Key")),
    responses((status = 200, body = DelayDetail), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path((topic, key)): Path<(String, String)>,
) -> ApiResult<axum::Json<DelayDetail>> {
    require(&caller, Role::Viewer)?;
    let row = state
        .store
        .delay(&topic, &key)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no delay {topic}/{key}")))?;
    let attempts = state.store.delay_attempts(row.id).await?;
    Ok(axum::Json(DelayDetail {
        delay: Delay::from(row),
        attempts_made: attempts.into_iter().map(Attempt::from).collect(),
    }))
}

/// Cancel a delay that has not been called yet.
#[utoipa::path(delete, path = "/api/v1/delays/{topic}/{key}", tag = "delays",
    params(("topic" = String, Path, description = "Topic"), ("key" = String, Path, description = "Key")),
    responses((status = 200, body = Delay), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn cancel(
    State(state): State<ApiState>,
    caller: Caller,
    Path((topic, key)): Path<(String, String)>,
) -> ApiResult<axum::Json<Delay>> {
    require(&caller, Role::Operator)?;
    match state.store.cancel_delay(&topic, &key, now_ms()).await? {
        CancelDelay::Missing => Err(ApiError::not_found(format!(
            "there is no delay {topic}/{key}"
        ))),
        CancelDelay::NotPending(row) => Err(ApiError::conflict(format!(
            "delay {topic}/{key} is {}: only a pending delay can be cancelled",
            row.state
        ))),
        CancelDelay::Cancelled(row) => {
            let view = Delay::from(row);
            let target = format!("{topic}/{key}");
            changes::record(
                &state,
                &caller,
                "delay.cancel",
                &target,
                None,
                changes::json(&view),
            )
            .await?;
            Ok(axum::Json(view))
        }
    }
}
