//! The states of a run (the `runs.state` column).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    /// Waiting to be claimed (new, a retry whose backoff has not ended, or rescued).
    Pending,
    /// Claimed by a host: running, or waiting there for its slot.
    Running,
    /// The job returned an outcome.
    Succeeded,
    /// The job returned an error or faulted, with no attempts left.
    Failed,
    /// Still running at its timeout, with no attempts left.
    TimedOut,
    /// Cancelled (concurrency `replace`, or asked to).
    Cancelled,
    /// Its host stopped while running it and no attempts were left.
    Orphaned,
    /// Not run: its fire was skipped (concurrency `forbid`), with the reason.
    Skipped,
}

impl RunState {
    /// Every state, in the order a run may pass through them.
    pub const ALL: [RunState; 8] = [
        RunState::Pending,
        RunState::Running,
        RunState::Succeeded,
        RunState::Failed,
        RunState::TimedOut,
        RunState::Cancelled,
        RunState::Orphaned,
        RunState::Skipped,
    ];

    /// The text stored in `runs.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::TimedOut => "timed-out",
            RunState::Cancelled => "cancelled",
            RunState::Orphaned => "orphaned",
            RunState::Skipped => "skipped",
        }
    }

    /// Whether a run in this state is over (nothing will change it).
    pub fn is_final(self) -> bool {
        !matches!(self, RunState::Pending | RunState::Running)
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text that names no run state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a run state; use pending, running, succeeded, failed, timed-out, cancelled, orphaned or skipped"
)]
pub struct UnknownRunState(pub String);

impl FromStr for RunState {
    type Err = UnknownRunState;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RunState::ALL
            .into_iter()
            .find(|state| state.as_str() == text.trim())
            .ok_or_else(|| UnknownRunState(text.to_owned()))
    }
}

impl TryFrom<String> for RunState {
    type Error = UnknownRunState;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_text() {
        for state in RunState::ALL {
            assert_eq!(state.as_str().parse::<RunState>(), Ok(state));
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{state}\"")
            );
        }
        assert!(!RunState::Running.is_final());
        assert!(RunState::TimedOut.is_final());
        assert_eq!(
            "done".parse::<RunState>().unwrap_err().to_string(),
            "`done` is not a run state; use pending, running, succeeded, failed, timed-out, cancelled, orphaned or skipped"
        );
    }
}
