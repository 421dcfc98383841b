//! `modules`: job components by name, with their bytes and content digest, so
//! a module pushed once reaches every host.

use serde::Serialize;
use sqlx::Row;

use crate::store::{Store, StoreError, retry_transient};

/// A stored module (without its bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleRow {
    /// Name tasks refer to.
    pub name: String,
    /// SHA-256 of the bytes, hex.
    pub digest: String,
    /// Size in bytes.
    pub size: i64,
    /// Where it came from (`folder:PATH`, `push`).
    pub source: String,
    /// When it was stored (ms).
    pub updated_at: i64,
}

impl Store {
    /// Stores `bytes` as module `name` unless it already has that digest.
    /// Returns whether anything changed.
    pub async fn put_module(
        &self,
        name: &str,
        digest: &str,
        bytes: &[u8],
        source: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            let done = sqlx::query(
                "INSERT INTO modules (name, digest, bytes, size, source, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (name) DO UPDATE SET digest = excluded.digest, bytes = excluded.bytes, \
                 size = excluded.size, source = excluded.source, updated_at = excluded.updated_at \
                 WHERE modules.digest <> excluded.digest",
            )
            .bind(name)
            .bind(digest)
            .bind(bytes)
            .bind(bytes.len() as i64)
            .bind(source)
            .bind(now)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    /// Removes module `name`. Returns whether it existed.
    pub async fn remove_module(&self, name: &str) -> Result<bool, StoreError> {
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            let done = sqlx::query("DELETE FROM modules WHERE name = $1")
                .bind(name)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    /// Every module, by name.
    pub async fn list_modules(&self) -> Result<Vec<ModuleRow>, StoreError> {
        let rows =
            sqlx::query("SELECT name, digest, size, source, updated_at FROM modules ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(ModuleRow {
                    name: row.try_get("name")?,
                    digest: row.try_get("digest")?,
                    size: row.try_get("size")?,
                    source: row.try_get("source")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// The bytes of module `name` if its digest is not `known_digest`.
    pub async fn module_bytes(&self, name: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let row = sqlx::query("SELECT digest, bytes FROM modules WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|row| Ok::<_, sqlx::Error>((row.try_get("digest")?, row.try_get("bytes")?)))
            .transpose()?)
    }
}
