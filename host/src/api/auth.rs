//! Who is calling, and what they may do. A request carries a bearer token
//! (`Authorization: Bearer carillon_KEY_SECRET`); the token of that key is
//! looked up and the SHA-256 of the whole text compared with the one kept
//! (the table holds no usable token), in constant time; the token's role
//! and groups become the request's [`Caller`]. Or it carries a console
//! session's cookie (see `sessions`), and the user's role and groups do.
//!
//! Before the first token or user is created there is no one to sign in as: then
//! only requests from loopback are served, as an admin (any local user or
//! process may act so), and every answer says how to create the first admin
//! ([`SETUP_HINT`]). Such a request must also name a loopback host, come
//! from no other page than the API's own (`Origin`, `Sec-Fetch-Site`) and
//! through no proxy (`Forwarded`, `X-Forwarded-*`, `Via`), so a web page
//! cannot drive the API through the user's browser, DNS rebinding gains
//! nothing, and a reverse proxy on the same machine does not make everyone
//! an admin. Once a token or user has been created this start is over for
//! good, even if every one is removed later (make a new one with the CLI).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::api::error::{ApiError, ApiResult};
use crate::api::server::{ApiState, SETUP_HINT};
use crate::api::sessions;
use crate::clock::now_ms;
use crate::vocab::{Grant, Role};

/// Every token starts so, which makes one easy to recognise (and to find
/// with secret scanners) wherever it is pasted.
pub const TOKEN_PREFIX: &str = "carillon_";

/// The response header that carries [`SETUP_HINT`].
const SETUP_HEADER: &str = "carillon-setup";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new token and its key: the prefix, a key of 8 random bytes and a
/// secret of 32, in hex (`carillon_KEY_SECRET`).
pub fn new_token() -> std::io::Result<(String, String)> {
    let mut bytes = [0u8; 40];
    getrandom::getrandom(&mut bytes).map_err(std::io::Error::other)?;
    let key = hex(&bytes[..8]);
    Ok((format!("{TOKEN_PREFIX}{key}_{}", hex(&bytes[8..])), key))
}

/// `bytes` random bytes, in hex (session secrets, CSRF tokens).
pub(crate) fn random_hex(bytes: usize) -> std::io::Result<String> {
    let mut drawn = vec![0u8; bytes];
    getrandom::getrandom(&mut drawn).map_err(std::io::Error::other)?;
    Ok(hex(&drawn))
}

/// The key of a token's text, if it is shaped like one.
fn token_key(token: &str) -> Option<&str> {
    let (key, secret) = token.strip_prefix(TOKEN_PREFIX)?.split_once('_')?;
    (key.len() == 16 && secret.len() == 64).then_some(key)
}

/// What the table keeps of a token: its SHA-256, in hex.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Who is calling and what they may do.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// As the audit log names them: `token:NAME`, or `loopback`.
    pub(crate) actor: String,
    /// Their role and groups.
    pub(crate) grant: Grant,
    /// For a signed-in browser: what its changes must send back in
    /// `X-CSRF-Token`.
    pub(crate) csrf_token: Option<String>,
}

impl Caller {
    /// Refuses unless the caller holds `role` (or a higher one).
    pub(crate) fn require(&self, role: Role) -> ApiResult<()> {
        if self.grant.allows(role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {role} role; {} has {}",
                self.actor, self.grant.role
            )))
        }
    }

    /// Refuses unless the caller holds `role` for every group (tokens,
    /// modules and settings belong to no group).
    pub(crate) fn require_everywhere(&self, role: Role) -> ApiResult<()> {
        self.require(role)?;
        if self.grant.is_limited() {
            return Err(ApiError::forbidden(format!(
                "{} is limited to some task groups; this needs a token for every group",
                self.actor
            )));
        }
        Ok(())
    }

    /// Whether the caller may see tasks (and their runs) of `group`.
    pub(crate) fn sees(&self, group: &str) -> bool {
        self.grant.covers(group)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("not signed in"))
    }
}

/// Whether `host` (a `Host` header, or an origin's host, with or without
/// port) names this machine's loopback.
fn is_loopback_name(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    matches!(name, "localhost" | "::1")
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The host and port a `Host` header or an origin names, lowercased.
fn authority(text: &str) -> String {
    text.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Headers a proxy adds: a request through one may come from anywhere.
const PROXY_HEADERS: [&str; 5] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
    "via",
];

/// Why a request without a token may not be served before the first token
/// exists, if it may not.
fn bootstrap_refusal(peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<&'static str> {
    if !peer.is_some_and(|peer| peer.ip().to_canonical().is_loopback()) {
        return Some("it does not come from this machine");
    }
    if PROXY_HEADERS.iter().any(|name| headers.contains_key(*name)) {
        return Some("it came through a proxy, so it may come from anywhere");
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return Some("it has no Host header");
    };
    if !is_loopback_name(host) {
        return Some("its Host header does not name a loopback address");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let named = origin.split_once("://").map_or("", |(_, rest)| rest);
        if authority(named) != authority(host) {
            return Some("it comes from another site's page");
        }
    }
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.to_str().unwrap_or_default(), "same-origin" | "none")
    {
        return Some("it comes from another site's page");
    }
    None
}

/// The bearer token of a request, if it has an `Authorization` header.
fn bearer(headers: &HeaderMap) -> Option<Result<&str, ApiError>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let text = value.to_str().unwrap_or_default();
    Some(
        text.strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("send the token as `Authorization: Bearer TOKEN`")
            }),
    )
}

/// The caller a bearer token signs in, or why it does not.
async fn signed_in(state: &ApiState, token: &str) -> ApiResult<Caller> {
    let refused = || {
        ApiError::unauthorized(
            "this token is unknown, expired or revoked; an admin creates one with \
             `carillon token create NAME --role ROLE`",
        )
    };
    let key = token_key(token).ok_or_else(refused)?;
    let now = now_ms();
    let (row, kept) = state
        .store
        .token_by_key(key, now)
        .await?
        .ok_or_else(refused)?;
    if !bool::from(token_hash(token).as_bytes().ct_eq(kept.as_bytes())) {
        return Err(refused());
    }
    // The last-used time is a convenience: a busy database does not refuse
    // the request for it.
    if let Err(error) = state.store.touch_token(&row, now).await {
        tracing::warn!(token = %row.name, "cannot record the token's last use: {error}");
    }
    Ok(Caller {
        actor: format!("token:{}", row.name),
        grant: row.grant(),
        csrf_token: None,
    })
}

/// Finds who is calling, refuses the request if no one may, and puts the
/// [`Caller`] in the request for the handlers.
pub(crate) async fn authenticate(mut request: Request, next: Next) -> Response {
    let Some(state) = request.extensions().get::<ApiState>().cloned() else {
        return ApiError::unauthorized("the API is not set up").into_response();
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let headers = request.headers();
    let (caller, bootstrap) = match bearer(headers) {
        Some(Err(error)) => return error.into_response(),
        Some(Ok(token)) => match signed_in(&state, token).await {
            Ok(caller) => (caller, false),
            Err(error) => return error.into_response(),
        },
        None => match sessions::from_cookie(&state, request.method(), headers).await {
            Some(Ok(caller)) => (caller, false),
            Some(Err(error)) => return error.into_response(),
            None => match state.store.has_principals().await {
                Err(error) => return ApiError::from(error).into_response(),
                Ok(true) => {
                    return ApiError::unauthorized(
                        "sign in: send `Authorization: Bearer TOKEN` (an admin creates tokens with \
                     `carillon token create NAME --role ROLE`), or sign in as a user with \
                     POST /api/v1/login",
                    )
                    .into_response();
                }
                Ok(false) => match bootstrap_refusal(peer, headers) {
                    Some(why) => {
                        return ApiError::forbidden(format!("refused, as {why}: {SETUP_HINT}"))
                            .into_response();
                    }
                    None => (
                        Caller {
                            actor: "loopback".to_owned(),
                            grant: Grant::admin(),
                            csrf_token: None,
                        },
                        true,
                    ),
                },
            },
        },
    };
    request.extensions_mut().insert(caller);
    let mut response = next.run(request).await;
    if bootstrap {
        response
            .headers_mut()
            .insert(SETUP_HEADER, HeaderValue::from_static(SETUP_HINT));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_requests_pass_before_the_first_token() {
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:7878"));
        assert_eq!(bootstrap_refusal(Some(local), &headers), None);
        let remote: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        assert!(bootstrap_refusal(Some(remote), &headers).is_some());
        headers.insert(header::HOST, HeaderValue::from_static("evil.example:7878"));
        assert!(
            bootstrap_refusal(Some(local), &headers).is_some(),
            "DNS rebinding"
        );
        headers.insert(header::HOST, HeaderValue::from_static("localhost:7878"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(
            bootstrap_refusal(Some(local), &headers).is_some(),
            "cross-site"
        );
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://localhost:3000"),
        );
        assert!(
            bootstrap_refusal(Some(local), &headers).is_some(),
            "another local web app"
        );
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://localhost:7878"),
        );
        assert_eq!(bootstrap_refusal(Some(local), &headers), None);
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(bootstrap_refusal(Some(local), &headers).is_some());
        headers.remove("sec-fetch-site");
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        assert!(
            bootstrap_refusal(Some(local), &headers).is_some(),
            "a local reverse proxy"
        );
        headers.remove("x-forwarded-for");
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().unwrap();
        assert_eq!(bootstrap_refusal(Some(mapped), &headers), None);
    }

    #[test]
    fn tokens_are_random_and_kept_as_hashes() {
        let ((a, key), (b, _)) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(token_key(&a), Some(key.as_str()));
        assert_eq!(token_key("carillon_short_secret"), None);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
