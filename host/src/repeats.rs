//! Logging a failure that repeats (a loop retrying a database that is
//! down or full): said in full the first time, then once a minute with how
//! many times it happened since, and once more when it ends, so the log
//! stays readable and the first error is never buried.

use std::time::{Duration, Instant};

/// How often a repeating failure is said again.
const AGAIN_EVERY: Duration = Duration::from_secs(60);

/// The failures of one activity (`what`: "scheduling pass", …).
#[derive(Debug)]
pub struct Repeats {
    what: &'static str,
    failing: Option<Failing>,
}

#[derive(Debug)]
struct Failing {
    since: Instant,
    said_at: Instant,
    unsaid: u64,
    total: u64,
}

impl Repeats {
    /// Failures of `what`.
    pub fn new(what: &'static str) -> Self {
        Self {
            what,
            failing: None,
        }
    }

    /// `what` failed with `error`.
    pub fn failed(&mut self, error: &dyn std::fmt::Display) {
        let now = Instant::now();
        match &mut self.failing {
            None => {
                tracing::error!("{} failed (will retry): {error}", self.what);
                self.failing = Some(Failing {
                    since: now,
                    said_at: now,
                    unsaid: 0,
                    total: 1,
                });
            }
            Some(failing) => {
                failing.total += 1;
                failing.unsaid += 1;
                if now.duration_since(failing.said_at) >= AGAIN_EVERY {
                    tracing::error!(
                        "{} still failing: {} more time(s) in the last {:.0?}, {} since it began: {error}",
                        self.what,
                        failing.unsaid,
                        now.duration_since(failing.said_at),
                        failing.total
                    );
                    failing.said_at = now;
                    failing.unsaid = 0;
                }
            }
        }
    }

    /// `what` worked: if it had been failing, say so once.
    pub fn succeeded(&mut self) {
        if let Some(failing) = self.failing.take() {
            tracing::warn!(
                "{} works again after failing {} time(s) over {:.1?}",
                self.what,
                failing.total,
                failing.since.elapsed()
            );
        }
    }
}
