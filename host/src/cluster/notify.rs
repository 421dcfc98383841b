//! Change pickup on PostgreSQL: one connection per host LISTENs on the
//! channels the schema's triggers notify (`migrations/postgres/0002_cluster.sql`)
//! and wakes the loops that care, so a task edited with plain SQL, or runs
//! offered to this host by another, are seen at once instead of at the next
//! poll. Polling stays the fallback: a lost connection or a missed
//! notification costs latency, never correctness.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::{Notify, watch};

/// Task rows were added, removed or changed by anyone but a scheduler.
pub const TASKS_CHANNEL: &str = "carillon_tasks";
/// A module was pushed, replaced or removed.
pub const MODULES_CHANNEL: &str = "carillon_modules";
/// Pending runs were created; the payload lists the hosts they were offered
/// to (`*`: any host).
pub const RUNS_CHANNEL: &str = "carillon_runs";

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
}

/// Whether a `carillon_runs` payload concerns `node`.
pub fn offers_concern(payload: &str, node: &str) -> bool {
    payload.split(',').any(|id| id == "*" || id == node)
}

/// Listens until `stopped`; reconnects after a lost connection, waking both
/// loops then (notifications sent meanwhile are lost).
pub async fn listen(url: String, wakers: Wakers, mut stopped: watch::Receiver<bool>) {
    let mut warned = false;
    while !*stopped.borrow() {
        let mut listener = match subscribe(&url).await {
            Ok(listener) => {
                if warned {
                    tracing::info!("change notifications restored");
                    warned = false;
                }
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
                received = listener.try_recv() => received,
                _ = stopped.changed() => return,
            };
            match received {
                Ok(Some(notification)) => match notification.channel() {
                    TASKS_CHANNEL => wakers.tasks.notify_one(),
                    MODULES_CHANNEL => wakers.modules.notify_one(),
                    RUNS_CHANNEL if offers_concern(notification.payload(), &wakers.node_id) => {
                        wakers.runs.notify_one();
                    }
                    _ => {}
                },
                Ok(None) | Err(_) => {
                    // The connection dropped: whatever was sent meanwhile is
                    // lost, so look at everything once.
                    wakers.tasks.notify_one();
                    wakers.runs.notify_one();
                    wakers.modules.notify_one();
                    break;
                }
            }
        }
    }
}

async fn subscribe(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener
        .listen_all([TASKS_CHANNEL, RUNS_CHANNEL, MODULES_CHANNEL])
        .await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_wakes_for_offers_to_it_or_to_anyone() {
        assert!(offers_concern("a,b", "b"));
        assert!(offers_concern("*", "b"));
        assert!(!offers_concern("a,bb", "b"));
        assert!(!offers_concern("", "b"));
    }
}
