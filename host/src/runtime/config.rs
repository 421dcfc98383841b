//! `wasi:config/store@0.2.0-rc.1`, the standard interface through which a
//! job in any language reads its params (under their own names) and the
//! secrets its task is granted (`secret.NAME`). Implemented here, async,
//! rather than with wasmtime-wasi-config (whose values must all be in place
//! before the run): nothing is read until the job asks, so a job that
//! never asks costs nothing, and a secret is read, checked against the
//! task's grant and decrypted only when asked for. A value handed out is
//! redacted from the run's log from then on.

use std::sync::Arc;

use crate::runtime::bindings::carillon::job::types as wit;
use crate::runtime::io::{Level, SeamError, SecretSource};
use crate::runtime::store_data::RunData;

mod generated {
    wasmtime::component::bindgen!({
        world: "wasi:config/imports",
        path: "../wit/wasi-config",
        imports: { default: async },
    });
}

pub(crate) use generated::Imports as ConfigImports;
use generated::wasi::config::store;

/// The prefix of a secret's key: `secret.api_token`.
pub const SECRET_PREFIX: &str = "secret.";

/// What the job may read: its context's params and its seam for secrets.
pub(crate) struct RunConfig {
    pub(crate) context: Arc<wit::Context>,
    pub(crate) secrets: Option<Arc<dyn SecretSource>>,
}

impl store::Host for RunData {
    async fn get(&mut self, key: String) -> Result<Option<String>, store::Error> {
        let Some(name) = key.strip_prefix(SECRET_PREFIX) else {
            let params = &self.config.context.params;
            return Ok(params
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, value)| value.clone()));
        };
        let Some(source) = self.config.secrets.clone() else {
            let why = "this host serves no secrets to jobs".to_owned();
            self.log
                .host_line(Level::Warn, format!("secret `{name}` not read: {why}"));
            return Err(store::Error::Upstream(why));
        };
        match source.secret(&self.key, name).await {
            Ok(value) => {
                self.log.redact(&value);
                Ok(Some(value))
            }
            Err(SeamError::Refused(why)) => {
                self.log
                    .host_line(Level::Warn, format!("secret `{name}` not read: {why}"));
                Err(store::Error::Upstream(why))
            }
            Err(SeamError::Unavailable(why)) => {
                self.log
                    .host_line(Level::Warn, format!("secret `{name}` not read: {why}"));
                self.host_failure.get_or_insert(why.clone());
                Err(store::Error::Io(why))
            }
        }
    }

    async fn get_all(&mut self) -> Result<Vec<(String, String)>, store::Error> {
        // Params only: secrets are read one by one, by name.
        Ok(self.config.context.params.clone())
    }
}
