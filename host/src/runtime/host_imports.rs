//! The contract's imports, implemented for a run: `log`, `checkpoint`, `cancel`
//! and `state` (`sql` is in `sql.rs`). Each forwards to the run's seams
//! ([`crate::runtime::io`]) after checking the job's input against the host's
//! caps. The same imports of `carillon:job@0.1.0` forward to these.

use crate::runtime::bindings::carillon::job::{cancel, checkpoint, log, state, types};
use crate::runtime::io::{Level, SeamError};
use crate::runtime::store_data::RunData;

impl types::Host for RunData {}

impl log::Host for RunData {
    fn log(
        &mut self,
        level: log::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Trace => Level::Trace,
            log::Level::Debug => Level::Debug,
            log::Level::Info => Level::Info,
            log::Level::Warn => Level::Warn,
            log::Level::Error => Level::Error,
        };
        self.log
            .guest_line(level, message, fields)
            .map_err(wasmtime::Error::new)
    }
}

impl checkpoint::Host for RunData {
    async fn save(&mut self, data: Vec<u8>) -> Result<(), String> {
        let cap = self.caps.checkpoint;
        if data.len() as u64 > cap.bytes() {
            return Err(format!(
                "checkpoint of {} is over the cap of {cap}; save a cursor, not the data",
                crate::units::ByteSize(data.len() as u64)
            ));
        }
        let saved = self.checkpoints.save(&self.key, data).await;
        self.seam(saved)?;
        self.checkpoints_saved += 1;
        Ok(())
    }
}

impl cancel::Host for RunData {
    fn cancelled(&mut self) -> bool {
        self.cancel.is_cancelled()
    }
}

impl RunData {
    /// A seam's answer as the job sees it; a seam the host could not reach
    /// also marks the run as the host's failure, should it fail.
    fn seam<T>(&mut self, result: Result<T, SeamError>) -> Result<T, String> {
        result.map_err(|error| match error {
            SeamError::Refused(reason) => reason,
            SeamError::Unavailable(reason) => {
                let told = format!("the host could not do it ({reason}); the run will be retried");
                self.host_failure.get_or_insert(reason);
                told
            }
        })
    }

    fn check_key(&self, key: &str) -> Result<(), String> {
        let cap = self.caps.state_key;
        if key.is_empty() {
            return Err("state key is empty".to_owned());
        }
        if key.len() as u64 > cap.bytes() {
            return Err(format!(
                "state key of {} bytes is over the cap of {cap}",
                key.len()
            ));
        }
        Ok(())
    }
}

impl state::Host for RunData {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, String> {
        self.check_key(&key)?;
        let value = self.state.get(&self.key.task, &key).await;
        self.seam(value)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        self.check_key(&key)?;
        let cap = self.caps.state_value;
        if value.len() as u64 > cap.bytes() {
            return Err(format!(
                "state value of {} for key `{key}` is over the cap of {cap}",
                crate::units::ByteSize(value.len() as u64)
            ));
        }
        let set = self.state.set(&self.key.task, &key, value).await;
        self.seam(set)
    }

    async fn delete(&mut self, key: String) -> Result<(), String> {
        self.check_key(&key)?;
        let deleted = self.state.delete(&self.key.task, &key).await;
        self.seam(deleted)
    }
}

/// `carillon:job@0.1.0`'s imports: the same calls as 0.2.0's.
mod v0_1 {
    use crate::runtime::bindings::carillon::job::{checkpoint, log, state};
    use crate::runtime::bindings::v0_1::carillon::job as old;
    use crate::runtime::store_data::RunData;

    impl old::types::Host for RunData {}

    impl old::log::Host for RunData {
        fn log(
            &mut self,
            level: old::log::Level,
            message: String,
            fields: Vec<(String, String)>,
        ) -> wasmtime::Result<()> {
            let level = match level {
                old::log::Level::Trace => log::Level::Trace,
                old::log::Level::Debug => log::Level::Debug,
                old::log::Level::Info => log::Level::Info,
                old::log::Level::Warn => log::Level::Warn,
                old::log::Level::Error => log::Level::Error,
            };
            log::Host::log(self, level, message, fields)
        }
    }

    impl old::checkpoint::Host for RunData {
        async fn save(&mut self, data: Vec<u8>) -> Result<(), String> {
            checkpoint::Host::save(self, data).await
        }
    }

    impl old::cancel::Host for RunData {
        fn cancelled(&mut self) -> bool {
            self.cancel.is_cancelled()
        }
    }

    impl old::state::Host for RunData {
        async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, String> {
            state::Host::get(self, key).await
        }

        async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
            state::Host::set(self, key, value).await
        }

        async fn delete(&mut self, key: String) -> Result<(), String> {
            state::Host::delete(self, key).await
        }
    }
}
