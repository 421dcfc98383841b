//! Following up what ended: one loop that takes the outbox (run ends and
//! misfires, written by the database's triggers whoever changed the row)
//! and does what follows from each (the tasks a finished fire chains to
//! fire, a workflow run moves on, alerts are raised) in the store's
//! transaction, so each is done once across a
//! cluster. Woken when this host records such an end, on PostgreSQL when
//! any host does, and at the poll interval otherwise.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::clock::now_ms;
use crate::metrics;
use crate::repeats::Repeats;
use crate::store::Store;

/// Outbox entries taken per transaction.
const BATCH: i64 = 500;

/// The follow-up loop's parts.
#[derive(Debug)]
pub struct FollowUps {
    /// The database.
    pub store: Store,
    /// How often to look when nothing wakes the loop.
    pub poll_interval: Duration,
    /// Woken on PostgreSQL when any host wrote the outbox.
    pub wake: Arc<Notify>,
    /// Told when runs were made, so the dispatcher claims them.
    pub runnable: Arc<Notify>,
    /// Told when alerts were raised, so the alert loop sends them.
    pub alerts: Arc<Notify>,
}

impl FollowUps {
    /// Follows up until `stopped`.
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        let mut failures = Repeats::new("following up ended runs");
        while !*stopped.borrow() {
            loop {
                match self.store.follow_up(BATCH, now_ms()).await {
                    Ok(done) => {
                        failures.succeeded();
                        if done.runs_created > 0 {
                            self.runnable.notify_one();
                        }
                        if done.alerts_raised > 0 {
                            self.alerts.notify_one();
                        }
                        if (done.entries as i64) < BATCH {
                            break;
                        }
                    }
                    Err(error) => {
                        metrics::global().database_error("following up");
                        failures.failed(&error);
                        break;
                    }
                }
            }
            tokio::select! {
                () = self.store.outbox_written() => {}
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.poll_interval) => {}
                _ = stopped.changed() => {}
            }
        }
    }
}
