//! Rescuing the runs of a host that stopped without finishing them (a crash,
//! or a heartbeat older than the node timeout). A run it had claimed ahead of
//! a slot after its start watermark (`nodes.started_through`: every run it
//! held due by then had begun) never started: it goes back to pending as it
//! was, no attempt spent. The others go back to pending to
//! resume from their last checkpoint as the next attempt, or to `orphaned`
//! when no attempts are left (their page goes back to the pool).

use crate::store::{Store, StoreError};

/// What a rescue did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rescued {
    /// Runs that had started: back to pending as their next attempt.
    pub requeued: u64,
    /// Runs that had started with no attempts left: orphaned.
    pub orphaned: u64,
    /// Runs claimed ahead that never started: back to pending, no attempt spent.
    pub unstarted: u64,
}

impl Rescued {
    /// Runs now pending again.
    pub fn pending(&self) -> u64 {
        self.requeued + self.unstarted
    }
}

impl Store {
    /// Nodes other than `me` whose last heartbeat is older than `cutoff` and
    /// that still hold running runs, with that heartbeat (none for a node
    /// with no row).
    pub async fn dead_nodes_with_runs(
        &self,
        me: &str,
        cutoff: i64,
    ) -> Result<Vec<(String, Option<i64>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT DISTINCT r.node, n.heartbeat_at FROM runs r LEFT JOIN nodes n ON n.id = r.node \
             WHERE r.state = 'running' AND r.node <> $1 AND (n.id IS NULL OR n.heartbeat_at < $2)",
        )
        .bind(me)
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The last heartbeat of `node`, if it has a row.
    pub async fn last_heartbeat(&self, node: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT heartbeat_at FROM nodes WHERE id = $1")
                .bind(node)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Runs left `running` by `node`: those planned to start after its start
    /// watermark (or, for a host that wrote none, after `alive_until`, the
    /// latest it can have been alive) never started and go back to pending
    /// as they were; the others go back to pending as their next attempt or,
    /// with no attempts left, to `orphaned`.
    pub async fn rescue_runs_of(
        &self,
        node: &str,
        now: i64,
        alive_until: i64,
    ) -> Result<Rescued, StoreError> {
        let orphaned_reason =
            format!("orphaned: host `{node}` stopped while running it and no attempts are left");
        let requeue_reason =
            format!("host `{node}` stopped while running it; retried from its last checkpoint");
        let (orphaned_reason, requeue_reason) = (orphaned_reason.as_str(), requeue_reason.as_str());
        self.write_tx(|mut tx| async move {
            let unstarted = sqlx::query(
                "UPDATE runs SET state = 'pending', node = NULL, attempt = attempt - 1, \
                 started_at = NULL, offered_to = NULL \
                 WHERE state = 'running' AND node = $1 AND started_at > \
                 COALESCE((SELECT started_through FROM nodes WHERE id = $1), $2)",
            )
            .bind(node)
            .bind(alive_until)
            .execute(&mut *tx)
            .await?
            .rows_affected();
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
            if requeued + unstarted > 0 {
                self.notify_runs(&mut tx, std::iter::once(None)).await?;
            }
            let rescued = Rescued {
                requeued,
                orphaned: orphaned.len() as u64,
                unstarted,
            };
            Ok((tx, rescued))
        })
        .await
    }
}
