//! This host's start watermark: a time such that every run it holds that
//! was due to start by then has begun. It is written with each batch of run
//! records, so that after a crash the runs claimed ahead of a later slot,
//! which never started, go back to pending as they were (no attempt spent)
//! instead of being counted as attempts or orphaned.
//!
//! It is the earliest planned start among the runs held but not begun, less
//! a millisecond, and never later than a claim still in progress began (its
//! runs are not known yet) nor than now.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Planned starts of runs held but not begun, and claims in progress.
#[derive(Debug, Default)]
pub(super) struct StartWatermark {
    marks: Mutex<Marks>,
}

#[derive(Debug, Default)]
struct Marks {
    /// Planned start (ms) → runs held, not begun.
    unstarted: BTreeMap<i64, usize>,
    /// Claim start (ms) → claims in progress.
    claiming: BTreeMap<i64, usize>,
}

fn add(counts: &mut BTreeMap<i64, usize>, at: i64) {
    *counts.entry(at).or_default() += 1;
}

fn remove(counts: &mut BTreeMap<i64, usize>, at: i64) {
    if let Some(count) = counts.get_mut(&at) {
        *count -= 1;
        if *count == 0 {
            counts.remove(&at);
        }
    }
}

impl StartWatermark {
    fn lock(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A claim begins at `since` (ms).
    pub(super) fn claim_begins(&self, since: i64) {
        add(&mut self.lock().claiming, since);
    }

    /// The claim begun at `since` is over (its runs are held, or there were
    /// none).
    pub(super) fn claim_ends(&self, since: i64) {
        remove(&mut self.lock().claiming, since);
    }

    /// A run planned to start at `planned` is held, not begun.
    pub(super) fn hold(&self, planned: i64) {
        add(&mut self.lock().unstarted, planned);
    }

    /// The run planned for `planned` has begun (or ended without beginning).
    pub(super) fn began(&self, planned: i64) {
        remove(&mut self.lock().unstarted, planned);
    }

    /// The watermark at `now`.
    pub(super) fn value(&self, now: i64) -> i64 {
        let marks = self.lock();
        let first = |counts: &BTreeMap<i64, usize>| counts.keys().next().map(|t| t - 1);
        [first(&marks.unstarted), first(&marks.claiming), Some(now)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_stays_below_every_run_not_begun_and_every_claim_in_progress() {
        let marks = StartWatermark::default();
        assert_eq!(marks.value(1_000), 1_000);
        marks.hold(1_200);
        marks.hold(1_100);
        assert_eq!(marks.value(1_000), 1_000, "never later than now");
        assert_eq!(marks.value(2_000), 1_099);
        marks.began(1_100);
        assert_eq!(marks.value(2_000), 1_199);
        marks.claim_begins(1_150);
        assert_eq!(
            marks.value(2_000),
            1_149,
            "a claim's runs are not known yet"
        );
        marks.claim_ends(1_150);
        marks.began(1_200);
        assert_eq!(marks.value(2_000), 2_000);
    }
}
