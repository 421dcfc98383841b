//! `audit`: what was changed through the admin API, by whom and when, with
//! the object before and after as JSON.

use serde::Serialize;

use crate::store::{Store, StoreError};

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AuditRow {
    /// Increasing id.
    pub id: i64,
    /// When (ms).
    pub at: i64,
    /// Who: `token:NAME`, or `loopback` before any token existed.
    pub actor: String,
    /// What was done: `task.create`, `run.cancel`, `token.revoke`, …
    pub action: String,
    /// To what: a task name, a run id, a token name.
    pub target: String,
    /// The object before (JSON), if it existed.
    pub before: Option<String>,
    /// The object after (JSON), if it still exists.
    pub after: Option<String>,
}

/// A change to record.
#[derive(Debug, Clone, Copy)]
pub struct AuditEntry<'a> {
    /// When (ms).
    pub at: i64,
    /// Who.
    pub actor: &'a str,
    /// What.
    pub action: &'a str,
    /// To what.
    pub target: &'a str,
    /// The object before, as JSON.
    pub before: Option<&'a str>,
    /// The object after, as JSON.
    pub after: Option<&'a str>,
}

impl Store {
    /// Records a change.
    pub async fn audit(&self, entry: AuditEntry<'_>) -> Result<(), StoreError> {
        self.write_rows(
            "INSERT INTO audit (at, actor, action, target, before, after) VALUES ($1, $2, $3, $4, $5, $6)",
            |query| {
                query
                    .bind(entry.at)
                    .bind(entry.actor)
                    .bind(entry.action)
                    .bind(entry.target)
                    .bind(entry.before)
                    .bind(entry.after)
            },
        )
        .await?;
        Ok(())
    }

    /// Changes, newest first: at most `limit`, older than id `before` if given.
    pub async fn list_audit(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, at, actor, action, target, before, after FROM audit \
             WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(before)
        .bind(limit.max(1))
        .fetch_all(&self.pool)
        .await?)
    }
}
