//! `/api/v1/tokens`: list, create and revoke API tokens (admin, for every
//! group). A token's text is answered once, when it is created; the table
//! keeps only its hash.

use axum::extract::State;
use axum::http::StatusCode;

use crate::api::auth::{Caller, new_token, token_hash};
use crate::api::body::{Body, Path};
use crate::api::changes;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::server::ApiState;
use crate::api::views::{CreatedToken, NewToken, Token, TokenList};
use crate::clock::now_ms;
use crate::store::TokenRow;
use crate::units::parse_duration;
use crate::vocab::{MAX_NAME_CHARS, Role};

/// The name, role and groups of a new token or user, checked.
pub(crate) fn check_principal(
    name: &str,
    role: &str,
    groups: Option<Vec<String>>,
) -> ApiResult<(String, Role, Option<Vec<String>>)> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(format!(
            "a name must be 1 to {MAX_NAME_CHARS} characters, without control characters"
        ))
        .on("name"));
    }
    let role: Role = role
        .parse()
        .map_err(|e: String| ApiError::invalid(e).on("role"))?;
    if let Some(groups) = &groups
        && (groups.is_empty()
            || groups
                .iter()
                .any(|g| g.trim().is_empty() || g.trim() != g || g.contains(',')))
    {
        return Err(ApiError::invalid(
            "list at least one group; a group name is not empty, has no `,` and no spaces around it",
        )
        .on("groups"));
    }
    Ok((name.to_owned(), role, groups))
}

/// A token named `name` with `role`, limited to `groups`, working for
/// `expires_in` (a duration as people write it), checked; and its text.
pub(crate) fn issue(
    name: &str,
    role: &str,
    groups: Option<Vec<String>>,
    expires_in: Option<&str>,
    now: i64,
) -> ApiResult<(TokenRow, String, String)> {
    let (name, role, groups) = check_principal(name, role, groups)?;
    let expires_at = match expires_in {
        None => None,
        Some(text) => {
            let lifetime = parse_duration(text)
                .map_err(|e| ApiError::invalid(e.to_string()).on("expires_in"))?;
            let ms = i64::try_from(lifetime.as_millis())
                .ok()
                .filter(|ms| *ms > 0);
            Some(
                ms.and_then(|ms| now.checked_add(ms))
                    .filter(|at| *at < 32_503_680_000_000)
                    .ok_or_else(|| {
                        ApiError::invalid("give a lifetime from 1ms to a few centuries, e.g. `30d`")
                            .on("expires_in")
                    })?,
            )
        }
    };
    let (text, key) = new_token().map_err(|e| {
        tracing::error!("cannot draw random bytes for a token: {e}");
        ApiError::invalid("the host cannot draw random bytes for a token; see its log")
    })?;
    let row = TokenRow {
        name,
        role,
        groups,
        created_at: now,
        expires_at,
        last_used_at: None,
    };
    Ok((row, text, key))
}

/// List tokens (never their text).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = TokenList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<TokenList>> {
    caller.require_everywhere(Role::Admin)?;
    let tokens = state.store.list_tokens().await?;
    Ok(axum::Json(TokenList {
        tokens: tokens.into_iter().map(Token::from).collect(),
    }))
}

/// Create a token; the answer holds its text, shown this once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    Body(new): Body<NewToken>,
) -> ApiResult<(StatusCode, axum::Json<CreatedToken>)> {
    caller.require_everywhere(Role::Admin)?;
    let now = now_ms();
    let (row, text, key) = issue(
        &new.name,
        new.role.as_str(),
        new.groups,
        new.expires_in.as_deref(),
        now,
    )?;
    if !state
        .store
        .create_token(&row, &key, &token_hash(&text))
        .await?
    {
        return Err(ApiError::conflict(format!(
            "a token named `{}` exists; revoke it first or choose another name",
            row.name
        ))
        .on("name"));
    }
    let about = Token::from(row);
    let after = changes::json(&about);
    changes::record(&state, &caller, "token.create", &about.name, None, after).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedToken { token: text, about }),
    ))
}

/// Revoke a token: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{name}", tag = "tokens",
    params(("name" = String, Path, description = "Token name")),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn revoke(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_everywhere(Role::Admin)?;
    if !state.store.revoke_token(&name).await? {
        return Err(ApiError::not_found(format!("there is no token `{name}`")).on("name"));
    }
    changes::record(&state, &caller, "token.revoke", &name, None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
