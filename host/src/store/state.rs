//! `task_state`: the per-task key/value store jobs use between runs.

use sqlx::Row;

use crate::store::{Store, StoreError, retry_transient};

impl Store {
    /// The value under `key` for `task`.
    pub async fn state_get(&self, task: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT value FROM task_state WHERE task = $1 AND key = $2")
            .bind(task)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get("value")).transpose()?)
    }

    /// Stores `value` under `key` for `task`.
    pub async fn state_set(
        &self,
        task: &str,
        key: &str,
        value: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            sqlx::query(
                "INSERT INTO task_state (task, key, value, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (task, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(task)
            .bind(key)
            .bind(value)
            .bind(now)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    /// Removes `key` for `task`.
    pub async fn state_delete(&self, task: &str, key: &str) -> Result<(), StoreError> {
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            sqlx::query("DELETE FROM task_state WHERE task = $1 AND key = $2")
                .bind(task)
                .bind(key)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
        .await
    }
}
