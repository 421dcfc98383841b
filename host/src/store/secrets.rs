//! `secrets`: values sealed by the host's secrets key (see `secrets/`); the
//! store keeps and hands back only the sealed bytes and their nonce.

use serde::Serialize;

use crate::store::{Store, StoreError};

/// A secret as listed: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SecretRow {
    /// Its name.
    pub name: String,
    /// When it was first set (ms).
    pub created_at: i64,
    /// When it was last set (ms).
    pub updated_at: i64,
}

/// A secret's sealed value.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SealedSecret {
    /// The AEAD nonce it was sealed with.
    pub nonce: Vec<u8>,
    /// The ciphertext and its tag.
    pub sealed: Vec<u8>,
}

impl Store {
    /// Sets secret `name` to `value` (sealed) at `now`; true if it is new.
    pub async fn put_secret(
        &self,
        name: &str,
        value: &SealedSecret,
        now: i64,
    ) -> Result<bool, StoreError> {
        let existed = self.get_secret(name).await?.is_some();
        self.write_rows(
            "INSERT INTO secrets (name, nonce, sealed, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce, sealed = excluded.sealed, \
             updated_at = excluded.updated_at",
            |query| {
                query
                    .bind(name)
                    .bind(value.nonce.clone())
                    .bind(value.sealed.clone())
                    .bind(now)
            },
        )
        .await?;
        Ok(!existed)
    }

    /// The sealed value of secret `name`, if it is set.
    pub async fn get_secret(&self, name: &str) -> Result<Option<SealedSecret>, StoreError> {
        Ok(
            sqlx::query_as("SELECT nonce, sealed FROM secrets WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Every secret, by name.
    pub async fn list_secrets(&self) -> Result<Vec<SecretRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT name, created_at, updated_at FROM secrets ORDER BY name")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Removes secret `name`; false if there was none.
    pub async fn remove_secret(&self, name: &str) -> Result<bool, StoreError> {
        let removed = self
            .write_rows("DELETE FROM secrets WHERE name = $1", |query| {
                query.bind(name)
            })
            .await?;
        Ok(removed > 0)
    }
}
