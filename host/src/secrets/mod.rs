//! Secrets jobs may be granted: set, listed and removed by name (`carillon
//! secret`), kept sealed under the host's key ([`key`]), and read by a run
//! only if its task's `secrets` column names them, checked at the moment the
//! job asks (so a grant taken away holds at once). Also the host's one
//! keyed hash ([`hmac_sha256`]), for signing alerts.

pub mod key;

use std::sync::{Arc, OnceLock};

use crate::runtime::io::{BoxFuture, RunKey, SeamError, SecretSource};
use crate::store::{SecretRow, Store, StoreError};
use crate::vocab::{check_secret_name, parse_secret_names};

pub use key::{KeyError, SecretKey};

/// Why a secret could not be set or read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The name cannot name a secret.
    #[error("{0}")]
    BadName(String),
    /// No key, or an unusable one.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The value does not open with this host's key.
    #[error(
        "secret `{0}` cannot be opened with this host's secrets key: it was set with another key; \
         give this host the same secrets.key as the others, or set the secret again"
    )]
    WrongKey(String),
}

/// The secrets of one database, with the key that seals them.
#[derive(Debug, Clone)]
pub struct Secrets {
    store: Store,
    configured: Option<SecretKey>,
    database_url: String,
    key: Arc<OnceLock<SecretKey>>,
}

impl Secrets {
    /// Secrets in `store` (at `database_url`), sealed with `configured` or,
    /// on SQLite without one, the key in the file beside the database.
    pub fn new(store: Store, configured: Option<SecretKey>, database_url: &str) -> Self {
        Self {
            store,
            configured,
            database_url: database_url.to_owned(),
            key: Arc::default(),
        }
    }

    /// The key; made (on SQLite, in its file) if `create` and there is none.
    fn key(&self, create: bool) -> Result<SecretKey, KeyError> {
        if let Some(key) = self.key.get() {
            return Ok(key.clone());
        }
        let key = match (&self.configured, key::key_file(&self.database_url)) {
            (Some(key), _) => key.clone(),
            (None, Some(path)) => match key::read_key_file(&path)? {
                Some(key) => key,
                None if create => key::create_key_file(&path)?,
                None => return Err(KeyError::NotConfigured),
            },
            (None, None) => return Err(KeyError::NotConfigured),
        };
        Ok(self.key.get_or_init(|| key).clone())
    }

    /// Sets `name` to `value` at `now`; true if it is new.
    pub async fn set(&self, name: &str, value: &str, now: i64) -> Result<bool, SecretError> {
        check_secret_name(name).map_err(SecretError::BadName)?;
        let sealed = self.key(true)?.seal(name, value)?;
        Ok(self.store.put_secret(name, &sealed, now).await?)
    }

    /// Every secret's name and dates.
    pub async fn list(&self) -> Result<Vec<SecretRow>, SecretError> {
        Ok(self.store.list_secrets().await?)
    }

    /// Removes `name`; false if there was none.
    pub async fn remove(&self, name: &str) -> Result<bool, SecretError> {
        Ok(self.store.remove_secret(name).await?)
    }

    /// The value of `name`, if it is set.
    pub async fn read(&self, name: &str) -> Result<Option<String>, SecretError> {
        let Some(sealed) = self.store.get_secret(name).await? else {
            return Ok(None);
        };
        let key = self.key(false)?;
        key.open(name, &sealed)
            .map(Some)
            .ok_or_else(|| SecretError::WrongKey(name.to_owned()))
    }
}

/// HMAC-SHA256 of `message` under `key`: what DingTalk and Feishu robots
/// check a signed message by.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&key, message);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

impl SecretSource for Secrets {
    fn secret<'a>(
        &'a self,
        run: &'a RunKey,
        name: &'a str,
    ) -> BoxFuture<'a, Result<String, SeamError>> {
        Box::pin(async move {
            let task = self
                .store
                .get_task(&run.task)
                .await
                .map_err(|error| SeamError::Unavailable(error.to_string()))?;
            let granted = task
                .and_then(|row| row.spec.secrets)
                .map(|text| parse_secret_names(&text).unwrap_or_default())
                .unwrap_or_default();
            if !granted.iter().any(|granted| granted == name) {
                return Err(SeamError::Refused(format!(
                    "task `{}` is not granted secret `{name}`; add it to the task's secrets column",
                    run.task
                )));
            }
            match self.read(name).await {
                Ok(Some(value)) => Ok(value),
                Ok(None) => Err(SeamError::Refused(format!(
                    "secret `{name}` is not set; set it with `carillon secret set {name}`"
                ))),
                Err(SecretError::Store(error)) => Err(SeamError::Unavailable(error.to_string())),
                Err(error) => Err(SeamError::Refused(error.to_string())),
            }
        })
    }
}
