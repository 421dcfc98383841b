//! Why a run is asked to stop. The host branches on the kind (a run stopped
//! because its own host is shutting down or fenced goes back to pending
//! without spending an attempt); a reason written by hand into a run's
//! `cancel_reason` column is always [`CancelReason::Requested`], whatever its
//! text says.

use std::fmt;

/// Why a run is asked to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelReason {
    /// This host is shutting down and the grace period is over.
    Shutdown,
    /// This host lost the database and stopped its runs so that another host
    /// may take them over (fencing).
    Fenced,
    /// The run reached its timeout.
    Timeout,
    /// A newer fire of the task replaced it (concurrency `replace`).
    Replaced,
    /// Someone asked, through the run's `cancel_reason` column.
    Requested(String),
}

impl CancelReason {
    /// Whether the host itself stopped the run for its own reasons (shutdown,
    /// fencing), so the run should go back to pending and resume elsewhere or
    /// later, without spending an attempt. Returns the reason to record.
    pub fn interruption(&self) -> Option<&'static str> {
        match self {
            CancelReason::Shutdown => Some("the host shut down before the run finished"),
            CancelReason::Fenced => Some("its host lost the database and stopped it (fencing)"),
            _ => None,
        }
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelReason::Shutdown => f.write_str("host shutting down"),
            CancelReason::Fenced => f.write_str(
                "fenced: this host lost the database, so another host may take its runs over",
            ),
            CancelReason::Timeout => f.write_str("the run reached its timeout"),
            CancelReason::Replaced => {
                f.write_str("replaced by a newer fire (concurrency `replace`)")
            }
            CancelReason::Requested(text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hosts_own_reasons_are_interruptions() {
        assert!(CancelReason::Shutdown.interruption().is_some());
        assert!(CancelReason::Fenced.interruption().is_some());
        assert!(CancelReason::Replaced.interruption().is_none());
        // A reason typed into `cancel_reason` that reads like fencing is still a request.
        let by_hand = CancelReason::Requested(CancelReason::Fenced.to_string());
        assert!(by_hand.interruption().is_none());
    }
}
