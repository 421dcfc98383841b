//! `/api/v1/alert-rules`, `/api/v1/alert-channels`, `/api/v1/keepers` and
//! `/api/v1/alerts`: what to alert on, where alerts go, who is told about
//! a task, and every alert raised (delivered, failed or suppressed).
//! Rules, channels and keepers cover tasks of every group, so changing them
//! takes an editor of every group; reading takes a viewer. Every change is
//! audited.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::auth::Caller;
use crate::api::body::{Body, Path, Query};
use crate::api::changes;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::server::ApiState;
use crate::api::views::{created_or_ok, cut_page, page_size};
use crate::clock::now_ms;
use crate::store::{AlertRow, ChannelRow, IntFlag, KeeperRow, RuleRow};
use crate::vocab::{Role, check_channel};

/// An alert rule, as written, with what is wrong with it if anything.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RuleView {
    pub(crate) name: String,
    /// failed, timed-out, orphaned, misfire, long-running, failures or stale.
    pub(crate) event: String,
    /// The tasks it is for, comma separated; with no group either: every task.
    pub(crate) tasks: Option<String>,
    /// The group it is for.
    pub(crate) task_group: Option<String>,
    /// Where its alerts go: channel names, comma separated.
    pub(crate) channels: String,
    /// long-running: how long a run may run; failures: the window; stale:
    /// the grace (ms).
    pub(crate) threshold_ms: Option<i64>,
    /// failures: how many within the window.
    pub(crate) count: Option<i64>,
    /// Repeats for a task within this long after an alert are suppressed (ms).
    pub(crate) silence_ms: i64,
    pub(crate) paused: bool,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    /// Why it does not apply, if it does not.
    pub(crate) problem: Option<String>,
}

impl From<RuleRow> for RuleView {
    fn from(row: RuleRow) -> Self {
        let problem = row
            .rule()
            .err()
            .map(|(column, why)| format!("{column}: {why}"));
        Self {
            name: row.name,
            event: row.event,
            tasks: row.tasks,
            task_group: row.task_group,
            channels: row.channels,
            threshold_ms: row.threshold_ms,
            count: row.count,
            silence_ms: row.silence_ms,
            paused: row.paused.0,
            created_at: row.created_at,
            updated_at: row.updated_at,
            problem,
        }
    }
}

/// A rule to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleBody {
    #[schema(min_length = 1)]
    pub(crate) event: String,
    pub(crate) tasks: Option<String>,
    pub(crate) task_group: Option<String>,
    #[schema(min_length = 1)]
    pub(crate) channels: String,
    pub(crate) threshold_ms: Option<i64>,
    pub(crate) count: Option<i64>,
    pub(crate) silence_ms: Option<i64>,
    pub(crate) paused: Option<bool>,
}

/// Rules, by name.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RuleList {
    pub(crate) rules: Vec<RuleView>,
}

/// A channel.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChannelView {
    pub(crate) name: String,
    /// webhook, slack, feishu, dingtalk, wecom or email.
    pub(crate) kind: String,
    /// The webhook URL, or e-mail addresses (none: the task's keepers').
    pub(crate) target: String,
    /// The secret (by name) that signs DingTalk and Feishu messages.
    pub(crate) secret: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

impl From<ChannelRow> for ChannelView {
    fn from(row: ChannelRow) -> Self {
        Self {
            name: row.name,
            kind: row.kind,
            target: row.target,
            secret: row.secret,
            description: row.description,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A channel to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChannelBody {
    #[schema(min_length = 1)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) target: String,
    pub(crate) secret: Option<String>,
    pub(crate) description: Option<String>,
}

/// Channels, by name.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChannelList {
    pub(crate) channels: Vec<ChannelView>,
}

/// A keeper: someone told about the tasks naming them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct KeeperView {
    pub(crate) name: String,
    pub(crate) email: Option<String>,
    /// @-mentioned in DingTalk and WeCom messages.
    pub(crate) mobile: Option<String>,
    pub(crate) description: Option<String>,
}

/// A keeper to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeeperBody {
    pub(crate) email: Option<String>,
    pub(crate) mobile: Option<String>,
    pub(crate) description: Option<String>,
}

/// Keepers, by name.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeeperList {
    pub(crate) keepers: Vec<KeeperView>,
}

/// An alert.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlertView {
    pub(crate) id: i64,
    pub(crate) rule: String,
    pub(crate) event: String,
    pub(crate) task: String,
    pub(crate) run_id: Option<i64>,
    pub(crate) message: String,
    /// pending, delivered, failed or suppressed.
    pub(crate) state: String,
    /// Alerts like it suppressed since the last that went out.
    pub(crate) suppressed_before: i64,
    pub(crate) raised_at: i64,
    pub(crate) finished_at: Option<i64>,
}

impl From<AlertRow> for AlertView {
    fn from(row: AlertRow) -> Self {
        Self {
            id: row.id,
            rule: row.rule,
            event: row.event,
            task: row.task,
            run_id: row.run_id,
            message: row.message,
            state: row.state,
            suppressed_before: row.suppressed_before,
            raised_at: row.raised_at,
            finished_at: row.finished_at,
        }
    }
}

/// A page of alerts, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlertList {
    pub(crate) alerts: Vec<AlertView>,
    /// Pass as `before` for the next page; absent on the last.
    pub(crate) next: Option<i64>,
}

/// Which alerts to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertQuery {
    /// Only alerts in this state: pending, delivered, failed or suppressed.
    state: Option<String>,
    /// Only alerts about this task.
    task: Option<String>,
    /// Only ids below this (the `next` of the previous page).
    before: Option<i64>,
    /// Alerts per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

const ALERT_STATES: [&str; 4] = ["pending", "delivered", "failed", "suppressed"];

/// List alert rules.
#[utoipa::path(get, path = "/api/v1/alert-rules", tag = "alerts",
    responses((status = 200, body = RuleList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn rules(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<RuleList>> {
    caller.require(Role::Viewer)?;
    let rows = state.store.list_rules().await?;
    Ok(axum::Json(RuleList {
        rules: rows.into_iter().map(RuleView::from).collect(),
    }))
}

/// Create or replace an alert rule.
#[utoipa::path(put, path = "/api/v1/alert-rules/{name}", tag = "alerts",
    params(("name" = String, Path, description = "Rule name")), request_body = RuleBody,
    responses((status = 200, body = RuleView, description = "Replaced"),
        (status = 201, body = RuleView, description = "Created"),
        (status = "4XX", body = ErrorBody)))]
pub(crate) async fn put_rule(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<RuleBody>,
) -> ApiResult<(StatusCode, axum::Json<RuleView>)> {
    caller.require_everywhere(Role::Editor)?;
    check_name("rule", &name)?;
    let now = now_ms();
    let row = RuleRow {
        name: name.clone(),
        event: body.event,
        tasks: body.tasks.filter(|t| !t.trim().is_empty()),
        task_group: body.task_group.filter(|g| !g.trim().is_empty()),
        channels: body.channels,
        threshold_ms: body.threshold_ms,
        count: body.count,
        silence_ms: body.silence_ms.unwrap_or(0),
        paused: IntFlag(body.paused.unwrap_or(false)),
        created_at: now,
        updated_at: now,
    };
    let rule = row
        .rule()
        .map_err(|(column, why)| ApiError::invalid(why).on(column))?;
    let known: Vec<String> = state
        .store
        .list_channels()
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    if let Some(missing) = rule.channels.iter().find(|c| !known.contains(c)) {
        return Err(ApiError::invalid(format!(
            "channel `{missing}` does not exist; create it first (PUT /api/v1/alert-channels/{missing})"
        ))
        .on("channels"));
    }
    let created = state.store.put_rule(&row, now).await?;
    let view = RuleView::from(row);
    changes::record(
        &state,
        &caller,
        "alert-rule.set",
        &name,
        None,
        changes::json(&view),
    )
    .await?;
    Ok((created_or_ok(created), axum::Json(view)))
}

/// Delete an alert rule (its alerts stay).
#[utoipa::path(delete, path = "/api/v1/alert-rules/{name}", tag = "alerts",
    params(("name" = String, Path, description = "Rule name")),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn delete_rule(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_everywhere(Role::Editor)?;
    if !state.store.delete_rule(&name).await? {
        return Err(ApiError::not_found(format!("there is no alert rule `{name}`")).on("name"));
    }
    changes::record(&state, &caller, "alert-rule.delete", &name, None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List alert channels.
#[utoipa::path(get, path = "/api/v1/alert-channels", tag = "alerts",
    responses((status = 200, body = ChannelList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn channels(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<ChannelList>> {
    caller.require(Role::Viewer)?;
    let rows = state.store.list_channels().await?;
    // A webhook's URL is its credential (Slack's path, DingTalk's
    // `access_token`, WeCom's `key`): only who may change it sees it.
    let full = caller.require_everywhere(Role::Editor).is_ok();
    Ok(axum::Json(ChannelList {
        channels: rows
            .into_iter()
            .map(|row| {
                let mut view = ChannelView::from(row);
                if !full && view.kind != "email" {
                    view.target = hidden_url(&view.target);
                }
                view
            })
            .collect(),
    }))
}

/// Create or replace an alert channel.
#[utoipa::path(put, path = "/api/v1/alert-channels/{name}", tag = "alerts",
    params(("name" = String, Path, description = "Channel name")), request_body = ChannelBody,
    responses((status = 200, body = ChannelView, description = "Replaced"),
        (status = 201, body = ChannelView, description = "Created"),
        (status = "4XX", body = ErrorBody)))]
pub(crate) async fn put_channel(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<ChannelBody>,
) -> ApiResult<(StatusCode, axum::Json<ChannelView>)> {
    caller.require_everywhere(Role::Editor)?;
    check_name("channel", &name)?;
    check_channel(&body.kind, &body.target)
        .map_err(|(column, why)| ApiError::invalid(why).on(column))?;
    let now = now_ms();
    let row = ChannelRow {
        name: name.clone(),
        kind: body.kind.trim().to_owned(),
        target: body.target.trim().to_owned(),
        secret: body.secret.filter(|s| !s.trim().is_empty()),
        description: body.description,
        created_at: now,
        updated_at: now,
    };
    let created = state.store.put_channel(&row, now).await?;
    let view = ChannelView::from(row);
    changes::record(
        &state,
        &caller,
        "alert-channel.set",
        &name,
        None,
        changes::json(&view),
    )
    .await?;
    Ok((created_or_ok(created), axum::Json(view)))
}

/// Delete an alert channel.
#[utoipa::path(delete, path = "/api/v1/alert-channels/{name}", tag = "alerts",
    params(("name" = String, Path, description = "Channel name")),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn delete_channel(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_everywhere(Role::Editor)?;
    let users = state.store.rules_using_channel(&name).await?;
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "channel `{name}` is used by rule(s) {}; take it out of them first",
            users.join(", ")
        )));
    }
    if !state.store.delete_channel(&name).await? {
        return Err(ApiError::not_found(format!("there is no channel `{name}`")).on("name"));
    }
    changes::record(&state, &caller, "alert-channel.delete", &name, None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List keepers.
#[utoipa::path(get, path = "/api/v1/keepers", tag = "alerts",
    responses((status = 200, body = KeeperList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn keepers(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<KeeperList>> {
    caller.require(Role::Viewer)?;
    let rows = state.store.list_keepers().await?;
    // Contacts are personal: only who may change them sees them whole.
    let full = caller.require_everywhere(Role::Editor).is_ok();
    Ok(axum::Json(KeeperList {
        keepers: rows
            .into_iter()
            .map(|k| KeeperView {
                name: k.name,
                email: if full {
                    k.email
                } else {
                    k.email.as_deref().map(hidden_email)
                },
                mobile: if full {
                    k.mobile
                } else {
                    k.mobile.as_deref().map(hidden_mobile)
                },
                description: k.description,
            })
            .collect(),
    }))
}

/// Create or replace a keeper.
#[utoipa::path(put, path = "/api/v1/keepers/{name}", tag = "alerts",
    params(("name" = String, Path, description = "Keeper name")), request_body = KeeperBody,
    responses((status = 200, body = KeeperView, description = "Replaced"),
        (status = 201, body = KeeperView, description = "Created"),
        (status = "4XX", body = ErrorBody)))]
pub(crate) async fn put_keeper(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<KeeperBody>,
) -> ApiResult<(StatusCode, axum::Json<KeeperView>)> {
    caller.require_everywhere(Role::Editor)?;
    check_name("keeper", &name)?;
    let email = body.email.filter(|e| !e.trim().is_empty());
    if let Some(email) = &email {
        check_channel("email", email).map_err(|(_, why)| ApiError::invalid(why).on("email"))?;
    }
    let row = KeeperRow {
        name: name.clone(),
        email,
        mobile: body.mobile.filter(|m| !m.trim().is_empty()),
        description: body.description,
    };
    let created = state.store.put_keeper(&row).await?;
    let view = KeeperView {
        name: row.name,
        email: row.email,
        mobile: row.mobile,
        description: row.description,
    };
    changes::record(
        &state,
        &caller,
        "keeper.set",
        &name,
        None,
        changes::json(&view),
    )
    .await?;
    Ok((created_or_ok(created), axum::Json(view)))
}

/// Delete a keeper.
#[utoipa::path(delete, path = "/api/v1/keepers/{name}", tag = "alerts",
    params(("name" = String, Path, description = "Keeper name")),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn delete_keeper(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_everywhere(Role::Editor)?;
    if !state.store.delete_keeper(&name).await? {
        return Err(ApiError::not_found(format!("there is no keeper `{name}`")).on("name"));
    }
    changes::record(&state, &caller, "keeper.delete", &name, None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List alerts, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, body = AlertList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn alerts(
    State(state): State<ApiState>,
    caller: Caller,
    Query(query): Query<AlertQuery>,
) -> ApiResult<axum::Json<AlertList>> {
    caller.require(Role::Viewer)?;
    let limit = page_size(query.limit)?;
    if let Some(wanted) = &query.state
        && !ALERT_STATES.contains(&wanted.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "`{wanted}` is not an alert state; use pending, delivered, failed or suppressed"
        ))
        .on("state"));
    }
    let mut rows = state
        .store
        .list_alerts(
            query.state.as_deref(),
            query.task.as_deref(),
            query.before,
            caller.grant.groups.as_deref(),
            limit + 1,
        )
        .await?;
    let next = cut_page(&mut rows, limit, |row| row.id);
    Ok(axum::Json(AlertList {
        alerts: rows.into_iter().map(AlertView::from).collect(),
        next,
    }))
}

/// A webhook URL as those who may not change it see it: its scheme and
/// host, the rest (where its token is) hidden.
fn hidden_url(url: &str) -> String {
    match url.parse::<http::Uri>() {
        Ok(uri) if uri.scheme().is_some() && uri.authority().is_some() => format!(
            "{}://{}/…",
            uri.scheme_str().unwrap_or_default(),
            uri.authority().map(|a| a.host()).unwrap_or_default()
        ),
        _ => "…".to_owned(),
    }
}

/// `ann@example.com` as `a…@example.com` (each of a list).
fn hidden_email(list: &str) -> String {
    list.split(',')
        .map(|address| {
            let address = address.trim();
            match address.split_once('@') {
                Some((user, domain)) => {
                    format!("{}…@{domain}", user.chars().next().unwrap_or_default())
                }
                None => "…".to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A phone number as its last four digits.
fn hidden_mobile(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let last: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("…{last}")
}

fn check_name(what: &str, name: &str) -> ApiResult<()> {
    if name.trim().is_empty()
        || name.chars().count() > 200
        || name.chars().any(|c| c.is_control() || c == ',' || c == '/')
    {
        return Err(ApiError::invalid(format!(
            "a {what} name is 1 to 200 characters, without control characters, `,` or `/`"
        ))
        .on("name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_s_token_is_hidden_from_who_may_not_change_it() {
        assert_eq!(
            hidden_url("https://oapi.dingtalk.com/robot/send?access_token=abc"),
            "https://oapi.dingtalk.com/…"
        );
        assert_eq!(
            hidden_url("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(hidden_url("not a url"), "…");
    }

    #[test]
    fn contacts_are_shown_in_part() {
        assert_eq!(
            hidden_email("ann@example.com, bob@example.org"),
            "a…@example.com, b…@example.org"
        );
        assert_eq!(hidden_mobile("+86 138-0013-8000"), "…8000");
        assert_eq!(hidden_mobile("12"), "…12");
    }
}
