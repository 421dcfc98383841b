//! What to fire when a task's slots come due: slots within the misfire
//! threshold fire; older ones ("misfires", e.g. the host was down) are handled
//! by the task's policy, and every misfire is counted so it can be recorded.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use crate::schedule::TaskTiming;

/// Slots scanned at most when catching up on a long outage; past this the
/// count of missed slots saturates (a per-second task down for 11 days).
const SCAN_LIMIT: u64 = 1_000_000;

/// The most missed slots `catch-up:N` may fire at once.
pub const MAX_CATCH_UP: u32 = 1000;

/// What to do with slots older than the misfire threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MisfirePolicy {
    /// Fire once now for the latest missed slot (unless an on-time slot fires
    /// anyway); the rest are recorded as missed. Quartz's "fire once now".
    FireNow,
    /// Fire none of the missed slots; record them.
    Skip,
    /// Fire the most recent missed slots, up to the bound; record the rest.
    CatchUp(u32),
}

impl FromStr for MisfirePolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim().to_ascii_lowercase();
        match text.as_str() {
            "fire-now" | "" => Ok(Self::FireNow),
            "skip" => Ok(Self::Skip),
            "catch-up" => Ok(Self::CatchUp(10)),
            _ => text
                .strip_prefix("catch-up:")
                .and_then(|n| n.trim().parse().ok())
                .filter(|n| (1..=MAX_CATCH_UP).contains(n))
                .map(Self::CatchUp)
                .ok_or_else(|| format!("misfire policy `{text}` is not one of `fire-now`, `skip`, `catch-up`, `catch-up:N` (N from 1 to {MAX_CATCH_UP})")),
        }
    }
}

impl fmt::Display for MisfirePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FireNow => f.write_str("fire-now"),
            Self::Skip => f.write_str("skip"),
            Self::CatchUp(n) => write!(f, "catch-up:{n}"),
        }
    }
}

/// The decision for one due task.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FirePlan {
    /// Slots to turn into runs now, oldest first.
    pub fire: Vec<i64>,
    /// Slots that were missed and are not fired.
    pub missed: u64,
    /// The oldest missed slot, if any.
    pub first_missed: Option<i64>,
    /// The newest missed slot, if any.
    pub last_missed: Option<i64>,
    /// The task's next slot after this plan; `None` when the schedule is over.
    pub next: Option<i64>,
}

/// Which slots to fire for a task whose slot `due` has come, at time `now`.
///
/// Slots are scanned from `due` up to `now` (and not past the task's window).
/// A slot older than `now - threshold_ms` is a misfire, handled by `policy`.
pub fn plan_fires(
    timing: &TaskTiming,
    due: i64,
    now: i64,
    threshold_ms: i64,
    policy: MisfirePolicy,
) -> FirePlan {
    let keep_late = match policy {
        MisfirePolicy::FireNow => 1,
        MisfirePolicy::Skip => 0,
        MisfirePolicy::CatchUp(n) => n as usize,
    };
    let past_end = |slot: i64| timing.end_at_ms.is_some_and(|end| slot > end);
    let mut plan = FirePlan::default();
    let mut late: VecDeque<i64> = VecDeque::new();
    let mut late_total: u64 = 0;
    // A slot its calendar now excludes (the calendar changed since the slot
    // was computed) is skipped, not fired and not missed.
    let mut slot = if timing.includes(due) {
        Some(due)
    } else {
        timing.next_after(due)
    };
    let mut scanned = 0;
    while let Some(current) = slot {
        if current > now || past_end(current) {
            break;
        }
        if now - current > threshold_ms {
            late_total += 1;
            plan.first_missed.get_or_insert(current);
            plan.last_missed = Some(current);
            late.push_back(current);
            if late.len() > keep_late {
                late.pop_front();
            }
        } else {
            plan.fire.push(current);
        }
        scanned += 1;
        if scanned >= SCAN_LIMIT {
            // Give up counting; resume at the first slot after now.
            slot = timing.next_after(now);
            break;
        }
        slot = timing.next_after(current);
    }
    plan.next = slot.filter(|s| !past_end(*s));

    let fire_late: Vec<i64> = match policy {
        MisfirePolicy::FireNow if !plan.fire.is_empty() => Vec::new(),
        _ => late.into_iter().collect(),
    };
    plan.missed = late_total - fire_late.len() as u64;
    if plan.missed == 0 {
        plan.first_missed = None;
        plan.last_missed = None;
    }
    let mut fire = fire_late;
    fire.append(&mut plan.fire);
    plan.fire = fire;
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    use chrono_tz::Tz;

    const SECOND: i64 = 1000;
    const HOUR: i64 = 3600 * SECOND;

    fn timing(schedule: &str, end_at_ms: Option<i64>) -> TaskTiming {
        TaskTiming {
            schedule: schedule.parse().unwrap(),
            tz: Tz::UTC,
            created_at_ms: 0,
            start_at_ms: None,
            end_at_ms,
            calendar: None,
        }
    }

    fn plan(due: i64, now: i64, policy: MisfirePolicy) -> FirePlan {
        plan_fires(&timing("every 1s", None), due, now, 60 * SECOND, policy)
    }

    fn hourly(due: i64, now: i64, policy: MisfirePolicy) -> FirePlan {
        plan_fires(&timing("every 1h", None), due, now, 60 * SECOND, policy)
    }

    #[test]
    fn an_on_time_slot_fires_and_the_next_is_the_following_slot() {
        let p = plan(10 * SECOND, 10 * SECOND + 3, MisfirePolicy::FireNow);
        assert_eq!(p.fire, [10 * SECOND]);
        assert_eq!(p.missed, 0);
        assert_eq!(p.next, Some(11 * SECOND));
    }

    #[test]
    fn a_late_host_fires_every_slot_still_within_the_threshold() {
        let p = plan(10 * SECOND, 13 * SECOND + 500, MisfirePolicy::Skip);
        assert_eq!(p.fire, [10 * SECOND, 11 * SECOND, 12 * SECOND, 13 * SECOND]);
        assert_eq!(p.next, Some(14 * SECOND));
    }

    #[test]
    fn fire_now_fires_the_latest_missed_slot_once_and_records_the_rest() {
        // Hourly task, host down from before 1h until 5h10m; threshold 60 s.
        let hour = HOUR;
        let p = hourly(hour, 5 * hour + 10 * 60 * SECOND, MisfirePolicy::FireNow);
        assert_eq!(p.fire, [5 * hour]);
        assert_eq!(p.missed, 4);
        assert_eq!(
            (p.first_missed, p.last_missed),
            (Some(hour), Some(5 * hour))
        );
        assert_eq!(p.next, Some(6 * hour));
    }

    #[test]
    fn fire_now_does_not_add_a_late_fire_when_an_on_time_one_fires() {
        let p = plan(0, 100 * SECOND, MisfirePolicy::FireNow);
        assert_eq!(p.fire.first(), Some(&(40 * SECOND)));
        assert_eq!(p.fire.len(), 61);
        assert_eq!(p.missed, 40);
    }

    #[test]
    fn skip_fires_no_missed_slot() {
        let hour = HOUR;
        let p = hourly(hour, 3 * hour + 120 * SECOND, MisfirePolicy::Skip);
        assert!(p.fire.is_empty());
        assert_eq!(p.missed, 3);
        assert_eq!(p.next, Some(4 * hour));
    }

    #[test]
    fn catch_up_fires_the_most_recent_missed_slots_up_to_its_bound() {
        let hour = HOUR;
        let p = hourly(hour, 10 * hour + 120 * SECOND, MisfirePolicy::CatchUp(3));
        assert_eq!(p.fire, [8 * hour, 9 * hour, 10 * hour]);
        assert_eq!(p.missed, 7);
        assert_eq!(
            (p.first_missed, p.last_missed),
            (Some(hour), Some(10 * hour))
        );
    }

    #[test]
    fn nothing_fires_past_the_end_of_the_window() {
        let window = timing("every 1s", Some(12 * SECOND));
        let p = plan_fires(
            &window,
            10 * SECOND,
            20 * SECOND,
            60 * SECOND,
            MisfirePolicy::FireNow,
        );
        assert_eq!(p.fire, [10 * SECOND, 11 * SECOND, 12 * SECOND]);
        assert_eq!(p.next, None);
    }

    #[test]
    fn policies_parse_and_say_what_is_accepted() {
        assert_eq!("fire-now".parse(), Ok(MisfirePolicy::FireNow));
        assert_eq!("skip".parse(), Ok(MisfirePolicy::Skip));
        assert_eq!("catch-up".parse(), Ok(MisfirePolicy::CatchUp(10)));
        assert_eq!("catch-up:3".parse(), Ok(MisfirePolicy::CatchUp(3)));
        assert!(
            "sometimes"
                .parse::<MisfirePolicy>()
                .unwrap_err()
                .contains("`fire-now`, `skip`")
        );
        assert!("catch-up:0".parse::<MisfirePolicy>().is_err());
    }
}
