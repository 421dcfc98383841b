//! The `runs` table: claiming pending runs, recording outcomes (fenced by node
//! and attempt), checkpoints, cancel requests, rescue of interrupted runs, and
//! listings.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::store::fire::{NewRun, insert_run};
use crate::store::{Store, StoreError, placeholders, retry_transient};

/// A run this node has claimed: everything needed to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedRun {
    /// Run id.
    pub id: i64,
    /// Task name.
    pub task: String,
    /// Task group.
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
}

/// How a claimed attempt ended, as the dispatcher decided to record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Final state (`succeeded`, `failed`, `timed-out`, `cancelled`) or
    /// `pending` to retry at `retry_at`.
    pub state: &'static str,
    /// When a retry may start (with state `pending`).
    pub retry_at: Option<i64>,
    /// The job's summary.
    pub summary: Option<String>,
    /// Items processed.
    pub items: Option<i64>,
    /// The reason, for anything but success.
    pub error: Option<String>,
    /// Digest of the module version that ran.
    pub module_digest: Option<String>,
    /// Give the attempt back (host shutdown): it does not count.
    pub refund_attempt: bool,
    /// When the attempt really started, if it did (a run claimed ahead of
    /// its slot starts at the slot, not at the claim).
    pub started_at: Option<i64>,
}

/// A completion to record for one attempt, fenced by node and attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FencedCompletion {
    /// The run.
    pub run_id: i64,
    /// The node that ran the attempt.
    pub node: String,
    /// The attempt.
    pub attempt: i64,
    /// Whether the run holds a page.
    pub paged: bool,
    /// How it ended.
    pub completion: Completion,
}

/// A run, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRow {
    /// Run id.
    pub id: i64,
    /// Task name.
    pub task: String,
    /// 0-based shard.
    pub shard_index: i64,
    /// Shards in the fire.
    pub shard_total: i64,
    /// The slot (ms).
    pub scheduled_at: i64,
    /// When the last attempt started (ms).
    pub started_at: Option<i64>,
    /// When it ended (ms).
    pub finished_at: Option<i64>,
    /// pending, running, succeeded, failed, timed-out, cancelled, orphaned, skipped.
    pub state: String,
    /// Attempts made.
    pub attempt: i64,
    /// Why it did not succeed.
    pub error: Option<String>,
    /// The module version that ran.
    pub module_digest: Option<String>,
    /// The node holding or last holding it.
    pub node: Option<String>,
    /// The job's summary.
    pub summary: Option<String>,
    /// Items processed.
    pub items: Option<i64>,
    /// The page, for paged tasks.
    pub page_index: Option<i64>,
}

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this task's.
    pub task: Option<String>,
    /// Only in this state.
    pub state: Option<String>,
    /// At most this many, newest first.
    pub limit: i64,
}

const CLAIM_COLUMNS: &str = "id, task, task_group, scheduled_at, shard_index, shard_total, shard_param, \
    page_index, page_size, not_before, params, module, timeout_ms, memory_mib, attempt, max_attempts, retry_backoff_ms, \
    checkpoint, selector";

fn claimed_from_row(row: &AnyRow) -> Result<ClaimedRun, sqlx::Error> {
    Ok(ClaimedRun {
        id: row.try_get("id")?,
        task: row.try_get("task")?,
        group: row.try_get("task_group")?,
        scheduled_at: row.try_get("scheduled_at")?,
        shard_index: row.try_get("shard_index")?,
        shard_total: row.try_get("shard_total")?,
        shard_param: row.try_get("shard_param")?,
        page_index: row.try_get("page_index")?,
        page_size: row.try_get("page_size")?,
        not_before: row.try_get("not_before")?,
        params: row.try_get("params")?,
        module: row.try_get("module")?,
        timeout_ms: row.try_get("timeout_ms")?,
        memory_mib: row.try_get("memory_mib")?,
        attempt: row.try_get("attempt")?,
        max_attempts: row.try_get("max_attempts")?,
        retry_backoff_ms: row.try_get("retry_backoff_ms")?,
        checkpoint: row.try_get("checkpoint")?,
        selector: row.try_get("selector")?,
    })
}

/// The columns [`run_from_row`] reads.
const RUN_ROW_COLUMNS: &str = "id, task, shard_index, shard_total, scheduled_at, started_at, finished_at, state, \
    attempt, error, module_digest, node, summary, items, page_index";

fn run_from_row(row: &AnyRow) -> Result<RunRow, sqlx::Error> {
    Ok(RunRow {
        id: row.try_get("id")?,
        task: row.try_get("task")?,
        shard_index: row.try_get("shard_index")?,
        shard_total: row.try_get("shard_total")?,
        scheduled_at: row.try_get("scheduled_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        state: row.try_get("state")?,
        attempt: row.try_get("attempt")?,
        error: row.try_get("error")?,
        module_digest: row.try_get("module_digest")?,
        node: row.try_get("node")?,
        summary: row.try_get("summary")?,
        items: row.try_get("items")?,
        page_index: row.try_get("page_index")?,
    })
}

impl Store {
    /// Claims up to `limit` pending runs due by `due_by` for `node`, in one
    /// statement: they become `running` with the next attempt number (the
    /// dispatcher starts each at its `not_before`). A run
    /// is taken if it has no selector, was offered to `node` (the offering
    /// host matched its selector to `node`'s labels) or has one of the
    /// `accepted` selectors; a run offered to another host only once it has
    /// waited `offer_window_ms` since it was created (that host is busy, slow
    /// or gone).
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
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            let mut query = sqlx::query(&sql)
                .bind(node)
                .bind(now)
                .bind(now - offer_window_ms)
                .bind(limit)
                .bind(due_by);
            for selector in accepted {
                query = query.bind(selector);
            }
            let rows = query.fetch_all(&self.pool).await?;
            let mut claimed = rows
                .iter()
                .map(claimed_from_row)
                .collect::<Result<Vec<_>, _>>()?;
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
        let mut query = sqlx::query(&sql).bind(now);
        for selector in known {
            query = query.bind(selector);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| row.try_get("selector"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Saves a checkpoint for the attempt that owns the run. Fails if this
    /// node and attempt no longer own it.
    pub async fn save_checkpoint(
        &self,
        id: i64,
        node: &str,
        attempt: i64,
        data: &[u8],
    ) -> Result<bool, StoreError> {
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            let done = sqlx::query(
                "UPDATE runs SET checkpoint = $1 WHERE id = $2 AND node = $3 AND attempt = $4 AND state = 'running'",
            )
            .bind(data)
            .bind(id)
            .bind(node)
            .bind(attempt)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    /// Runs held by `node` that someone asked to cancel, with the reason.
    pub async fn cancel_requests(&self, node: &str) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, cancel_reason FROM runs WHERE node = $1 AND state = 'running' AND cancel_reason IS NOT NULL",
        )
        .bind(node)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("cancel_reason")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Runs left `running` by `node` when it stopped without finishing them
    /// (a crash): back to `pending` (they resume from their last checkpoint)
    /// or, with no attempts left, `orphaned`. Returns (requeued, orphaned).
    pub async fn rescue_runs_of(&self, node: &str, now: i64) -> Result<(u64, u64), StoreError> {
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            let mut tx = self.pool.begin().await?;
            let orphaned_reason = format!(
                "orphaned: host `{node}` stopped while running it and no attempts are left"
            );
            let orphaned = sqlx::query(
                "UPDATE runs SET state = 'orphaned', finished_at = $1, error = $2 \
                 WHERE state = 'running' AND node = $3 AND attempt >= max_attempts RETURNING id",
            )
            .bind(now)
            .bind(&orphaned_reason)
            .bind(node)
            .fetch_all(&mut *tx)
            .await?;
            for row in &orphaned {
                sqlx::query("UPDATE task_pages SET run_id = NULL WHERE run_id = $1")
                    .bind(row.try_get::<i64, _>("id")?)
                    .execute(&mut *tx)
                    .await?;
            }
            let requeue_reason =
                format!("host `{node}` stopped while running it; retried from its last checkpoint");
            let requeued = sqlx::query(
                "UPDATE runs SET state = 'pending', node = NULL, not_before = $1, error = $2 \
                 WHERE state = 'running' AND node = $3",
            )
            .bind(now)
            .bind(&requeue_reason)
            .bind(node)
            .execute(&mut *tx)
            .await?;
            if requeued.rows_affected() > 0 {
                self.notify_runs(&mut tx, std::iter::once(None)).await?;
            }
            tx.commit().await?;
            Ok((requeued.rows_affected(), orphaned.len() as u64))
        })
        .await
    }

    /// Creates runs outside the schedule (`carillon task trigger`), returning
    /// how many were created.
    pub async fn insert_runs(
        &self,
        task: &str,
        runs: &[NewRun],
        now: i64,
    ) -> Result<usize, StoreError> {
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(&crate::store::tasks::task_select("WHERE name = $1"))
                .bind(task)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { return Ok(0) };
            let task = crate::store::tasks::task_from_row(&row)?;
            let mut created = 0;
            for run in runs {
                created += usize::from(insert_run(&mut tx, &task, run, now).await?);
            }
            if created > 0 {
                self.notify_runs(&mut tx, std::iter::once(None)).await?;
            }
            tx.commit().await?;
            Ok(created)
        })
        .await
    }

    /// Runs, newest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>, StoreError> {
        let sql = format!(
            "SELECT {RUN_ROW_COLUMNS} FROM runs \
             WHERE ($1 IS NULL OR task = $1) AND ($2 IS NULL OR state = $2) ORDER BY id DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(&filter.task)
            .bind(&filter.state)
            .bind(filter.limit.max(1))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(run_from_row).collect::<Result<_, _>>()?)
    }

    /// One run.
    pub async fn get_run(&self, id: i64) -> Result<Option<RunRow>, StoreError> {
        let row = sqlx::query(&format!("SELECT {RUN_ROW_COLUMNS} FROM runs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(run_from_row).transpose()?)
    }
}

impl Store {
    /// The earliest task fire time after `now`.
    pub async fn next_fire_after(&self, now: i64) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(next_fire_at) AS t FROM tasks WHERE next_fire_at > $1 AND NOT paused AND error IS NULL",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<Option<i64>, _>("t")?)
    }
}
