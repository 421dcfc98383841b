//! `nodes`: the hosts sharing the database, with their labels and heartbeat.
//! A host writes its row once per heartbeat interval, never per run.

use serde::Serialize;
use sqlx::Row;

use crate::store::{Store, StoreError, retry_transient};

/// A host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRow {
    /// Node id.
    pub id: String,
    /// Labels, `key=value,…`.
    pub labels: String,
    /// Max concurrent runs.
    pub capacity: i64,
    /// Runs it holds now (`running` rows naming it).
    pub running: i64,
    /// When it started (ms).
    pub started_at: i64,
    /// Its last heartbeat (ms).
    pub heartbeat_at: i64,
}

impl Store {
    /// Registers (or re-registers) this node.
    pub async fn register_node(
        &self,
        id: &str,
        labels: &str,
        capacity: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            sqlx::query(
                "INSERT INTO nodes (id, labels, capacity, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (id) DO UPDATE SET labels = excluded.labels, capacity = excluded.capacity, \
                 started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at",
            )
            .bind(id)
            .bind(labels)
            .bind(capacity)
            .bind(now)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    /// One write per host per interval: the node is alive at `now`.
    pub async fn heartbeat(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            let done = sqlx::query("UPDATE nodes SET heartbeat_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    /// Every node, with the runs it holds now.
    pub async fn list_nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT n.id AS id, n.labels AS labels, n.capacity AS capacity, n.started_at AS started_at, \
             n.heartbeat_at AS heartbeat_at, \
             (SELECT COUNT(*) FROM runs r WHERE r.state = 'running' AND r.node = n.id) AS running \
             FROM nodes n ORDER BY n.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(NodeRow {
                    id: row.try_get("id")?,
                    labels: row.try_get("labels")?,
                    capacity: row.try_get("capacity")?,
                    running: row.try_get("running")?,
                    started_at: row.try_get("started_at")?,
                    heartbeat_at: row.try_get("heartbeat_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}

impl Store {
    /// Nodes other than `me` whose last heartbeat is older than `cutoff` and
    /// that still hold running runs.
    pub async fn dead_nodes_with_runs(
        &self,
        me: &str,
        cutoff: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT r.node AS node FROM runs r LEFT JOIN nodes n ON n.id = r.node \
             WHERE r.state = 'running' AND r.node <> $1 AND (n.id IS NULL OR n.heartbeat_at < $2)",
        )
        .bind(me)
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| row.try_get("node"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}
