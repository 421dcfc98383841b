//! Run-history retention: one loop that purges, every minute, the finished
//! runs older than `retention.succeeded` (succeeded and skipped runs) or
//! `retention.failed` (failed, timed out, cancelled, orphaned), and the
//! finished runs of a task beyond its `keep_runs`, with their log lines,
//! and finished delays by the same two ages (succeeded ones by the first,
//! failed and cancelled ones by the second), with their attempts, and so
//! finished workflow runs (with their steps) and alerts (delivered and
//! suppressed ones by the first age, failed ones by the second). It
//! deletes in batches of [`BATCH`] runs with a pause between them, so firing
//! never waits on it; on PostgreSQL one host purges at a time.

use std::time::Duration;

use tokio::sync::watch;

use crate::clock::now_ms;
use crate::repeats::Repeats;
use crate::store::{Store, StoreError};
use crate::units::millis;

/// How long finished runs are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Succeeded and skipped runs, succeeded delays.
    pub succeeded: Duration,
    /// Failed, timed-out, cancelled and orphaned runs (and misfire records),
    /// failed and cancelled delays.
    pub failed: Duration,
}

/// Runs deleted per transaction.
pub const BATCH: i64 = 500;
/// The pause between two batches.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);
/// How often the history is looked at.
const EVERY: Duration = Duration::from_secs(60);

/// Purges until `stopped`.
pub async fn purge_loop(store: Store, retention: Retention, mut stopped: watch::Receiver<bool>) {
    let mut failures = Repeats::new("purging old runs");
    while !*stopped.borrow() {
        match purge_once(&store, retention, &stopped).await {
            Ok(0) => failures.succeeded(),
            Ok(deleted) => {
                failures.succeeded();
                tracing::info!(
                    deleted,
                    "purged finished runs and delays past their retention"
                );
            }
            Err(error) => failures.failed(&error),
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// One round: every batch there is to delete now. Returns how many runs
/// and delays were deleted.
pub async fn purge_once(
    store: &Store,
    retention: Retention,
    stopped: &watch::Receiver<bool>,
) -> Result<u64, StoreError> {
    let ages = || {
        let now = now_ms();
        (
            now - millis(retention.succeeded),
            now - millis(retention.failed),
        )
    };
    let mut deleted = in_batches(stopped, || {
        let (succeeded, failed) = ages();
        store.purge_old_runs(succeeded, failed, BATCH)
    })
    .await?;
    deleted += in_batches(stopped, || {
        let (succeeded, failed) = ages();
        store.purge_old_delays(succeeded, failed, BATCH)
    })
    .await?;
    deleted += in_batches(stopped, || store.purge_beyond_keep(BATCH)).await?;
    deleted += in_batches(stopped, || {
        let (succeeded, failed) = ages();
        store.purge_old_followups(succeeded, failed, BATCH)
    })
    .await?;
    Ok(deleted)
}

/// Runs `batch` until one deletes fewer than [`BATCH`] or the host stops,
/// pausing between them; returns how many were deleted in all.
async fn in_batches<F: std::future::Future<Output = Result<u64, StoreError>>>(
    stopped: &watch::Receiver<bool>,
    mut batch: impl FnMut() -> F,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    loop {
        let done = batch().await?;
        deleted += done;
        if done < BATCH as u64 || *stopped.borrow() {
            return Ok(deleted);
        }
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
}
