//! `nodes`: the hosts sharing the database, with their labels and heartbeat.
//! A host writes its row once per heartbeat interval, never per run.

use serde::Serialize;

use crate::store::{Store, StoreError};

/// A host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
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
        self.write_rows(
            "INSERT INTO nodes (id, labels, capacity, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (id) DO UPDATE SET labels = excluded.labels, capacity = excluded.capacity, \
             started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, started_through = NULL",
            |query| query.bind(id).bind(labels).bind(capacity).bind(now),
        )
        .await?;
        Ok(())
    }

    /// One write per host per interval: the node is alive at `now`.
    pub async fn heartbeat(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let beat = self
            .write_rows(
                "UPDATE nodes SET heartbeat_at = $1 WHERE id = $2",
                |query| query.bind(now).bind(id),
            )
            .await?;
        Ok(beat > 0)
    }

    /// Every node, with the runs it holds now.
    pub async fn list_nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT n.id AS id, n.labels AS labels, n.capacity AS capacity, n.started_at AS started_at, \
             n.heartbeat_at AS heartbeat_at, \
             (SELECT COUNT(*) FROM runs r WHERE r.state = 'running' AND r.node = n.id) AS running \
             FROM nodes n ORDER BY n.id",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
