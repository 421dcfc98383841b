//! `/api/v1/users`: list, add and remove console users (admin, for every
//! group). A password is hashed off the async workers and never answered;
//! removing a user ends their sessions.

use axum::extract::State;
use axum::http::StatusCode;

use crate::api::auth::Caller;
use crate::api::body::{Body, Path};
use crate::api::changes;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::server::ApiState;
use crate::api::sessions::{check_password, hash_password};
use crate::api::tokens::check_principal;
use crate::api::views::{NewUser, User, UserList};
use crate::clock::now_ms;
use crate::store::UserRow;
use crate::vocab::Role;

/// A user named `name` with `role`, limited to `groups`, checked, and the
/// PHC string of `password` (argon2id: tens of milliseconds of work).
pub(crate) fn new_user(
    name: &str,
    role: &str,
    groups: Option<Vec<String>>,
    password: &str,
    now: i64,
) -> ApiResult<(UserRow, String)> {
    let (name, role, groups) = check_principal(name, role, groups)?;
    check_password(password).map_err(|e| ApiError::invalid(e).on("password"))?;
    let hash = hash_password(password).map_err(|e| {
        tracing::error!("cannot hash a password: {e}");
        ApiError::unavailable("the host cannot hash the password now; see its log")
    })?;
    let row = UserRow {
        name,
        role,
        groups,
        created_at: now,
        last_login_at: None,
    };
    Ok((row, hash))
}

/// List users (never their passwords).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = UserList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<UserList>> {
    caller.require_everywhere(Role::Admin)?;
    let users = state.store.list_users().await?;
    Ok(axum::Json(UserList {
        users: users.into_iter().map(User::from).collect(),
    }))
}

/// Add a user who signs in to the console with a password.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = User), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    Body(new): Body<NewUser>,
) -> ApiResult<(StatusCode, axum::Json<User>)> {
    caller.require_everywhere(Role::Admin)?;
    let now = now_ms();
    let (row, hash) = tokio::task::spawn_blocking(move || {
        new_user(&new.name, new.role.as_str(), new.groups, &new.password, now)
    })
    .await
    .map_err(|_| ApiError::unavailable("the host cannot hash the password now; see its log"))??;
    if !state.store.create_user(&row, &hash).await? {
        return Err(ApiError::conflict(format!(
            "a user named `{}` exists; remove them first or choose another name",
            row.name
        ))
        .on("name"));
    }
    let about = User::from(row);
    let after = changes::json(&about);
    changes::record(&state, &caller, "user.create", &about.name, None, after).await?;
    Ok((StatusCode::CREATED, axum::Json(about)))
}

/// Remove a user: their sessions end at once.
#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "users",
    params(("name" = String, Path, description = "User name")),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn remove(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_everywhere(Role::Admin)?;
    if !state.store.remove_user(&name).await? {
        return Err(ApiError::not_found(format!("there is no user `{name}`")).on("name"));
    }
    changes::record(&state, &caller, "user.remove", &name, None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
