//! Calls into the host: checkpoints, per-task state, outputs and the
//! cancellation flag.

use crate::bindings::carillon::job::{cancel, checkpoint, output, state};
use crate::error::HostError;

/// Durably save progress for this shard run. A retry or failover of the run
/// starts with these bytes in [`Context::checkpoint`](crate::Context::checkpoint).
pub fn save_checkpoint(data: &[u8]) -> Result<(), HostError> {
    checkpoint::save(data).map_err(|message| HostError {
        operation: "saving checkpoint",
        message,
    })
}

/// True once the host wants this run to stop (task replaced or cancelled, host
/// shutting down, deadline near). Check it in long loops, save a checkpoint and
/// return.
pub fn cancelled() -> bool {
    cancel::cancelled()
}

/// Hand `value` on under `key`: the tasks this task chains to read it as the
/// param `parent.output.KEY`, and the workflow steps after this one as
/// `${STEP.KEY}` in their params. At most 64 outputs of 16 KiB in all per
/// run: hand on an id or a path, not the data.
pub fn set_output(key: &str, value: impl AsRef<str>) -> Result<(), HostError> {
    output::set(key, value.as_ref()).map_err(|message| HostError {
        operation: "setting an output",
        message,
    })
}

/// The per-task key/value store, shared by every run of the task and kept
/// between runs.
pub mod task_state {
    use super::*;

    /// The bytes stored under `key`, if any.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
        state::get(key).map_err(|message| HostError {
            operation: "reading task state",
            message,
        })
    }

    /// The value under `key` as UTF-8 text, if any (invalid UTF-8 is replaced).
    pub fn get_string(key: &str) -> Result<Option<String>, HostError> {
        Ok(get(key)?.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Store `value` under `key`.
    pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<(), HostError> {
        state::set(key, value.as_ref()).map_err(|message| HostError {
            operation: "writing task state",
            message,
        })
    }

    /// Remove `key`; a missing key is not an error.
    pub fn delete(key: &str) -> Result<(), HostError> {
        state::delete(key).map_err(|message| HostError {
            operation: "deleting task state",
            message,
        })
    }
}
