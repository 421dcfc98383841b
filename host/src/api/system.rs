//! The host and its surroundings: `/healthz` (the process answers),
//! `/readyz` (the database answers and the host is not fenced),
//! `/metrics` (this process's counters, with gauges read now), cron
//! previews for editors, the cluster's nodes, stored modules (listed,
//! uploaded after the sandbox has checked them, removed) and the audit log.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::auth::Caller;
use crate::api::body::{Path, Query};
use crate::api::changes;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::server::{ApiState, MAX_MODULE_BYTES};
use crate::api::views::{
    AuditEvent, AuditList, FireTimes, Health, Misfire, MisfireList, Module, ModuleList, Node,
    NodeList, cut_page, fire_count, page_size,
};
use crate::clock::now_ms;
use crate::digest::Digest;
use crate::metrics::{self, Gauge};
use crate::plugins::reserved_name;
use crate::schedule::{Calendars, Schedule, TaskTiming, parse_time_zone};
use crate::vocab::{MAX_NAME_CHARS, Role, is_builtin_module};

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, body = Health)))]
pub(crate) async fn healthz(State(state): State<ApiState>) -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".to_owned(),
        node: state.node_id,
    })
}

/// The host can do its work: the database answers and the host is not
/// fenced or stopping.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub(crate) async fn readyz(State(state): State<ApiState>) -> (StatusCode, axum::Json<Health>) {
    let problem = match state.store.ping().await {
        Err(error) => {
            tracing::warn!("readiness: the database does not answer: {error}");
            Some("the database does not answer; the host's log has the details".to_owned())
        }
        Ok(()) => (state.readiness)(),
    };
    let status = if problem.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        status,
        axum::Json(Health {
            status: problem.unwrap_or_else(|| "ok".to_owned()),
            node: state.node_id,
        }),
    )
}

/// A schedule to preview.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct CronQuery {
    /// Quartz cron, `every 30s`, `at RFC3339` or `after 10m`.
    #[param(min_length = 1)]
    expr: String,
    /// IANA time zone (default UTC).
    #[param(min_length = 1)]
    tz: Option<String>,
    /// How many fire times (default 5).
    #[param(minimum = 1, maximum = 100)]
    n: Option<i64>,
    /// Skip the times this calendar excludes.
    #[param(min_length = 1)]
    calendar: Option<String>,
}

/// The next fire times of a schedule, from now.
#[utoipa::path(get, path = "/api/v1/cron/next", tag = "tasks", params(CronQuery),
    responses((status = 200, body = FireTimes), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn cron_next(
    State(state): State<ApiState>,
    caller: Caller,
    Query(query): Query<CronQuery>,
) -> ApiResult<axum::Json<FireTimes>> {
    caller.require(Role::Viewer)?;
    let schedule: Schedule = query
        .expr
        .parse()
        .map_err(|e: crate::schedule::ScheduleError| ApiError::invalid(e.to_string()).on("expr"))?;
    let tz = parse_time_zone(query.tz.as_deref().unwrap_or("UTC"))
        .map_err(|e| ApiError::invalid(e).on("tz"))?;
    let now = now_ms();
    let timing = TaskTiming {
        schedule,
        tz,
        created_at_ms: now,
        start_at_ms: None,
        end_at_ms: None,
        calendar: match &query.calendar {
            None => None,
            Some(name) => Some(
                Calendars::resolve(&state.store.calendar_rows().await?)
                    .get(name)
                    .map_err(|e| ApiError::invalid(e.to_string()).on("calendar"))?,
            ),
        },
    };
    let times = timing.upcoming(now, fire_count(query.n)?);
    Ok(axum::Json(FireTimes { times }))
}

/// The hosts sharing the database.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "cluster",
    responses((status = 200, body = NodeList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn nodes(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<NodeList>> {
    caller.require(Role::Viewer)?;
    let nodes = state.store.list_nodes().await?;
    let alive_since = now_ms() - state.node_timeout.as_millis() as i64;
    Ok(axum::Json(NodeList {
        nodes: nodes
            .into_iter()
            .map(|row| Node::new(row, alive_since))
            .collect(),
    }))
}

/// The job modules stored in the database.
#[utoipa::path(get, path = "/api/v1/modules", tag = "modules",
    responses((status = 200, body = ModuleList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn modules(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<ModuleList>> {
    caller.require(Role::Viewer)?;
    let modules = state.store.list_modules().await?;
    Ok(axum::Json(ModuleList {
        modules: modules.into_iter().map(Module::from).collect(),
    }))
}

/// Paging of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Only ids below this (the `next` of the previous page).
    before: Option<i64>,
    /// Events per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Changes made through the API, newest first (admin).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn audit(
    State(state): State<ApiState>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> ApiResult<axum::Json<AuditList>> {
    caller.require_everywhere(Role::Admin)?;
    let limit = page_size(query.limit)?;
    let mut events = state.store.list_audit(query.before, limit + 1).await?;
    let next = cut_page(&mut events, limit, |row| row.id);
    Ok(axum::Json(AuditList {
        events: events.into_iter().map(AuditEvent::from).collect(),
        next,
    }))
}

/// This host's metrics in Prometheus' text format: fires, misfires, runs
/// started and ended by task (labels capped) and state, lateness and
/// duration histograms, database errors; gauges of pending and running
/// runs, live nodes, and this host's executing runs, free capacity and
/// recorder queue. Needs a token (a viewer's) once tokens exist.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain; version=0.0.4", body = String),
        (status = "4XX", body = ErrorBody)))]
pub(crate) async fn metrics(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<([(axum::http::HeaderName, &'static str); 1], String)> {
    // Task names of every group are in it.
    caller.require_everywhere(Role::Viewer)?;
    let (pending, running) = state.store.active_run_counts().await?;
    let alive_since = now_ms() - state.node_timeout.as_millis() as i64;
    let alive = state
        .store
        .list_nodes()
        .await?
        .iter()
        .filter(|node| node.heartbeat_at >= alive_since)
        .count();
    let mut gauges = vec![
        Gauge {
            name: "carillon_runs_pending",
            help: "Runs waiting to be claimed, across the cluster.",
            value: pending as f64,
        },
        Gauge {
            name: "carillon_runs_running",
            help: "Runs claimed by a host (running or waiting for their slot), across the cluster.",
            value: running as f64,
        },
        Gauge {
            name: "carillon_nodes_alive",
            help: "Hosts whose last heartbeat is within the node timeout.",
            value: alive as f64,
        },
    ];
    gauges.extend((state.gauges)());
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::global().render(&gauges),
    ))
}

/// Upload a job module: the body is the `.wasm` component (any content type,
/// e.g. `application/octet-stream` or `application/wasm`). It is checked by
/// the sandbox before it is stored; every host loads it within a heartbeat.
#[utoipa::path(put, path = "/api/v1/modules/{name}", tag = "modules",
    params(("name" = String, Path, description = "Module name, as tasks name it")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = Module), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn upload_module(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> ApiResult<axum::Json<Module>> {
    // Checked before the body is read, so no one else makes the host hold it.
    caller.require_everywhere(Role::Editor)?;
    check_module_name(&name)?;
    let bytes = axum::body::to_bytes(body, MAX_MODULE_BYTES)
        .await
        .map_err(|e| {
            ApiError::too_large(format!(
                "the module could not be read ({e}); at most {} MiB are taken",
                MAX_MODULE_BYTES >> 20
            ))
        })?;
    let runtime = state.runtime.clone();
    let checked = {
        let bytes = bytes.clone();
        tokio::task::spawn_blocking(move || runtime.load(&bytes).map(|_| ()))
    }
    .await
    .map_err(|e| ApiError::invalid(format!("checking the module failed: {e}")))?;
    if let Err(error) = checked {
        return Err(ApiError::invalid(format!("not a job module: {error:#}")).on("body"));
    }
    let digest = Digest::of(&bytes).to_string();
    let now = now_ms();
    let changed = state
        .store
        .put_module(&name, &digest, &bytes, "api", now)
        .await?;
    let stored = state
        .store
        .list_modules()
        .await?
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| ApiError::not_found(format!("module `{name}` was removed meanwhile")))?;
    let module = Module::from(stored);
    if changed {
        let after = changes::json(&module);
        changes::record(&state, &caller, "module.upload", &name, None, after).await?;
    }
    Ok(axum::Json(module))
}

/// Remove a stored module (its tasks stop firing until it is back).
#[utoipa::path(delete, path = "/api/v1/modules/{name}", tag = "modules",
    params(("name" = String, Path, description = "Module name")),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn remove_module(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_everywhere(Role::Editor)?;
    if !state.store.remove_module(&name).await? {
        return Err(ApiError::not_found(format!("there is no module `{name}`")).on("name"));
    }
    changes::record(&state, &caller, "module.remove", &name, None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A module name: 1 to 200 characters, no control characters or slashes.
fn check_module_name(name: &str) -> ApiResult<()> {
    if name.trim().is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(|c| c.is_control() || c == '/')
    {
        return Err(ApiError::invalid(format!(
            "a module name is 1 to {MAX_NAME_CHARS} characters, without control characters or `/`"
        ))
        .on("name"));
    }
    if is_builtin_module(name) {
        return Err(ApiError::invalid(reserved_name(name)).on("name"));
    }
    Ok(())
}

/// Which misfires to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct MisfireQuery {
    /// Only this task's.
    task: Option<String>,
    /// Only ids below this (the `next` of the previous page).
    before: Option<i64>,
    /// Misfires per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Slots the misfire policy did not turn into runs, newest first.
#[utoipa::path(get, path = "/api/v1/misfires", tag = "runs", params(MisfireQuery),
    responses((status = 200, body = MisfireList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn misfires(
    State(state): State<ApiState>,
    caller: Caller,
    Query(query): Query<MisfireQuery>,
) -> ApiResult<axum::Json<MisfireList>> {
    caller.require(Role::Viewer)?;
    let limit = page_size(query.limit)?;
    let mut rows = state
        .store
        .list_misfires(
            query.task.as_deref(),
            query.before,
            caller.grant.groups.as_deref(),
            limit + 1,
        )
        .await?;
    let next = cut_page(&mut rows, limit, |row| row.id);
    Ok(axum::Json(MisfireList {
        misfires: rows.into_iter().map(Misfire::from).collect(),
        next,
    }))
}
