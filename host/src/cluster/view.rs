//! What this host knows of the cluster: the live hosts (from the `nodes`
//! table, refreshed at every heartbeat) and, for each new run, which of them
//! it is offered to. Offers go round the live hosts whose labels satisfy the
//! run's selector, skipping hosts that were full at their last heartbeat, so
//! the shards of one fire land on different hosts and a new host gets work
//! at the next fire. An offer is a preference, not a lock: once the run has
//! waited longer than the offer window any host may claim it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::labels::Labels;
use crate::store::NodeRow;

/// A live host, as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Peer {
    id: Arc<str>,
    labels: Labels,
    /// Free permits at its last heartbeat (capacity minus running runs).
    free: i64,
}

/// The live hosts and the offer rotation. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct ClusterView {
    me: Peer,
    peers: RwLock<Vec<Peer>>,
    turn: AtomicUsize,
}

impl ClusterView {
    /// A view that knows only this host until the first refresh.
    pub fn new(node_id: &str, labels: Labels) -> Self {
        let me = Peer {
            id: Arc::from(node_id),
            labels,
            free: 1,
        };
        Self {
            peers: RwLock::new(vec![me.clone()]),
            me,
            turn: AtomicUsize::new(0),
        }
    }

    /// Replaces the live set with the nodes whose heartbeat is at or after
    /// `alive_since` (this host always counts as live).
    pub fn refresh(&self, nodes: &[NodeRow], alive_since: i64) {
        let mut live: Vec<Peer> = nodes
            .iter()
            .filter(|n| n.heartbeat_at >= alive_since || *n.id == *self.me.id)
            .map(|n| Peer {
                id: Arc::from(n.id.as_str()),
                // A node row with unparsable labels was written by hand; it
                // still takes unpinned work.
                labels: Labels::parse(&n.labels).unwrap_or_default(),
                free: n.capacity - n.running,
            })
            .collect();
        if !live.iter().any(|p| p.id == self.me.id) {
            live.push(self.me.clone());
        }
        live.sort_by(|a, b| a.id.cmp(&b.id));
        *self.peers.write().unwrap_or_else(|e| e.into_inner()) = live;
    }

    /// Ids of the hosts currently counted as live.
    pub fn live(&self) -> Vec<String> {
        self.read().iter().map(|p| p.id.to_string()).collect()
    }

    /// The host a new run with `selector` is offered to; `None` (any host)
    /// when this host is alone or no live host matches the selector.
    pub fn offer(&self, selector: Option<&str>) -> Option<String> {
        let peers = self.read();
        if peers.len() <= 1 {
            return None;
        }
        let matching: Vec<&Peer> = peers
            .iter()
            .filter(|p| p.labels.satisfy(selector))
            .collect();
        let with_room: Vec<&Peer> = matching.iter().copied().filter(|p| p.free > 0).collect();
        let pool = if with_room.is_empty() {
            matching
        } else {
            with_room
        };
        if pool.is_empty() {
            return None;
        }
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        Some(pool[turn % pool.len()].id.to_string())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Peer>> {
        self.peers.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, labels: &str, heartbeat_at: i64, running: i64) -> NodeRow {
        NodeRow {
            id: id.into(),
            labels: labels.into(),
            capacity: 4,
            running,
            started_at: 0,
            heartbeat_at,
        }
    }

    #[test]
    fn a_lone_host_offers_to_anyone() {
        let view = ClusterView::new("a", Labels::default());
        assert_eq!(view.offer(None), None);
        view.refresh(&[node("a", "", 100, 0), node("b", "", 10, 0)], 50);
        assert_eq!(view.live(), ["a"], "b's heartbeat is too old");
        assert_eq!(view.offer(None), None);
    }

    #[test]
    fn the_shards_of_a_fire_go_round_the_live_hosts() {
        let view = ClusterView::new("b", Labels::default());
        view.refresh(
            &[
                node("a", "", 100, 0),
                node("b", "", 100, 0),
                node("c", "", 100, 0),
            ],
            50,
        );
        let mut offered: Vec<String> = (0..3).filter_map(|_| view.offer(None)).collect();
        offered.sort();
        assert_eq!(offered, ["a", "b", "c"]);
    }

    #[test]
    fn offers_follow_selectors_and_skip_full_hosts() {
        let view = ClusterView::new("a", Labels::parse("zone=x").unwrap());
        view.refresh(
            &[
                node("a", "zone=x", 100, 0),
                node("b", "zone=y", 100, 0),
                node("c", "zone=y", 100, 4),
            ],
            50,
        );
        for _ in 0..4 {
            assert_eq!(
                view.offer(Some("zone=y")).as_deref(),
                Some("b"),
                "c is full"
            );
            assert_eq!(view.offer(Some("zone=x")).as_deref(), Some("a"));
        }
        assert_eq!(view.offer(Some("gpu=yes")), None);
    }

    #[test]
    fn when_every_matching_host_is_full_offers_still_go_round() {
        let view = ClusterView::new("a", Labels::default());
        view.refresh(&[node("a", "", 100, 4), node("b", "", 100, 4)], 50);
        let offered: Vec<String> = (0..2).filter_map(|_| view.offer(None)).collect();
        assert!(offered.contains(&"a".to_owned()) && offered.contains(&"b".to_owned()));
    }
}
