//! Change pickup on PostgreSQL: the store's change listener wakes the loops
//! that care, so a task edited with plain SQL, or runs offered to this host
//! by another, are seen at once instead of at the next poll. Polling stays
//! the fallback: a lost connection or a missed notification costs latency,
//! never correctness.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::store::{Change, Store};

/// Who to wake.
#[derive(Debug, Clone)]
pub struct Wakers {
    /// This host's id, to pick its own name out of run offers.
    pub node_id: String,
    /// Woken when tasks changed (the schedule loop).
    pub tasks: Arc<Notify>,
    /// Woken when runs this host may claim were created (the dispatch loop).
    pub runs: Arc<Notify>,
    /// Woken when modules changed (the module sync).
    pub modules: Arc<Notify>,
    /// Woken when the outbox has entries (the follow-up loop).
    pub outbox: Arc<Notify>,
}

/// Listens until `stopped`; reconnects after a lost connection, waking every
/// loop then (notifications sent meanwhile are lost).
pub async fn listen(store: Store, wakers: Wakers, mut stopped: watch::Receiver<bool>) {
    let mut warned = false;
    while !*stopped.borrow() {
        let mut listener = match store.listen_for_changes().await {
            Ok(listener) => {
                if warned {
                    tracing::info!("change notifications restored");
                    warned = false;
                }
                // Whatever changed before this connection listened was not
                // notified to it: look at everything once.
                wakers.tasks.notify_one();
                wakers.runs.notify_one();
                wakers.modules.notify_one();
                wakers.outbox.notify_one();
                listener
            }
            Err(error) => {
                if !warned {
                    tracing::warn!(
                        "cannot listen for change notifications (polling meanwhile): {error}"
                    );
                    warned = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stopped.changed() => return,
                }
            }
        };
        loop {
            let received = tokio::select! {
                received = listener.next() => received,
                _ = stopped.changed() => return,
            };
            match received {
                Ok(Some(Change::Tasks)) => wakers.tasks.notify_one(),
                Ok(Some(Change::Modules)) => wakers.modules.notify_one(),
                Ok(Some(Change::Outbox)) => wakers.outbox.notify_one(),
                Ok(Some(change)) if change.offers_runs_to(&wakers.node_id) => {
                    wakers.runs.notify_one();
                }
                Ok(_) => {}
                Err(_) => {
                    // The connection dropped: whatever was sent meanwhile is
                    // lost, so look at everything once.
                    wakers.tasks.notify_one();
                    wakers.runs.notify_one();
                    wakers.modules.notify_one();
                    wakers.outbox.notify_one();
                    break;
                }
            }
        }
    }
}
