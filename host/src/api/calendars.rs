//! `/api/v1/calendars`: list, read, create or replace, and delete the
//! calendars tasks name in their `calendar` column. Anyone signed in reads
//! them; changing one changes when tasks of every group fire, so it takes
//! an editor of every group. A change is checked as the CLI checks it (its
//! kind, what it excludes, its zone, its base chain) and audited.

use axum::extract::State;
use axum::http::StatusCode;

use crate::api::auth::Caller;
use crate::api::body::{Body, Path};
use crate::api::changes;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::server::ApiState;
use crate::api::views::{CalendarBody, CalendarList, CalendarView, created_or_ok};
use crate::clock::now_ms;
use crate::schedule::Calendars;
use crate::schedule::calendar::{check_name, check_put, check_remove};
use crate::store::CalendarRecord;
use crate::vocab::Role;

/// `record` as answered, with `problem` from `calendars`.
fn view(record: CalendarRecord, calendars: &Calendars, tasks: Option<Vec<String>>) -> CalendarView {
    let problem = calendars.get(&record.name).err().map(|e| e.reason);
    CalendarView {
        name: record.name,
        kind: record.kind,
        excludes: record.excludes,
        base: record.base,
        time_zone: record.time_zone,
        description: record.description,
        created_at: record.created_at,
        updated_at: record.updated_at,
        problem,
        tasks,
    }
}

/// List calendars.
#[utoipa::path(get, path = "/api/v1/calendars", tag = "calendars",
    responses((status = 200, body = CalendarList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<CalendarList>> {
    caller.require(Role::Viewer)?;
    let records = state.store.list_calendars().await?;
    let calendars =
        Calendars::resolve(&records.iter().map(CalendarRecord::row).collect::<Vec<_>>());
    Ok(axum::Json(CalendarList {
        calendars: records
            .into_iter()
            .map(|record| view(record, &calendars, None))
            .collect(),
    }))
}

/// A calendar and the tasks naming it.
#[utoipa::path(get, path = "/api/v1/calendars/{name}", tag = "calendars",
    params(("name" = String, Path, description = "Calendar name")),
    responses((status = 200, body = CalendarView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<CalendarView>> {
    caller.require(Role::Viewer)?;
    let record = existing(&state, &name).await?;
    let calendars = Calendars::resolve(&state.store.calendar_rows().await?);
    // Tasks of groups the caller cannot see are not named.
    let mut tasks = Vec::new();
    for task in state.store.tasks_using_calendar(&name).await? {
        if let Some(row) = state.store.get_task(&task).await?
            && caller.sees(&row.spec.group)
        {
            tasks.push(task);
        }
    }
    Ok(axum::Json(view(record, &calendars, Some(tasks))))
}

/// Create or replace a calendar; the tasks naming it are rescheduled under
/// it on the hosts' next pass.
#[utoipa::path(put, path = "/api/v1/calendars/{name}", tag = "calendars",
    params(("name" = String, Path, description = "Calendar name")), request_body = CalendarBody,
    responses((status = 200, body = CalendarView, description = "Replaced"),
        (status = 201, body = CalendarView, description = "Created"),
        (status = "4XX", body = ErrorBody)))]
pub(crate) async fn put(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<CalendarBody>,
) -> ApiResult<(StatusCode, axum::Json<CalendarView>)> {
    caller.require_everywhere(Role::Editor)?;
    check_name(&name).map_err(|e| ApiError::invalid(e).on("name"))?;
    let before = state.store.get_calendar(&name).await?;
    let now = now_ms();
    let record = CalendarRecord {
        name: name.clone(),
        kind: body.kind,
        excludes: body.excludes,
        base: body.base.filter(|base| !base.trim().is_empty()),
        time_zone: body.time_zone.filter(|zone| !zone.trim().is_empty()),
        description: body.description,
        created_at: before.as_ref().map_or(now, |b| b.created_at),
        updated_at: now,
    };
    let rows = state.store.calendar_rows().await?;
    check_put(&rows, &record.row()).map_err(|e| ApiError::invalid(e.to_string()).on(e.column))?;
    let created = state.store.put_calendar(&record).await?;
    let calendars = Calendars::resolve(&state.store.calendar_rows().await?);
    let answer = view(record, &calendars, None);
    changes::record(
        &state,
        &caller,
        "calendar.set",
        &name,
        before.as_ref().and_then(changes::json),
        changes::json(&answer),
    )
    .await?;
    Ok((created_or_ok(created), axum::Json(answer)))
}

/// Delete a calendar no task and no other calendar names.
#[utoipa::path(delete, path = "/api/v1/calendars/{name}", tag = "calendars",
    params(("name" = String, Path, description = "Calendar name")),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_everywhere(Role::Editor)?;
    let record = existing(&state, &name).await?;
    let tasks = state.store.tasks_using_calendar(&name).await?;
    if !tasks.is_empty() {
        return Err(ApiError::conflict(format!(
            "calendar `{name}` is used by task(s) {}; clear their calendar first",
            tasks.join(", ")
        )));
    }
    check_remove(&state.store.calendar_rows().await?, &name)
        .map_err(|e| ApiError::conflict(e.to_string()))?;
    if !state.store.delete_calendar(&name).await? {
        return Err(ApiError::not_found(format!("there is no calendar `{name}`")).on("name"));
    }
    changes::record(
        &state,
        &caller,
        "calendar.delete",
        &name,
        changes::json(&record),
        None,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn existing(state: &ApiState, name: &str) -> ApiResult<CalendarRecord> {
    state.store.get_calendar(name).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "there is no calendar `{name}`; see GET /api/v1/calendars"
        ))
        .on("name")
    })
}
