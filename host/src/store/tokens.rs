//! `api_tokens`: the admin API's bearer tokens. A token is found by its key
//! (the part after the prefix, not secret) and kept only as the SHA-256 of
//! its whole text (hex), so the table never holds one that would work; the
//! caller compares that hash. Its last use is written at most once a minute.

use serde::Serialize;

use crate::store::{Store, StoreError};
use crate::vocab::{Grant, Role, parse_groups};

/// A token as listed: everything but its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRow {
    /// Its unique name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The task groups it is limited to, if any.
    pub groups: Option<Vec<String>>,
    /// When it was created (ms).
    pub created_at: i64,
    /// When it stops working (ms), if ever.
    pub expires_at: Option<i64>,
    /// When it was last used (ms, to the minute).
    pub last_used_at: Option<i64>,
}

impl TokenRow {
    /// What its holder may do.
    pub fn grant(&self) -> Grant {
        Grant {
            role: self.role,
            groups: self.groups.clone(),
        }
    }
}

/// How often the last-used time is written.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A row of `api_tokens` as read, with the hash it keeps (only the
/// sign-in lookup reads that; listings select it as empty).
#[derive(sqlx::FromRow)]
struct StoredToken {
    name: String,
    role: String,
    task_groups: Option<String>,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    token_hash: String,
}

const TOKEN_COLUMNS: &str = "name, role, task_groups, created_at, expires_at, last_used_at";

impl StoredToken {
    /// The token, checked; and its hash.
    fn read(self) -> Result<(TokenRow, String), StoreError> {
        let name = self.name;
        let bad = |what: String| StoreError::Corrupt(format!("api token `{name}`: {what}"));
        let token = TokenRow {
            role: self.role.parse().map_err(bad)?,
            groups: self
                .task_groups
                .as_deref()
                .map(parse_groups)
                .transpose()
                .map_err(bad)?,
            name: name.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
        };
        Ok((token, self.token_hash))
    }
}

impl Store {
    /// Stores a new token by the hash of its text. Returns false if a token
    /// of that name exists.
    pub async fn create_token(
        &self,
        token: &TokenRow,
        key: &str,
        hash: &str,
    ) -> Result<bool, StoreError> {
        let groups = token.groups.as_ref().map(|g| g.join(","));
        let created = self
            .write_rows(
                "INSERT INTO api_tokens (name, role, task_groups, token_key, token_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING",
                |query| {
                    query
                        .bind(&token.name)
                        .bind(token.role.as_str())
                        .bind(groups.clone())
                        .bind(key)
                        .bind(hash)
                        .bind(token.created_at)
                        .bind(token.expires_at)
                },
            )
            .await?;
        Ok(created > 0)
    }

    /// The token of `key` and the hash it is kept as, if there is one and
    /// it has not expired at `now`.
    pub async fn token_by_key(
        &self,
        key: &str,
        now: i64,
    ) -> Result<Option<(TokenRow, String)>, StoreError> {
        let found: Option<StoredToken> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS}, token_hash FROM api_tokens WHERE token_key = $1"
        ))
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        let Some((token, hash)) = found.map(StoredToken::read).transpose()? else {
            return Ok(None);
        };
        if token.expires_at.is_some_and(|at| at <= now) {
            return Ok(None);
        }
        Ok(Some((token, hash)))
    }

    /// Records that token `name` was used at `now` (at most once a minute).
    pub async fn touch_token(&self, token: &TokenRow, now: i64) -> Result<(), StoreError> {
        if token
            .last_used_at
            .is_none_or(|at| now - at >= TOUCH_EVERY_MS)
        {
            self.write_rows(
                "UPDATE api_tokens SET last_used_at = $1 WHERE name = $2",
                |query| query.bind(now).bind(&token.name),
            )
            .await?;
        }
        Ok(())
    }

    /// Every token, by name.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let stored: Vec<StoredToken> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS}, '' AS token_hash FROM api_tokens ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?;
        stored
            .into_iter()
            .map(|token| token.read().map(|(token, _)| token))
            .collect()
    }

    /// Revokes (deletes) a token. Returns whether it existed.
    pub async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let deleted = self
            .write_rows("DELETE FROM api_tokens WHERE name = $1", |query| {
                query.bind(name)
            })
            .await?;
        Ok(deleted > 0)
    }

    /// Whether sign-in has been set up: a token or user exists or ever
    /// existed (so removing every one does not reopen the loopback-only
    /// start).
    pub async fn has_principals(&self) -> Result<bool, StoreError> {
        let any: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM api_tokens UNION ALL SELECT 1 FROM users UNION ALL \
             SELECT 1 FROM audit WHERE action IN ('token.create', 'user.create') LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(any.is_some())
    }
}
