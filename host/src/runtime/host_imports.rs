//! The contract's imports, implemented for a run: `log`, `checkpoint`, `cancel`,
//! `state` and `output` (`sql` is in `sql.rs`). Each forwards to the run's
//! seams ([`crate::runtime::io`]) after checking the job's input against the
//! host's caps; outputs are kept with the run and reported at its end. The
//! same imports of `carillon:job@0.1.0` and `0.2.0` forward to these.

use crate::runtime::bindings::carillon::job::{cancel, checkpoint, log, output, state, types};
use crate::runtime::io::{Level, SeamError};
use crate::runtime::store_data::RunData;
use crate::vocab::check_output;

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

impl output::Host for RunData {
    fn set(&mut self, key: String, value: String) -> Result<(), String> {
        check_output(&self.outputs, &key, &value)?;
        self.outputs.insert(key, value);
        Ok(())
    }
}

/// The imports every older contract version shares with 0.3.0 (`types`,
/// `log`, `checkpoint`, `cancel`, `state`), implemented for the bindings
/// of version `$old` by forwarding to 0.3.0's.
macro_rules! forward_shared_imports {
    ($old:path) => {
        use crate::runtime::bindings::carillon::job::{checkpoint, log, state};
        use crate::runtime::store_data::RunData;
        use $old as old;

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
    };
}

/// `carillon:job@0.2.0`'s imports: 0.3.0's, and `sql` with its own types.
mod v0_2 {
    use crate::runtime::bindings::carillon::job::sql;

    forward_shared_imports!(crate::runtime::bindings::v0_2::carillon::job);

    fn value(old: old::sql::Value) -> sql::Value {
        match old {
            old::sql::Value::Null => sql::Value::Null,
            old::sql::Value::Boolean(v) => sql::Value::Boolean(v),
            old::sql::Value::Integer(v) => sql::Value::Integer(v),
            old::sql::Value::Real(v) => sql::Value::Real(v),
            old::sql::Value::Text(v) => sql::Value::Text(v),
            old::sql::Value::Blob(v) => sql::Value::Blob(v),
        }
    }

    fn old_value(new: sql::Value) -> old::sql::Value {
        match new {
            sql::Value::Null => old::sql::Value::Null,
            sql::Value::Boolean(v) => old::sql::Value::Boolean(v),
            sql::Value::Integer(v) => old::sql::Value::Integer(v),
            sql::Value::Real(v) => old::sql::Value::Real(v),
            sql::Value::Text(v) => old::sql::Value::Text(v),
            sql::Value::Blob(v) => old::sql::Value::Blob(v),
        }
    }

    impl old::sql::Host for RunData {
        async fn query(
            &mut self,
            database: String,
            statement: String,
            params: Vec<old::sql::Value>,
        ) -> Result<old::sql::Rows, String> {
            let params = params.into_iter().map(value).collect();
            let rows = sql::Host::query(self, database, statement, params).await?;
            Ok(old::sql::Rows {
                columns: rows.columns,
                rows: rows
                    .rows
                    .into_iter()
                    .map(|row| row.into_iter().map(old_value).collect())
                    .collect(),
            })
        }

        async fn execute(
            &mut self,
            database: String,
            statement: String,
            params: Vec<old::sql::Value>,
        ) -> Result<u64, String> {
            let params = params.into_iter().map(value).collect();
            sql::Host::execute(self, database, statement, params).await
        }
    }
}

/// `carillon:job@0.1.0`'s imports: 0.3.0's, less `sql` and `output`.
mod v0_1 {
    forward_shared_imports!(crate::runtime::bindings::v0_1::carillon::job);
}
