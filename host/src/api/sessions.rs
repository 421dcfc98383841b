//! Console sign-in: users' passwords (argon2id, verified off the async
//! workers), `POST /api/v1/login` (rate-limited per address and per name),
//! the session cookie (`carillon_session`: a random secret, `HttpOnly`,
//! `SameSite=Strict`; the table keeps its SHA-256), the CSRF token every
//! change through a session must send back in `X-CSRF-Token`, `GET
//! /api/v1/session` (who is signed in) and `POST /api/v1/logout`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use utoipa::ToSchema;

use crate::api::auth::{Caller, random_hex, token_hash};
use crate::api::body::Body;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::server::ApiState;
use crate::api::views::RoleName;
use crate::clock::now_ms;
use crate::vocab::MAX_NAME_CHARS;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "carillon_session";
/// The header a session's changes carry their CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Failed sign-ins allowed per address, and per user name, in a window.
const MAX_FAILURES: u32 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// At most this many addresses and names are counted at once.
const MAX_FAILURE_KEYS: usize = 100_000;
/// Passwords shorter than this are refused.
pub(crate) const MIN_PASSWORD_CHARS: usize = 8;
/// And longer than this (hashing is bounded work).
pub(crate) const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes `password` for the `users` table (argon2id, a random salt).
pub(crate) fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// Whether `password` is one a user may have, or what is wrong with it.
pub(crate) fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "a password may have at most {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    Ok(())
}

/// Whether `password` matches the PHC string `kept`.
fn verify(password: &str, kept: &str) -> bool {
    PasswordHash::new(kept).ok().is_some_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash no password matches, checked when the name is unknown so that an
/// unknown name takes as long to refuse as a wrong password.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("no user has this password").unwrap_or_default());

/// Failed sign-ins by address and by name, in the current window.
static FAILURES: LazyLock<Mutex<HashMap<String, (Instant, u32)>>> = LazyLock::new(Default::default);

/// How long until `keys` may try again, if any of them failed too often.
fn blocked_for(keys: &[String]) -> Option<Duration> {
    let failures = FAILURES.lock().unwrap_or_else(|p| p.into_inner());
    keys.iter()
        .filter_map(|key| failures.get(key))
        .filter(|(since, count)| *count >= MAX_FAILURES && since.elapsed() < FAILURE_WINDOW)
        .map(|(since, _)| FAILURE_WINDOW - since.elapsed())
        .max()
}

fn note_failure(keys: &[String]) {
    let mut failures = FAILURES.lock().unwrap_or_else(|p| p.into_inner());
    if failures.len() >= MAX_FAILURE_KEYS {
        failures.retain(|_, (since, _)| since.elapsed() < FAILURE_WINDOW);
    }
    for key in keys {
        // Full of keys failing now: those already counted go on counting,
        // new ones are not kept (memory stays bounded).
        if failures.len() >= MAX_FAILURE_KEYS && !failures.contains_key(key) {
            continue;
        }
        let entry = failures.entry(key.clone()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= FAILURE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

fn forget_failures(keys: &[String]) {
    let mut failures = FAILURES.lock().unwrap_or_else(|p| p.into_inner());
    for key in keys {
        failures.remove(key);
    }
}

/// The session secret a request's cookie carries, if any.
fn cookie_secret(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The caller a session cookie signs in, if the request has one: refused
/// when the session is unknown or ended, or when a change does not carry
/// the session's CSRF token.
pub(crate) async fn from_cookie(
    state: &ApiState,
    method: &Method,
    headers: &HeaderMap,
) -> Option<ApiResult<Caller>> {
    let secret = cookie_secret(headers)?;
    let found = match state.store.session(&token_hash(secret), now_ms()).await {
        Err(error) => return Some(Err(error.into())),
        Ok(None) => {
            return Some(Err(ApiError::unauthorized(
                "your session has ended; sign in again",
            )));
        }
        Ok(Some(found)) => found,
    };
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !bool::from(sent.as_bytes().ct_eq(found.csrf_token.as_bytes())) {
            return Some(Err(ApiError::forbidden(
                "a change made through a session needs its CSRF token in the X-CSRF-Token header \
                 (GET /api/v1/session gives it)",
            )));
        }
    }
    Some(Ok(Caller {
        actor: format!("user:{}", found.user.name),
        grant: found.user.grant(),
        csrf_token: Some(found.csrf_token),
    }))
}

/// A sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[schema(max_length = 1024)]
    password: String,
}

/// Who is signed in.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Session {
    /// As the audit log names them: `user:NAME`, `token:NAME` or `loopback`.
    actor: String,
    role: RoleName,
    /// The task groups they are limited to, if any.
    groups: Option<Vec<String>>,
    /// For a session: what changes must send in `X-CSRF-Token`.
    csrf_token: Option<String>,
}

fn session_of(caller: &Caller) -> Session {
    Session {
        actor: caller.actor.clone(),
        role: caller.grant.role.into(),
        groups: caller.grant.groups.clone(),
        csrf_token: caller.csrf_token.clone(),
    }
}

/// Sign in with a user's name and password: sets the session cookie and
/// answers the session, with its CSRF token.
#[utoipa::path(post, path = "/api/v1/login", tag = "sessions", request_body = Login, security(()),
    responses((status = 200, body = Session), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn login(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Body(login): Body<Login>,
) -> Response {
    match sign_in(&state, peer.ip(), login).await {
        Ok(response) => response,
        Err((error, Some(wait))) => {
            let mut response = error.into_response();
            if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Err((error, None)) => error.into_response(),
    }
}

async fn sign_in(
    state: &ApiState,
    ip: IpAddr,
    login: Login,
) -> Result<Response, (ApiError, Option<Duration>)> {
    let name: String = login.name.chars().take(MAX_NAME_CHARS).collect();
    let keys = [format!("ip:{ip}"), format!("user:{name}")];
    if let Some(wait) = blocked_for(&keys) {
        return Err((
            ApiError::too_many(format!(
                "too many failed sign-ins; try again in {} s",
                wait.as_secs().max(1)
            )),
            Some(wait),
        ));
    }
    let found = state
        .store
        .user_with_password(&login.name)
        .await
        .map_err(|e| (ApiError::from(e), None))?;
    let password = login.password;
    let kept = found.as_ref().map(|(_, kept)| kept.clone());
    let matches = tokio::task::spawn_blocking(move || {
        let kept = kept.unwrap_or_else(|| DUMMY_HASH.clone());
        password.len() <= MAX_PASSWORD_BYTES && verify(&password, &kept)
    })
    .await
    .unwrap_or(false);
    let Some((user, _)) = found.filter(|_| matches) else {
        note_failure(&keys);
        tracing::warn!(user = %name.escape_debug(), address = %ip, "failed sign-in");
        return Err((ApiError::unauthorized("wrong name or password"), None));
    };
    forget_failures(&keys);
    let internal = |what: &str| {
        tracing::error!("cannot start a session: {what}");
        (
            ApiError::unavailable("the host cannot start a session now; see its log"),
            None,
        )
    };
    let secret = random_hex(32).map_err(|e| internal(&e.to_string()))?;
    let csrf = random_hex(32).map_err(|e| internal(&e.to_string()))?;
    let now = now_ms();
    let lifetime = SESSION_LIFETIME.as_millis() as i64;
    state
        .store
        .create_session(&user.name, &token_hash(&secret), &csrf, now, now + lifetime)
        .await
        .map_err(|e| (ApiError::from(e), None))?;
    let caller = Caller {
        actor: format!("user:{}", user.name),
        grant: user.grant(),
        csrf_token: Some(csrf),
    };
    let cookie = format!(
        "{SESSION_COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_LIFETIME.as_secs()
    );
    let mut response = axum::Json(session_of(&caller)).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Who is calling: the session's user (with its CSRF token), or the token.
#[utoipa::path(get, path = "/api/v1/session", tag = "sessions",
    responses((status = 200, body = Session), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn current(caller: Caller) -> axum::Json<Session> {
    axum::Json(session_of(&caller))
}

/// Sign out: the session ends and its cookie is cleared.
#[utoipa::path(post, path = "/api/v1/logout", tag = "sessions",
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn logout(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(secret) = cookie_secret(&headers) {
        state.store.end_session(&token_hash(secret)).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("carillon_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_kept_as_argon2id_and_verified() {
        let kept = hash_password("correct horse").unwrap();
        assert!(kept.starts_with("$argon2id$"), "{kept}");
        assert!(verify("correct horse", &kept));
        assert!(!verify("wrong horse", &kept));
        assert!(!verify("correct horse", "not a hash"));
        assert!(check_password("short").is_err());
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; carillon_session=abc; b=2"),
        );
        assert_eq!(cookie_secret(&headers), Some("abc"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("carillon_session="),
        );
        assert_eq!(cookie_secret(&headers), None);
    }

    #[test]
    fn failures_block_a_key_for_the_window() {
        let keys = ["ip:test-limiter".to_owned()];
        for _ in 0..MAX_FAILURES {
            assert!(blocked_for(&keys).is_none());
            note_failure(&keys);
        }
        assert!(blocked_for(&keys).is_some());
        forget_failures(&keys);
        assert!(blocked_for(&keys).is_none());
    }
}
