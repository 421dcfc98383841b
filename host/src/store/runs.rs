//! The `runs` table outside firing, claiming and recording: listings,
//! checkpoints (fenced by node and attempt) and cancel requests.

use serde::Serialize;

use crate::store::{Store, StoreError};
use crate::vocab::{CancelReason, RunState};

/// A run, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
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
    /// Where the run is in its life.
    #[sqlx(try_from = "String")]
    pub state: RunState,
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

/// The columns a [`RunRow`] is read from.
const RUN_ROW_COLUMNS: &str = "id, task, shard_index, shard_total, scheduled_at, started_at, finished_at, state, \
    attempt, error, module_digest, node, summary, items, page_index";

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this task's.
    pub task: Option<String>,
    /// Only in this state.
    pub state: Option<RunState>,
    /// At most this many, newest first.
    pub limit: i64,
}

impl Store {
    /// Runs, newest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>, StoreError> {
        let sql = format!(
            "SELECT {RUN_ROW_COLUMNS} FROM runs \
             WHERE ($1 IS NULL OR task = $1) AND ($2 IS NULL OR state = $2) ORDER BY id DESC LIMIT $3"
        );
        Ok(sqlx::query_as(&sql)
            .bind(&filter.task)
            .bind(filter.state.map(RunState::as_str))
            .bind(filter.limit.max(1))
            .fetch_all(&self.pool)
            .await?)
    }

    /// One run.
    pub async fn get_run(&self, id: i64) -> Result<Option<RunRow>, StoreError> {
        Ok(
            sqlx::query_as(&format!("SELECT {RUN_ROW_COLUMNS} FROM runs WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
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
        let saved = self
            .write_rows(
                "UPDATE runs SET checkpoint = $1 WHERE id = $2 AND node = $3 AND attempt = $4 AND state = 'running'",
                |query| query.bind(data).bind(id).bind(node).bind(attempt),
            )
            .await?;
        Ok(saved > 0)
    }

    /// Runs held by `node` that someone asked to cancel, with the reason
    /// (always [`CancelReason::Requested`]: whatever a row says, it is a
    /// request).
    pub async fn cancel_requests(
        &self,
        node: &str,
    ) -> Result<Vec<(i64, CancelReason)>, StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, cancel_reason FROM runs WHERE node = $1 AND state = 'running' AND cancel_reason IS NOT NULL",
        )
        .bind(node)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, reason)| (id, CancelReason::Requested(reason)))
            .collect())
    }
}
