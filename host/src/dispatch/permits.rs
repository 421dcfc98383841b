//! This host's capacity, counted in permits. A run holds a *held* permit from
//! the moment it is claimed (or set aside for the scheduler to claim at
//! insert) until its outcome is queued for recording, and an *executing*
//! permit while its job runs: `max_concurrent_runs` execute at once, and a
//! host holds at most eight times that (at least [`MIN_HELD`]) counting runs
//! claimed ahead and waiting for their slot. "Slot" always means a scheduled
//! time; a unit of capacity is a permit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::dispatch::watermark::StartWatermark;

/// Held permits per executing permit, and the least a host holds: enough
/// for 10,000 fires/s claimed 500 ms ahead. A waiting run is a few hundred
/// bytes.
const HELD_PER_EXECUTING: usize = 8;
const MIN_HELD: usize = 8192;

/// A host's permits.
#[derive(Debug)]
pub(super) struct Permits {
    /// Runs held (claimed, running or waiting).
    held: Arc<Semaphore>,
    /// Runs executing.
    executing: Arc<Semaphore>,
    max_concurrent_runs: usize,
    /// Set when a claim took every free held permit: runs may be waiting for one.
    saturated: AtomicBool,
    /// Woken when, while saturated, a claim batch of permits is free again.
    freed: Notify,
}

impl Permits {
    /// Permits for a host running `max_concurrent_runs` at once.
    pub(super) fn new(max_concurrent_runs: usize) -> Self {
        Self {
            held: Arc::new(Semaphore::new(held_limit(max_concurrent_runs))),
            executing: Arc::new(Semaphore::new(max_concurrent_runs)),
            max_concurrent_runs,
            saturated: AtomicBool::new(false),
            freed: Notify::new(),
        }
    }

    /// Held permits free now.
    pub(super) fn free(&self) -> usize {
        self.held.available_permits()
    }

    /// Executing permits free now: runs this host could start at once.
    pub(super) fn executing_free(&self) -> usize {
        self.executing.available_permits()
    }

    /// Free held permits worth a claim while there is a backlog: a quarter
    /// of the executing ones. A claim is a transaction, not worth making for
    /// one permit.
    pub(super) fn claim_batch(&self) -> usize {
        (self.max_concurrent_runs / 4).max(1)
    }

    /// Whether a claim is worth making now: some permit is free and, while a
    /// backlog is waiting (the last claim took every free permit), a claim
    /// batch of them, unless `any_free` says to take whatever is free.
    pub(super) fn worth_claiming(&self, any_free: bool) -> bool {
        let free = self.free();
        free > 0 && (any_free || !self.is_saturated() || free >= self.claim_batch())
    }

    /// Takes every free held permit, for a claim begun at `since` (ms): the
    /// start watermark stays below it until the reservation is dropped.
    pub(super) fn reserve_all(&self, watermark: &Arc<StartWatermark>, since: i64) -> Reservation {
        let free = self.free() as u32;
        let permit = (free > 0)
            .then(|| self.held.clone().try_acquire_many_owned(free).ok())
            .flatten();
        let claim = permit.as_ref().map(|_| {
            watermark.claim_begins(since);
            (watermark.clone(), since)
        });
        Reservation { permit, claim }
    }

    /// Records whether the last claim used every permit it had reserved.
    pub(super) fn set_saturated(&self, saturated: bool) {
        self.saturated.store(saturated, Ordering::SeqCst);
    }

    fn is_saturated(&self) -> bool {
        self.saturated.load(Ordering::SeqCst)
    }

    /// Waits for an executing permit; `None` once the host is stopping.
    pub(super) async fn execute(&self) -> Option<OwnedSemaphorePermit> {
        self.executing.clone().acquire_owned().await.ok()
    }

    /// Gives a held permit back and wakes a waiting claim if a batch is free.
    pub(super) fn release(&self, permit: OwnedSemaphorePermit) {
        drop(permit);
        if self.is_saturated() && self.free() >= self.claim_batch() {
            self.freed.notify_one();
        }
    }

    /// Resolves when, after a claim had taken every free permit, a claim
    /// batch of them is free again.
    pub(super) async fn freed(&self) {
        self.freed.notified().await;
    }

    /// Waits until every held permit is back (no run is held), at most
    /// `limit`. Returns whether they all came back.
    pub(super) async fn wait_all_returned(&self, limit: std::time::Duration) -> bool {
        let all = held_limit(self.max_concurrent_runs) as u32;
        matches!(
            tokio::time::timeout(limit, self.held.acquire_many(all)).await,
            Ok(Ok(_))
        )
    }
}

/// How many runs a host with `max_concurrent_runs` executing permits holds
/// at most.
fn held_limit(max_concurrent_runs: usize) -> usize {
    (max_concurrent_runs * HELD_PER_EXECUTING).max(MIN_HELD)
}

/// Held permits set aside for runs about to be claimed (by a claim query, or
/// by the scheduler as it inserts them); those not used go back when it is
/// dropped.
#[derive(Debug)]
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
    /// The claim this is for, in the start watermark until it is dropped.
    claim: Option<(Arc<StartWatermark>, i64)>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some((watermark, since)) = &self.claim {
            watermark.claim_ends(*since);
        }
    }
}

impl Reservation {
    /// No permits.
    pub(super) fn none() -> Self {
        Self {
            permit: None,
            claim: None,
        }
    }

    /// Permits still set aside.
    pub fn len(&self) -> usize {
        self.permit.as_ref().map_or(0, |p| p.num_permits())
    }

    /// Whether no permit is set aside.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes one permit out for a run.
    pub(super) fn take_one(&mut self) -> Option<OwnedSemaphorePermit> {
        self.permit.as_mut().and_then(|p| p.split(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlog_is_claimed_in_batches_unless_any_free_permit_will_do() {
        let permits = Permits::new(8);
        let marks = Arc::new(StartWatermark::default());
        assert!(permits.worth_claiming(false));
        let all = permits.reserve_all(&marks, 0);
        assert_eq!(all.len(), MIN_HELD);
        assert!(!permits.worth_claiming(true), "nothing is free");
        permits.set_saturated(true);
        drop(all);
        let mut most = permits.reserve_all(&marks, 0);
        let one = most.take_one().unwrap();
        drop(most);
        assert_eq!(permits.free(), MIN_HELD - 1);
        let rest = permits.reserve_all(&marks, 0);
        permits.release(one);
        assert_eq!(permits.free(), 1);
        assert!(
            !permits.worth_claiming(false),
            "one is less than a batch of 2"
        );
        assert!(permits.worth_claiming(true));
        drop(rest);
    }
}
