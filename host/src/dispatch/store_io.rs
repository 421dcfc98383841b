//! The runtime's checkpoint and task-state seams ([`CheckpointStore`],
//! [`StateStore`]) on the store, written through: checkpoints on the run's
//! row, accepted only from the node and attempt that own it; task state in
//! the `task_state` table.

use std::sync::Arc;

use crate::clock::now_ms;
use crate::runtime::io::{BoxFuture, CheckpointStore, RunKey, SeamError, StateStore};
use crate::store::Store;

/// Checkpoints on the `runs` row, accepted only from the owning attempt.
#[derive(Debug, Clone)]
pub struct StoreCheckpoints {
    store: Store,
    node: Arc<str>,
}

impl StoreCheckpoints {
    /// Checkpoints of runs held by `node`.
    pub fn new(store: Store, node: Arc<str>) -> Self {
        Self { store, node }
    }
}

impl CheckpointStore for StoreCheckpoints {
    fn save<'a>(&'a self, run: &'a RunKey, data: Vec<u8>) -> BoxFuture<'a, Result<(), SeamError>> {
        Box::pin(async move {
            match self.store.save_checkpoint(run.run_id as i64, &self.node, i64::from(run.attempt), &data).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(SeamError::Refused("this host no longer owns the run (another host took it over); progress was not saved".to_owned())),
                Err(error) => Err(SeamError::Unavailable(format!("checkpoint not saved: {error}"))),
            }
        })
    }
}

/// Task state in the `task_state` table.
#[derive(Debug, Clone)]
pub struct StoreState {
    store: Store,
}

impl StoreState {
    /// Task state in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl StateStore for StoreState {
    fn get<'a>(
        &'a self,
        task: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, SeamError>> {
        Box::pin(async move {
            self.store
                .state_get(task, key)
                .await
                .map_err(|e| SeamError::Unavailable(e.to_string()))
        })
    }

    fn set<'a>(
        &'a self,
        task: &'a str,
        key: &'a str,
        value: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), SeamError>> {
        Box::pin(async move {
            self.store
                .state_set(task, key, &value, now_ms())
                .await
                .map_err(|e| SeamError::Unavailable(e.to_string()))
        })
    }

    fn delete<'a>(&'a self, task: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), SeamError>> {
        Box::pin(async move {
            self.store
                .state_delete(task, key)
                .await
                .map_err(|e| SeamError::Unavailable(e.to_string()))
        })
    }
}
