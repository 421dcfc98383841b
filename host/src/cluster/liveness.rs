//! This host's liveness, and the cluster's view of the others: heartbeat
//! (one write per host per interval), refresh of the live set, rescue of runs
//! held by hosts whose heartbeat is older than the node timeout, and fencing.
//!
//! Fencing: a host whose last heartbeat is older than the node timeout minus
//! one heartbeat interval raises its [`Fence`] (the dispatcher, behind that
//! small trait: it stops claiming and cancels its own runs), so it has
//! stopped before any other host can declare it dead and take the runs over
//! (host clocks are assumed to agree within a heartbeat interval). The
//! fenced completion (node and attempt must still match) is the backstop.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::clock::now_ms;
use crate::cluster::ClusterView;
use crate::labels::Labels;
use crate::repeats::Repeats;
use crate::store::{Rescued, Store};

/// What liveness fences when the database is out of reach: the part of the
/// host that claims and runs.
pub trait Fence: Send + Sync {
    /// Stop claiming and ask every run to stop; returns how many were asked.
    fn raise(&self) -> usize;
    /// Claim again.
    fn lower(&self);
    /// Whether the fence is up.
    fn is_raised(&self) -> bool;
}

/// Timings and identity for [`run`].
#[derive(Debug, Clone)]
pub struct LivenessConfig {
    /// This host.
    pub node_id: String,
    /// Its labels (written with its node row).
    pub labels: Labels,
    /// Its capacity (written with its node row).
    pub capacity: i64,
    /// How often it heartbeats.
    pub heartbeat_interval: Duration,
    /// A host silent this long is dead.
    pub node_timeout: Duration,
    /// How often dead hosts are looked for.
    pub poll_interval: Duration,
}

impl LivenessConfig {
    /// How long without a heartbeat before this host fences itself.
    pub fn fence_after(&self) -> Duration {
        self.node_timeout
            .saturating_sub(self.heartbeat_interval)
            .max(self.node_timeout / 2)
    }
}

/// Heartbeats, refreshes the view, rescues dead hosts' runs and raises
/// `fence` while the database is out of reach, until `stopped`. `rescued` is
/// woken when runs went back to pending.
pub async fn run(
    store: Store,
    view: Arc<ClusterView>,
    config: LivenessConfig,
    fence: Arc<dyn Fence>,
    rescued: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut last_beat = now_ms();
    let mut last_attempt = i64::MIN / 2;
    let beat_every = config.heartbeat_interval.as_millis() as i64;
    // A database call that hangs (a dropped network path) must not hold the
    // loop past the point where it has to fence.
    let limit = config.heartbeat_interval;
    let mut beat_failures = Repeats::new("the heartbeat");
    let mut rescue_failures = Repeats::new("looking for dead hosts");
    while !*stopped.borrow() {
        let now = now_ms();
        if now - last_attempt >= beat_every {
            last_attempt = now;
            match tokio::time::timeout(limit, beat(&store, &view, &config, now)).await {
                Ok(Ok(())) => {
                    last_beat = now;
                    beat_failures.succeeded();
                    if fence.is_raised() {
                        fence.lower();
                        tracing::warn!("database reachable again: this host claims runs again");
                    }
                }
                Ok(Err(error)) => beat_failures.failed(&format!("{error:#}")),
                Err(_) => beat_failures.failed(&format!("no answer within {limit:?}")),
            }
        }
        let silent = Duration::from_millis((now_ms() - last_beat).max(0) as u64);
        if silent > config.fence_after() && !fence.is_raised() {
            let stopped_runs = fence.raise();
            tracing::error!(
                silent = ?silent,
                runs = stopped_runs,
                "fenced: no heartbeat reached the database for {silent:?}; stopped claiming and \
                 cancelled this host's runs before other hosts take them over"
            );
        }
        if !fence.is_raised() {
            match tokio::time::timeout(limit, rescue_dead(&store, &config)).await {
                Ok(Ok(pending)) => {
                    rescue_failures.succeeded();
                    if pending > 0 {
                        rescued.notify_one();
                    }
                }
                Ok(Err(error)) => rescue_failures.failed(&format!("{error:#}")),
                Err(_) => rescue_failures.failed(&format!("no answer within {limit:?}")),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(config.poll_interval.min(config.heartbeat_interval)) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// One heartbeat: write it (re-registering if the row was removed), then
/// refresh the view of live hosts.
async fn beat(
    store: &Store,
    view: &ClusterView,
    config: &LivenessConfig,
    now: i64,
) -> anyhow::Result<()> {
    if !store.heartbeat(&config.node_id, now).await? {
        tracing::warn!("this host's node row was gone: registered it again");
        store
            .register_node(
                &config.node_id,
                &config.labels.to_string(),
                config.capacity,
                now,
            )
            .await?;
    }
    let nodes = store.list_nodes().await?;
    let alive_since = now - config.node_timeout.as_millis() as i64;
    let before = view.live();
    view.refresh(&nodes, alive_since);
    let after = view.live();
    if before != after {
        tracing::info!(live = %after.join(","), "live hosts changed");
    }
    Ok(())
}

/// Rescues the runs of every host whose heartbeat is older than the node
/// timeout. Returns how many runs went back to pending.
async fn rescue_dead(store: &Store, config: &LivenessConfig) -> anyhow::Result<u64> {
    let now = now_ms();
    let cutoff = now - config.node_timeout.as_millis() as i64;
    let mut pending_again = 0;
    for (node, heartbeat) in store.dead_nodes_with_runs(&config.node_id, cutoff).await? {
        // It died at most one interval after its last heartbeat landed.
        let alive_until = heartbeat.map_or(now, |beat| {
            beat + config.heartbeat_interval.as_millis() as i64
        });
        let rescued = store.rescue_runs_of(&node, now, alive_until).await?;
        pending_again += rescued.pending();
        if rescued != Rescued::default() {
            tracing::warn!(
                node = %node,
                requeued = rescued.requeued,
                orphaned = rescued.orphaned,
                never_started = rescued.unstarted,
                "host missed its heartbeat: rescued its runs"
            );
        }
    }
    Ok(pending_again)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_fences_itself_before_others_may_rescue_its_runs() {
        let config = LivenessConfig {
            node_id: "a".into(),
            labels: Labels::default(),
            capacity: 1,
            heartbeat_interval: Duration::from_secs(2),
            node_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
        };
        assert_eq!(config.fence_after(), Duration::from_secs(8));
        let tight = LivenessConfig {
            heartbeat_interval: Duration::from_millis(1900),
            node_timeout: Duration::from_secs(2),
            ..config
        };
        assert_eq!(tight.fence_after(), Duration::from_secs(1));
    }
}
