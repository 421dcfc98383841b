//! `task_state`: the per-task key/value store jobs use between runs.

use crate::store::{Store, StoreError};

impl Store {
    /// The value under `key` for `task`.
    pub async fn state_get(&self, task: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM task_state WHERE task = $1 AND key = $2")
                .bind(task)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Stores `value` under `key` for `task`.
    pub async fn state_set(
        &self,
        task: &str,
        key: &str,
        value: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        self.write_rows(
            "INSERT INTO task_state (task, key, value, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (task, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            |query| query.bind(task).bind(key).bind(value).bind(now),
        )
        .await?;
        Ok(())
    }

    /// Removes `key` for `task`.
    pub async fn state_delete(&self, task: &str, key: &str) -> Result<(), StoreError> {
        self.write_rows(
            "DELETE FROM task_state WHERE task = $1 AND key = $2",
            |query| query.bind(task).bind(key),
        )
        .await?;
        Ok(())
    }
}
