//! `modules`: job components by name, with their bytes and content digest, so
//! a module pushed once reaches every host.

use serde::Serialize;

use crate::store::{Store, StoreError};

/// A stored module (without its bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
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
        let changed = self
            .write_rows(
                "INSERT INTO modules (name, digest, bytes, size, source, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (name) DO UPDATE SET digest = excluded.digest, bytes = excluded.bytes, \
                 size = excluded.size, source = excluded.source, updated_at = excluded.updated_at \
                 WHERE modules.digest <> excluded.digest",
                |query| {
                    query
                        .bind(name)
                        .bind(digest)
                        .bind(bytes)
                        .bind(bytes.len() as i64)
                        .bind(source)
                        .bind(now)
                },
            )
            .await?;
        Ok(changed > 0)
    }

    /// Removes module `name`. Returns whether it existed.
    pub async fn remove_module(&self, name: &str) -> Result<bool, StoreError> {
        let removed = self
            .write_rows("DELETE FROM modules WHERE name = $1", |query| {
                query.bind(name)
            })
            .await?;
        Ok(removed > 0)
    }

    /// Every module, by name.
    pub async fn list_modules(&self) -> Result<Vec<ModuleRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT name, digest, size, source, updated_at FROM modules ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The digest and bytes of module `name`.
    pub async fn module_bytes(&self, name: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT digest, bytes FROM modules WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
