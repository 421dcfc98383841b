//! Purging history: finished runs older than their retention, and the
//! finished runs of a task beyond its `keep_runs`, with their log lines;
//! finished delays older than their retention, with their attempts; in
//! small batches (each one short transaction, so firing never waits long).
//! On PostgreSQL one host purges at a time: a batch that cannot take the
//! purge lock does nothing.

use crate::store::sql::placeholders;
use crate::store::write::Tx;
use crate::store::{Backend, Store, StoreError};

/// The advisory lock a purging host holds for one batch ("purge").
const PURGE_LOCK: i64 = 0x0070_7572_6765;

/// Final states kept for `retention.succeeded`.
const SUCCEEDED: &str = "'succeeded', 'skipped'";
/// Final states kept for `retention.failed`.
const FAILED: &str = "'failed', 'timed-out', 'cancelled', 'orphaned'";

impl Store {
    /// Deletes up to `limit` finished runs (and their log lines): succeeded
    /// or skipped ones that finished before `succeeded_before`, failed ones
    /// before `failed_before`; and the misfire records older than the
    /// latter. Returns how many runs were deleted.
    pub async fn purge_old_runs(
        &self,
        succeeded_before: i64,
        failed_before: i64,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let backend = self.backend;
        self.write_tx(|mut tx| async move {
            if !purge_turn(&mut tx, backend).await? {
                return Ok((tx, 0));
            }
            let ids = finished_before(
                &mut tx,
                "runs",
                [(SUCCEEDED, succeeded_before), (FAILED, failed_before)],
                limit,
            )
            .await?;
            let deleted = delete_runs(&mut tx, &ids).await?;
            sqlx::query("DELETE FROM misfires WHERE recorded_at < $1")
                .bind(failed_before)
                .execute(&mut *tx)
                .await?;
            Ok((tx, deleted))
        })
        .await
    }

    /// Deletes up to `limit` finished runs (and their log lines) of tasks
    /// beyond the newest `keep_runs` of each. Returns how many were deleted.
    pub async fn purge_beyond_keep(&self, limit: i64) -> Result<u64, StoreError> {
        let backend = self.backend;
        self.write_tx(|mut tx| async move {
            if !purge_turn(&mut tx, backend).await? {
                return Ok((tx, 0));
            }
            let keeps: Vec<(String, i64)> = sqlx::query_as(
                "SELECT name, keep_runs FROM tasks WHERE keep_runs IS NOT NULL ORDER BY name",
            )
            .fetch_all(&mut *tx)
            .await?;
            let finished = format!("{SUCCEEDED}, {FAILED}");
            let mut deleted = 0;
            for (task, keep) in keeps {
                let left = limit - deleted as i64;
                if left <= 0 {
                    break;
                }
                let ids: Vec<i64> = sqlx::query_scalar(&format!(
                    "SELECT id FROM runs WHERE task = $1 AND state IN ({finished}) \
                     ORDER BY id DESC LIMIT $2 OFFSET $3"
                ))
                .bind(&task)
                .bind(left)
                .bind(keep)
                .fetch_all(&mut *tx)
                .await?;
                deleted += delete_runs(&mut tx, &ids).await?;
            }
            Ok((tx, deleted))
        })
        .await
    }
    /// Deletes up to `limit` finished delays (and their attempts):
    /// succeeded ones that finished before `succeeded_before`, failed and
    /// cancelled ones before `failed_before` (as for runs). Returns how many
    /// delays were deleted.
    pub async fn purge_old_delays(
        &self,
        succeeded_before: i64,
        failed_before: i64,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let backend = self.backend;
        self.write_tx(|mut tx| async move {
            if !purge_turn(&mut tx, backend).await? {
                return Ok((tx, 0));
            }
            let deleted = purge_finished(
                &mut tx,
                "delays",
                [
                    ("'succeeded'", succeeded_before),
                    ("'failed', 'cancelled'", failed_before),
                ],
                limit,
                &[
                    "DELETE FROM delay_attempts WHERE delay_id",
                    "DELETE FROM delays WHERE id",
                ],
            )
            .await?;
            Ok((tx, deleted))
        })
        .await
    }
}

impl Store {
    /// Deletes up to `limit` finished workflow runs (and their steps):
    /// succeeded ones that finished before `succeeded_before`, failed and
    /// cancelled ones before `failed_before`; and up to `limit` alerts (and
    /// their deliveries): delivered and suppressed ones settled before
    /// `succeeded_before`, failed ones before `failed_before`. Returns how
    /// many rows were deleted.
    pub async fn purge_old_followups(
        &self,
        succeeded_before: i64,
        failed_before: i64,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let backend = self.backend;
        self.write_tx(|mut tx| async move {
            if !purge_turn(&mut tx, backend).await? {
                return Ok((tx, 0));
            }
            let runs = purge_finished(
                &mut tx,
                "workflow_runs",
                [
                    ("'succeeded'", succeeded_before),
                    ("'failed', 'cancelled'", failed_before),
                ],
                limit,
                &[
                    "DELETE FROM workflow_run_steps WHERE workflow_run",
                    "DELETE FROM workflow_runs WHERE id",
                ],
            )
            .await?;
            let alerts = purge_finished(
                &mut tx,
                "alerts",
                [
                    ("'delivered', 'suppressed'", succeeded_before),
                    ("'failed'", failed_before),
                ],
                limit,
                &[
                    "DELETE FROM alert_deliveries WHERE alert_id",
                    "DELETE FROM alerts WHERE id",
                ],
            )
            .await?;
            Ok((tx, runs + alerts))
        })
        .await
    }
}

/// Whether this host may purge now: on PostgreSQL, whether it took the purge
/// lock for this transaction (another host purging holds it).
async fn purge_turn(tx: &mut Tx, backend: Backend) -> Result<bool, StoreError> {
    match backend {
        Backend::Sqlite => Ok(true),
        Backend::Postgres => Ok(sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(PURGE_LOCK)
            .fetch_one(&mut **tx)
            .await?),
    }
}

/// Deletes up to `limit` rows of `table` that finished long enough ago
/// ([`finished_before`]), with what `deletes` say belongs to them (each
/// `DELETE … WHERE column`, the row's own last). Returns how many rows of
/// `table` were deleted.
async fn purge_finished(
    tx: &mut Tx,
    table: &str,
    ages: [(&str, i64); 2],
    limit: i64,
    deletes: &[&str],
) -> Result<u64, StoreError> {
    let ids = finished_before(tx, table, ages, limit).await?;
    delete_ids(tx, &ids, deletes).await
}

/// The ids of up to `limit` rows of `table` (runs, delays, workflow runs,
/// alerts) that finished
/// in one of the `states` (an SQL list) before the time paired with them,
/// oldest first within each pair.
async fn finished_before(
    tx: &mut Tx,
    table: &str,
    ages: [(&str, i64); 2],
    limit: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut ids: Vec<i64> = Vec::new();
    for (states, before) in ages {
        let sql = format!(
            "SELECT id FROM {table} WHERE finished_at IS NOT NULL AND finished_at < $1 \
             AND state IN ({states}) ORDER BY finished_at LIMIT $2"
        );
        ids.extend(
            sqlx::query_scalar::<_, i64>(&sql)
                .bind(before)
                .bind(limit)
                .fetch_all(&mut **tx)
                .await?,
        );
    }
    ids.truncate(limit.max(0) as usize);
    Ok(ids)
}

/// Deletes the runs `ids` and their log lines.
async fn delete_runs(tx: &mut Tx, ids: &[i64]) -> Result<u64, StoreError> {
    delete_ids(
        tx,
        ids,
        &[
            "DELETE FROM run_logs WHERE run_id",
            "DELETE FROM runs WHERE id",
        ],
    )
    .await
}

/// Runs each `DELETE … WHERE column` of `deletes` for `ids`, in order (the
/// rows that refer to a row first); returns how many ids there were.
async fn delete_ids(tx: &mut Tx, ids: &[i64], deletes: &[&str]) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let list = placeholders(0, ids.len());
    for delete in deletes {
        let sql = format!("{delete} IN ({list})");
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(ids.len() as u64)
}
