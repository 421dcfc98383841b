//! Claiming pending runs: one statement takes the runs a host may run (its
//! own offers, unpinned runs, runs whose selector it satisfies, and runs
//! offered to a host that did not take them within the offer window) and
//! makes them `running` on it with the next attempt number.

use crate::store::sql::placeholders;
use crate::store::{Store, StoreError};

/// A run this node has claimed: everything needed to run it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimedRun {
    /// Run id.
    pub id: i64,
    /// Task name.
    pub task: String,
    /// Task group.
    #[sqlx(rename = "task_group")]
    pub group: String,
    /// The slot.
    pub scheduled_at: i64,
    /// 0-based shard.
    pub shard_index: i64,
    /// Shards in the fire.
    pub shard_total: i64,
    /// The shard's parameter.
    pub shard_param: Option<String>,
    /// The page, for paged tasks.
    pub page_index: Option<i64>,
    /// Items per page.
    pub page_size: Option<i64>,
    /// Not to start before (ms): its slot, or when its retry is due.
    pub not_before: i64,
    /// Merged params (JSON object).
    pub params: String,
    /// The module to run.
    pub module: String,
    /// Timeout override (ms).
    pub timeout_ms: Option<i64>,
    /// Memory cap override (MiB).
    pub memory_mib: Option<i64>,
    /// This attempt, from 1.
    pub attempt: i64,
    /// Attempts allowed in all.
    pub max_attempts: i64,
    /// First retry delay (ms).
    pub retry_backoff_ms: i64,
    /// The last checkpoint an earlier attempt saved.
    pub checkpoint: Option<Vec<u8>>,
    /// The task's executor selector.
    pub selector: Option<String>,
    /// When the run is to start here (ms): its slot, or the claim if later.
    #[sqlx(rename = "started_at")]
    pub planned_start: i64,
    /// The folders its task is granted now (its `mounts` column).
    pub mounts: Option<String>,
}

/// The columns a [`ClaimedRun`] is read from.
const CLAIM_COLUMNS: &str = "id, task, task_group, scheduled_at, shard_index, shard_total, shard_param, \
    page_index, page_size, not_before, params, module, timeout_ms, memory_mib, attempt, max_attempts, \
    retry_backoff_ms, checkpoint, selector, started_at, \
    (SELECT mounts FROM tasks WHERE tasks.name = runs.task) AS mounts";

impl Store {
    /// Claims up to `limit` pending runs due by `due_by` for `node`, in one
    /// statement: they become `running` with the next attempt number (the
    /// dispatcher starts each at its `not_before`). A run is taken if it has
    /// no selector, was offered to `node` (the offering host matched its
    /// selector to `node`'s labels) or has one of the `accepted` selectors; a
    /// run offered to another host only once it has waited `offer_window_ms`
    /// since it was created (that host is busy, slow or gone).
    pub async fn claim_runs(
        &self,
        node: &str,
        now: i64,
        due_by: i64,
        limit: i64,
        offer_window_ms: i64,
        accepted: &[String],
    ) -> Result<Vec<ClaimedRun>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let selectors = if accepted.is_empty() {
            String::new()
        } else {
            format!(" OR selector IN ({})", placeholders(5, accepted.len()))
        };
        let sql = format!(
            "UPDATE runs SET state = 'running', node = $1, attempt = attempt + 1, \
             started_at = CASE WHEN not_before > $2 THEN not_before ELSE $2 END, \
             finished_at = NULL, cancel_reason = NULL, offered_to = NULL \
             WHERE id IN (SELECT id FROM runs WHERE state = 'pending' AND not_before <= $5 \
             AND (offered_to IS NULL OR offered_to = $1 OR created_at <= $3) \
             AND (selector IS NULL OR offered_to = $1{selectors}) \
             ORDER BY not_before, id LIMIT $4{}) \
             RETURNING {CLAIM_COLUMNS}",
            self.skip_locked()
        );
        self.write(|| async {
            let mut query = sqlx::query_as::<_, ClaimedRun>(&sql)
                .bind(node)
                .bind(now)
                .bind(now - offer_window_ms)
                .bind(limit)
                .bind(due_by);
            for selector in accepted {
                query = query.bind(selector);
            }
            let mut claimed = query.fetch_all(&self.pool).await?;
            // RETURNING gives no order; start the oldest first.
            claimed.sort_by_key(|run| (run.scheduled_at, run.id));
            Ok(claimed)
        })
        .await
    }

    /// Selectors of due pending runs not offered to anyone in particular,
    /// other than `known` ones: a host learns which it accepts.
    pub async fn pending_selectors(
        &self,
        now: i64,
        known: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let unknown = if known.is_empty() {
            String::new()
        } else {
            format!(" AND selector NOT IN ({})", placeholders(1, known.len()))
        };
        let sql = format!(
            "SELECT DISTINCT selector FROM runs WHERE state = 'pending' AND not_before <= $1 \
             AND selector IS NOT NULL{unknown} LIMIT 64"
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql).bind(now);
        for selector in known {
            query = query.bind(selector);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }
}
