//! `/api/v1/tasks`: list (filtered, a page at a time), read, create,
//! change, delete, trigger, pause, resume, and preview the next fire times.
//! A task is checked exactly as the scheduler checks a row written with SQL
//! ([`TaskDefinition::from_row`]), and the error names the column. A caller
//! limited to some groups sees only their tasks (others are "not found")
//! and may not move a task out of them. Bulk actions pause, resume,
//! trigger or delete every task a filter (or a list of names) selects.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::auth::Caller;
use crate::api::body::{Body, OptionalBody, Path, Query};
use crate::api::changes::{self, json};
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::server::ApiState;
use crate::api::views::{
    Affected, BulkTaskAction, BulkTasks, FireTimes, NewTask, Task, TaskFields, TaskList,
    TaskSortName, TaskStateName, TriggerBody, Triggered, fire_count, page_size,
};
use crate::clock::now_ms;
use crate::schedule::Calendars;
use crate::scheduler::shard_runs;
use crate::store::{TaskCursor, TaskFilter, TaskOrder};
use crate::vocab::{
    HTTP_MODULE, HttpCall, MAX_TEXT_BYTES, Role, TaskDefinition, TaskRow, TaskSpec, TaskState,
};

/// How often an edit is applied again to a task that changed meanwhile
/// before the caller is asked to send it again.
const EDIT_TRIES: u32 = 10;

/// Filters and paging of the task list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Names containing this (any case).
    name: Option<String>,
    /// Only this group.
    group: Option<String>,
    /// Only this module.
    module: Option<String>,
    /// Only tasks in this state.
    state: Option<TaskStateName>,
    /// The order (default `name`); ties are broken by name.
    sort: Option<TaskSortName>,
    /// Start after this (the `next` of the previous page of the same order).
    after: Option<String>,
    /// Tasks per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// How many fire times to preview.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct NextQuery {
    /// How many (default 5).
    #[param(minimum = 1, maximum = 100)]
    n: Option<i64>,
}

/// Checks `spec` as the scheduler will (its calendar included), created at
/// `created_at`.
async fn check(state: &ApiState, spec: &TaskSpec, created_at: i64) -> ApiResult<TaskDefinition> {
    let definition = TaskDefinition::from_row(&TaskRow::new(spec.clone(), created_at))?;
    if let Some(problem) = state.store.chain_problem(spec).await? {
        return Err(problem.into());
    }
    Ok(definition.with_calendar(&calendars_for(state, spec).await?)?)
}

/// The calendars, read only when `spec` names one.
async fn calendars_for(state: &ApiState, spec: &TaskSpec) -> ApiResult<Calendars> {
    Ok(match spec.calendar {
        Some(_) => Calendars::resolve(&state.store.calendar_rows().await?),
        None => Calendars::default(),
    })
}

/// The task `name`, if it exists and the caller may see it.
async fn visible(state: &ApiState, caller: &Caller, name: &str) -> ApiResult<TaskRow> {
    state
        .store
        .get_task(name)
        .await?
        .filter(|task| caller.sees(&task.spec.group))
        .ok_or_else(|| ApiError::not_found(format!("there is no task `{name}`")).on("name"))
}

fn refuse_group(caller: &Caller, group: &str) -> ApiResult<()> {
    if caller.sees(group) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "{} may not act on tasks of group `{group}`",
            caller.actor
        ))
        .on("group"))
    }
}

/// Records a change to a task, with the task before and after.
async fn audit(
    state: &ApiState,
    caller: &Caller,
    action: &str,
    target: &str,
    before: Option<&Task>,
    after: Option<&Task>,
) -> ApiResult<()> {
    let (before, after) = (before.and_then(json), after.and_then(json));
    changes::record(state, caller, action, target, before, after).await
}

/// List tasks.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(ListQuery),
    responses((status = 200, body = TaskList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<axum::Json<TaskList>> {
    caller.require(Role::Viewer)?;
    let filter = TaskFilter {
        name_contains: query.name,
        group: query.group,
        module: query.module,
        state: query.state.map(TaskState::from),
        visible_groups: caller.grant.groups.clone(),
        names: None,
    };
    let order = query.sort.map(TaskOrder::from).unwrap_or_default();
    let after = match &query.after {
        None => None,
        Some(text) => Some(TaskCursor::from_text(order, text).ok_or_else(|| {
            ApiError::invalid(format!(
                "`after` is not the `next` of a page in this order: `{text}`; \
                 start again from the first page"
            ))
            .on("after")
        })?),
    };
    let page = state
        .store
        .list_task_page(&filter, order, after.as_ref(), page_size(query.limit)?)
        .await?;
    Ok(axum::Json(TaskList {
        tasks: page.tasks.iter().map(Task::from).collect(),
        next: page.next_after.map(|cursor| cursor.to_text()),
        total: page.total,
        total_capped: page.total_capped,
    }))
}

/// Read a task.
#[utoipa::path(get, path = "/api/v1/tasks/{name}", tag = "tasks",
    params(("name" = String, Path, description = "Task name")),
    responses((status = 200, body = Task), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Task>> {
    caller.require(Role::Viewer)?;
    Ok(axum::Json(Task::from(
        &visible(&state, &caller, &name).await?,
    )))
}

/// Create a task.
#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", request_body = NewTask,
    responses((status = 201, body = Task), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    Body(new): Body<NewTask>,
) -> ApiResult<(StatusCode, axum::Json<Task>)> {
    caller.require(Role::Editor)?;
    let spec = new.into_spec();
    check(&state, &spec, now_ms()).await?;
    refuse_group(&caller, &spec.group)?;
    if !state.store.insert_task(&spec).await? {
        return Err(ApiError::conflict(format!(
            "task `{}` already exists; change it with PATCH /api/v1/tasks/{{name}}",
            spec.name
        ))
        .on("name"));
    }
    let created = visible(&state, &caller, &spec.name).await?;
    let task = Task::from(&created);
    audit(
        &state,
        &caller,
        "task.create",
        &spec.name,
        None,
        Some(&task),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(task)))
}

/// Change a task: only the fields given (`null` clears an optional one).
#[utoipa::path(patch, path = "/api/v1/tasks/{name}", tag = "tasks",
    params(("name" = String, Path, description = "Task name")), request_body = TaskFields,
    responses((status = 200, body = Task), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(fields): Body<TaskFields>,
) -> ApiResult<axum::Json<Task>> {
    caller.require(Role::Editor)?;
    // The fields are applied to the row as read and written only if no one
    // changed it meanwhile; else again to the row as it is now.
    let mut tries = 0;
    let existing = loop {
        tries += 1;
        let existing = visible(&state, &caller, &name).await?;
        if let Some(problem) = &existing.unreadable {
            return Err(ApiError::conflict(format!(
                "task `{name}` cannot be changed here: {problem}; fix the column with SQL, or \
                 delete the task and create it again"
            )));
        }
        let mut spec = existing.spec.clone();
        fields.clone().apply(&mut spec);
        check(&state, &spec, existing.created_at).await?;
        refuse_group(&caller, &spec.group)?;
        if state.store.update_task_at(&spec, existing.revision).await? {
            break existing;
        }
        if tries == EDIT_TRIES {
            return Err(ApiError::conflict(format!(
                "task `{name}` kept changing while this edit was applied; send it again"
            )));
        }
    };
    let before = Task::from(&existing);
    let after =
        Task::from(
            &state.store.get_task(&name).await?.ok_or_else(|| {
                ApiError::not_found(format!("task `{name}` was deleted meanwhile"))
            })?,
        );
    audit(
        &state,
        &caller,
        "task.update",
        &name,
        Some(&before),
        Some(&after),
    )
    .await?;
    Ok(axum::Json(after))
}

/// Delete a task (its runs and logs stay).
#[utoipa::path(delete, path = "/api/v1/tasks/{name}", tag = "tasks",
    params(("name" = String, Path, description = "Task name")),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Editor)?;
    let existing = visible(&state, &caller, &name).await?;
    if !state.store.delete_task(&name).await? {
        return Err(ApiError::not_found(format!("there is no task `{name}`")).on("name"));
    }
    audit(
        &state,
        &caller,
        "task.delete",
        &name,
        Some(&Task::from(&existing)),
        None,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Fire a task now, outside its schedule, with per-fire params.
#[utoipa::path(post, path = "/api/v1/tasks/{name}/trigger", tag = "tasks",
    params(("name" = String, Path, description = "Task name")), request_body = Option<TriggerBody>,
    responses((status = 200, body = Triggered), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn trigger(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    OptionalBody(body): OptionalBody<TriggerBody>,
) -> ApiResult<axum::Json<Triggered>> {
    caller.require(Role::Operator)?;
    let task = visible(&state, &caller, &name).await?;
    let definition = TaskDefinition::from_row(&task)?;
    let overrides = body.params;
    if task.spec.module == HTTP_MODULE && !overrides.is_empty() {
        // An HTTP task's params are its call (URL, headers, body): changing
        // them is editing the task, and the result must be a call.
        caller.require(Role::Editor)?;
        HttpCall::with_overrides(&definition.params, &overrides)
            .map_err(|e| ApiError::invalid(e).on("params"))?;
    }
    let now = now_ms();
    let params = definition.params_json(&overrides);
    if params.len() > MAX_TEXT_BYTES {
        return Err(ApiError::invalid(format!(
            "the run's params would be {} bytes; at most {MAX_TEXT_BYTES} are copied into every run",
            params.len()
        ))
        .on("params"));
    }
    let runs = shard_runs(&definition, now, &params, None);
    let created = state.store.insert_runs(&name, &runs, now).await?;
    changes::record(
        &state,
        &caller,
        "task.trigger",
        &name,
        None,
        json(&overrides),
    )
    .await?;
    Ok(axum::Json(Triggered {
        runs: created as i64,
    }))
}

async fn set_paused(
    state: &ApiState,
    caller: &Caller,
    name: &str,
    paused: bool,
) -> ApiResult<axum::Json<Task>> {
    caller.require(Role::Operator)?;
    let before = Task::from(&visible(state, caller, name).await?);
    if !state.store.set_paused(name, paused).await? {
        return Err(ApiError::not_found(format!("there is no task `{name}`")).on("name"));
    }
    let after = Task::from(&visible(state, caller, name).await?);
    let action = if paused { "task.pause" } else { "task.resume" };
    audit(state, caller, action, name, Some(&before), Some(&after)).await?;
    Ok(axum::Json(after))
}

/// Stop a task firing.
#[utoipa::path(post, path = "/api/v1/tasks/{name}/pause", tag = "tasks",
    params(("name" = String, Path, description = "Task name")),
    responses((status = 200, body = Task), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn pause(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Task>> {
    set_paused(&state, &caller, &name, true).await
}

/// Let a paused task fire again (from now; missed fires are not made up).
#[utoipa::path(post, path = "/api/v1/tasks/{name}/resume", tag = "tasks",
    params(("name" = String, Path, description = "Task name")),
    responses((status = 200, body = Task), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn resume(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Task>> {
    set_paused(&state, &caller, &name, false).await
}

/// The task's next fire times, in its zone and window.
#[utoipa::path(get, path = "/api/v1/tasks/{name}/next", tag = "tasks",
    params(("name" = String, Path, description = "Task name"), NextQuery),
    responses((status = 200, body = FireTimes), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn next(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<NextQuery>,
) -> ApiResult<axum::Json<FireTimes>> {
    caller.require(Role::Viewer)?;
    let task = visible(&state, &caller, &name).await?;
    let definition = TaskDefinition::from_row(&task)?
        .with_calendar(&calendars_for(&state, &task.spec).await?)?;
    let times = definition.timing.upcoming(now_ms(), fire_count(query.n)?);
    Ok(axum::Json(FireTimes { times }))
}

/// Pause, resume, trigger or delete every task a selection matches, at
/// once; answers how many it affected, or with `dry_run` how many it
/// would take.
#[utoipa::path(post, path = "/api/v1/bulk/tasks", tag = "tasks", request_body = BulkTasks,
    responses((status = 200, body = Affected), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn bulk(
    State(state): State<ApiState>,
    caller: Caller,
    Body(bulk): Body<BulkTasks>,
) -> ApiResult<axum::Json<Affected>> {
    caller.require(match bulk.action {
        BulkTaskAction::Delete => Role::Editor,
        _ => Role::Operator,
    })?;
    let select = &bulk.select;
    if select
        .names
        .as_ref()
        .is_some_and(|names| names.len() > 10_000)
    {
        return Err(
            ApiError::invalid("select at most 10000 names; use a filter for more").on("names"),
        );
    }
    let filter = TaskFilter {
        name_contains: select.name.clone(),
        group: select.group.clone(),
        module: select.module.clone(),
        state: select.state.map(TaskState::from),
        visible_groups: caller.grant.groups.clone(),
        names: select.names.clone(),
    };
    let store = &state.store;
    if bulk.dry_run {
        let paused = match bulk.action {
            BulkTaskAction::Pause => Some(false),
            BulkTaskAction::Resume => Some(true),
            BulkTaskAction::Trigger | BulkTaskAction::Delete => None,
        };
        let count = store.count_tasks_where(&filter, paused).await?;
        return Ok(axum::Json(Affected {
            affected: i64::try_from(count).unwrap_or(i64::MAX),
        }));
    }
    let affected = match bulk.action {
        BulkTaskAction::Pause => store.set_paused_where(&filter, true).await?,
        BulkTaskAction::Resume => store.set_paused_where(&filter, false).await?,
        BulkTaskAction::Delete => store.delete_where(&filter).await?,
        BulkTaskAction::Trigger => {
            let mut fired = 0u64;
            let mut after: Option<TaskCursor> = None;
            loop {
                let page = store
                    .list_task_page(&filter, TaskOrder::Name, after.as_ref(), 1000)
                    .await?;
                for task in &page.tasks {
                    // A task that does not check out has its error on its row; skip it.
                    let Ok(definition) = TaskDefinition::from_row(task) else {
                        continue;
                    };
                    let now = now_ms();
                    let params = definition.params_json(&Default::default());
                    let runs = shard_runs(&definition, now, &params, None);
                    if store.insert_runs(&task.spec.name, &runs, now).await? > 0 {
                        fired += 1;
                    }
                }
                match page.next_after {
                    Some(last) => after = Some(last),
                    None => break,
                }
            }
            fired
        }
    };
    changes::record(
        &state,
        &caller,
        &format!("task.bulk-{}", bulk.action.as_str()),
        &json(select).unwrap_or_default(),
        None,
        json(&serde_json::json!({ "affected": affected })),
    )
    .await?;
    Ok(axum::Json(Affected {
        affected: affected as i64,
    }))
}
