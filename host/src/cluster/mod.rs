//! Many hosts on one database: the live set and where new runs are offered
//! ([`view`]), heartbeat, rescue of dead hosts' runs and fencing this host
//! ([`liveness`]), and waking the loops on change notifications from
//! PostgreSQL ([`notify`]).
//! Exactly-once per (task, slot, shard) does not live here: it is the `runs`
//! table's UNIQUE key and the fenced completion in the store.

pub mod liveness;
pub mod notify;
pub mod view;

use std::time::Duration;

pub use view::ClusterView;

/// How long a run offered to one host waits before any other may take it:
/// long enough for the offered host to hear of it and claim, short enough
/// that a busy or dying host delays its share by little.
pub const OFFER_WINDOW: Duration = Duration::from_millis(250);
