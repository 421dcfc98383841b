//! Rescuing the runs of a host that stopped without finishing them (a crash,
//! or a heartbeat older than the node timeout): back to `pending` to resume
//! from their last checkpoint as the next attempt, or `orphaned` when no
//! attempts are left (their page goes back to the pool).

use crate::store::{Store, StoreError};

impl Store {
    /// Nodes other than `me` whose last heartbeat is older than `cutoff` and
    /// that still hold running runs.
    pub async fn dead_nodes_with_runs(
        &self,
        me: &str,
        cutoff: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT r.node FROM runs r LEFT JOIN nodes n ON n.id = r.node \
             WHERE r.state = 'running' AND r.node <> $1 AND (n.id IS NULL OR n.heartbeat_at < $2)",
        )
        .bind(me)
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Runs left `running` by `node`: back to `pending` or, with no attempts
    /// left, `orphaned`. Returns (requeued, orphaned).
    pub async fn rescue_runs_of(&self, node: &str, now: i64) -> Result<(u64, u64), StoreError> {
        let orphaned_reason =
            format!("orphaned: host `{node}` stopped while running it and no attempts are left");
        let requeue_reason =
            format!("host `{node}` stopped while running it; retried from its last checkpoint");
        let (orphaned_reason, requeue_reason) = (orphaned_reason.as_str(), requeue_reason.as_str());
        self.write_tx(|mut tx| async move {
            let orphaned: Vec<i64> = sqlx::query_scalar(
                "UPDATE runs SET state = 'orphaned', finished_at = $1, error = $2 \
                 WHERE state = 'running' AND node = $3 AND attempt >= max_attempts RETURNING id",
            )
            .bind(now)
            .bind(orphaned_reason)
            .bind(node)
            .fetch_all(&mut *tx)
            .await?;
            for id in &orphaned {
                sqlx::query("UPDATE task_pages SET run_id = NULL WHERE run_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            let requeued = sqlx::query(
                "UPDATE runs SET state = 'pending', node = NULL, not_before = $1, error = $2 \
                 WHERE state = 'running' AND node = $3",
            )
            .bind(now)
            .bind(requeue_reason)
            .bind(node)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if requeued > 0 {
                self.notify_runs(&mut tx, std::iter::once(None)).await?;
            }
            Ok((tx, (requeued, orphaned.len() as u64)))
        })
        .await
    }
}
