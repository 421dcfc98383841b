//! A job's params and granted secrets through the standard
//! `wasi:config/store@0.2.0-rc.1` interface (feature `secrets`): the host
//! serves params under their own names and each secret its task's
//! `secrets` column grants as `secret.NAME`. A secret's value is redacted
//! from the run's log once it has been read.
//!
//! ```no_run
//! # fn demo() -> Result<(), carillon_guest::JobError> {
//! let token = carillon_guest::secret("api_token")?;
//! # Ok(()) }
//! ```

mod bindings {
    wit_bindgen::generate!({
        world: "wasi:config/imports",
        path: "../wit/wasi-config",
    });
}

use bindings::wasi::config::store;

use crate::JobError;

/// The value of secret `name`, if the task grants it and it is set; the
/// error (fatal: retrying will not grant it) says which is missing.
pub fn secret(name: &str) -> Result<String, JobError> {
    match store::get(&format!("secret.{name}")) {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(JobError::fatal(format!("secret `{name}` is not set"))),
        Err(store::Error::Upstream(why)) => Err(JobError::fatal(why)),
        Err(store::Error::Io(why)) => Err(JobError::retryable(format!(
            "secret `{name}` could not be read: {why}"
        ))),
    }
}

/// The config value `key` (a param, or `secret.NAME`), if there is one.
pub fn config(key: &str) -> Result<Option<String>, JobError> {
    store::get(key).map_err(|error| match error {
        store::Error::Upstream(why) => JobError::fatal(why),
        store::Error::Io(why) => JobError::retryable(why),
    })
}
