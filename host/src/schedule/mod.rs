//! When tasks fire: parses schedules (Quartz cron, fixed intervals, one-shots)
//! and computes fire times and misfire handling. Pure: no I/O and no clock
//! reads; "now" always comes in as an argument, so every rule here is tested
//! exhaustively without waiting.

pub mod calendar;
pub mod cron;
mod misfire;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use calendar::{Calendar, CalendarError, CalendarKind, CalendarRow, Calendars};
pub use cron::{CronError, CronExpr};
pub use misfire::{FirePlan, MAX_CATCH_UP, MisfirePolicy, plan_fires};

use crate::units::{format_duration, millis, parse_duration};

/// The latest time a task may name, ms since the Unix epoch:
/// 9999-12-31T23:59:59.999Z. Times are from 0 (1970) to this.
pub const LATEST_MS: i64 = 253_402_300_799_999;

/// When a task fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// A Quartz cron expression, read in the task's time zone.
    Cron(Box<CronExpr>),
    /// `every 30s`: fixed interval, slots at the task's anchor (its `start_at`,
    /// else its creation time) plus whole intervals, as Quartz anchors a
    /// simple trigger at its start. Every host computes the same slots from
    /// the row, and tasks created at different times spread their load.
    Every(Duration),
    /// `at 2026-12-01T10:00:00Z`: once, at that instant.
    At(DateTime<Utc>),
    /// `after 10m`: once, that long after the task was created.
    After(Duration),
    /// `manual`: never on its own; only when triggered, chained, or run as
    /// a workflow step.
    Manual,
}

/// A schedule that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// A bad cron expression.
    #[error("cron {0}")]
    Cron(#[from] CronError),
    /// Anything else.
    #[error("schedule `{text}`: {reason}")]
    Other {
        /// The schedule text.
        text: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let other = |reason: String| ScheduleError::Other {
            text: trimmed.to_owned(),
            reason,
        };
        let (word, rest) = trimmed
            .split_once(char::is_whitespace)
            .unwrap_or((trimmed, ""));
        match word.to_ascii_lowercase().as_str() {
            "every" => {
                let interval = parse_duration(rest).map_err(|e| other(e.to_string()))?;
                if interval < Duration::from_secs(1) {
                    return Err(other("the interval must be at least 1s".into()));
                }
                Ok(Schedule::Every(interval))
            }
            "after" => Ok(Schedule::After(parse_duration(rest).map_err(|e| other(e.to_string()))?)),
            "manual" if rest.trim().is_empty() => Ok(Schedule::Manual),
            "manual" => Err(other(
                "`manual` takes nothing after it: the task fires only when triggered, chained or run in a workflow".into(),
            )),
            "at" => {
                let at = DateTime::parse_from_rfc3339(rest.trim())
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| other(format!("`{}` is not an RFC 3339 time ({e}); write e.g. `at 2026-12-01T10:00:00Z`", rest.trim())))?;
                if !(0..=LATEST_MS).contains(&at.timestamp_millis()) {
                    return Err(other("the time must be from 1970 to 9999".into()));
                }
                Ok(Schedule::At(at))
            }
            "" => Err(other(
                "empty; write a Quartz cron expression (`0 0/5 * * * ?`), `every 30s`, `at 2026-12-01T10:00:00Z`, `after 10m` or `manual`".into(),
            )),
            _ => Ok(Schedule::Cron(Box::new(CronExpr::parse(trimmed)?))),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Cron(cron) => write!(f, "{cron}"),
            Schedule::Every(interval) => write!(f, "every {}", format_duration(*interval)),
            Schedule::At(at) => write!(
                f,
                "at {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            Schedule::After(delay) => write!(f, "after {}", format_duration(*delay)),
            Schedule::Manual => f.write_str("manual"),
        }
    }
}

impl Schedule {
    /// The first fire time strictly after `after_ms` (ms since the Unix epoch),
    /// or `None` when the schedule is over. `anchor_ms` is where `every`
    /// slots start and what `after` counts from.
    pub fn next_after(&self, after_ms: i64, tz: Tz, anchor_ms: i64) -> Option<i64> {
        match self {
            Schedule::Cron(cron) => {
                let after = DateTime::<Utc>::from_timestamp_millis(after_ms)?;
                cron.next_after(after, tz).map(|t| t.timestamp_millis())
            }
            Schedule::Every(interval) => {
                // Checked throughout: a slot past what an i64 of ms can
                // hold is no slot.
                let step = millis(*interval).max(1);
                let steps = after_ms
                    .checked_sub(anchor_ms)?
                    .div_euclid(step)
                    .checked_add(1)?;
                anchor_ms.checked_add(steps.max(0).checked_mul(step)?)
            }
            Schedule::At(at) => Some(at.timestamp_millis()).filter(|t| *t > after_ms),
            Schedule::After(delay) => anchor_ms
                .checked_add(millis(*delay))
                .filter(|t| *t > after_ms),
            Schedule::Manual => None,
        }
    }
}

/// Everything that decides a task's slots: schedule, time zone, creation
/// time (anchors `after`) and the optional start/end window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTiming {
    /// When it fires.
    pub schedule: Schedule,
    /// The zone cron expressions are read in.
    pub tz: Tz,
    /// When the task was created, ms since the Unix epoch: anchors `after`,
    /// and `every` when there is no `start_at`.
    pub created_at_ms: i64,
    /// No slot before this, if set.
    pub start_at_ms: Option<i64>,
    /// No slot after this, if set.
    pub end_at_ms: Option<i64>,
    /// No slot in a time this calendar excludes, if set.
    pub calendar: Option<Arc<Calendar>>,
}

/// Slots a calendar may skip in a row before the search gives up (a task
/// whose calendar leaves it no slot in reach fires no more).
const CALENDAR_SKIPS: usize = 10_000;

impl TaskTiming {
    /// The first slot strictly after `after_ms` inside the window and not
    /// excluded by the calendar, or `None` when the task will not fire again.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let mut after = match self.start_at_ms {
            Some(start) => after_ms.max(start.saturating_sub(1)),
            None => after_ms,
        };
        let anchor = match self.schedule {
            Schedule::Every(_) => self.start_at_ms.unwrap_or(self.created_at_ms),
            _ => self.created_at_ms,
        };
        for _ in 0..CALENDAR_SKIPS {
            let Some(calendar) = &self.calendar else {
                return self
                    .schedule
                    .next_after(after, self.tz, anchor)
                    .filter(|slot| self.end_at_ms.is_none_or(|end| *slot <= end));
            };
            // A cron search knows its slot's local time: the calendar need
            // not work it out again.
            let (slot, local) = match &self.schedule {
                Schedule::Cron(cron) => {
                    let (at, local) = cron.next_after_local(
                        DateTime::<Utc>::from_timestamp_millis(after)?,
                        self.tz,
                    )?;
                    (at.timestamp_millis(), local)
                }
                schedule => (schedule.next_after(after, self.tz, anchor)?, None),
            };
            if self.end_at_ms.is_some_and(|end| slot > end) {
                return None;
            }
            // An excluded slot: on from the first time the calendar includes.
            let included = calendar.next_included_from(slot, self.tz, local)?;
            if included == slot {
                return Some(slot);
            }
            after = included - 1;
        }
        None
    }

    /// Whether `slot` is outside every time the calendar excludes.
    pub fn includes(&self, slot: i64) -> bool {
        self.calendar
            .as_ref()
            .is_none_or(|calendar| calendar.includes(slot, self.tz))
    }

    /// Up to `count` slots after `after_ms`, in order (fewer when the task
    /// stops firing).
    pub fn upcoming(&self, after_ms: i64, count: usize) -> Vec<i64> {
        let mut slots = Vec::with_capacity(count.min(1000));
        let mut after = after_ms;
        while slots.len() < count {
            let Some(slot) = self.next_after(after) else {
                break;
            };
            slots.push(slot);
            after = slot;
        }
        slots
    }
}

/// Parses an IANA time zone name (`Europe/Berlin`, `UTC`).
pub fn parse_time_zone(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        format!("time zone `{name}` is not an IANA zone name; write e.g. `UTC`, `Europe/Berlin`, `Asia/Shanghai`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn schedule_kinds_parse_and_display() {
        for text in [
            "0 0/5 * * * ?",
            "every 30s",
            "every 1h30m",
            "at 2026-12-01T10:00:00Z",
            "after 10m",
        ] {
            let schedule: Schedule = text.parse().unwrap();
            assert_eq!(schedule.to_string(), text);
        }
    }

    #[test]
    fn intervals_are_aligned_to_the_epoch() {
        let every: Schedule = "every 30s".parse().unwrap();
        let t = ms("2026-01-01T00:00:10Z");
        assert_eq!(
            every.next_after(t, Tz::UTC, 0),
            Some(ms("2026-01-01T00:00:30Z"))
        );
        assert_eq!(
            every.next_after(ms("2026-01-01T00:00:30Z"), Tz::UTC, 0),
            Some(ms("2026-01-01T00:01:00Z"))
        );
    }

    #[test]
    fn one_shots_fire_once() {
        let at: Schedule = "at 2026-12-01T10:00:00Z".parse().unwrap();
        assert_eq!(
            at.next_after(ms("2026-01-01T00:00:00Z"), Tz::UTC, 0),
            Some(ms("2026-12-01T10:00:00Z"))
        );
        assert_eq!(at.next_after(ms("2026-12-01T10:00:00Z"), Tz::UTC, 0), None);
        let after: Schedule = "after 10m".parse().unwrap();
        let created = ms("2026-01-01T00:00:00Z");
        assert_eq!(
            after.next_after(created, Tz::UTC, created),
            Some(ms("2026-01-01T00:10:00Z"))
        );
        assert_eq!(
            after.next_after(ms("2026-01-01T00:10:00Z"), Tz::UTC, created),
            None
        );
    }

    #[test]
    fn bad_schedules_say_what_is_accepted() {
        let error = |text: &str| text.parse::<Schedule>().unwrap_err().to_string();
        assert_eq!(
            error("every 0s"),
            "schedule `every 0s`: the interval must be at least 1s"
        );
        assert!(error("every soon").contains("not a valid duration"));
        assert!(error("at tomorrow").contains("not an RFC 3339 time"));
        assert!(error("").contains("every 30s"));
        assert_eq!(
            error("0 0 25 * * ?"),
            "cron hours `25`: 25 is out of range 0-23"
        );
        assert!(
            parse_time_zone("Mars/Olympus")
                .unwrap_err()
                .contains("IANA")
        );
        assert_eq!(
            parse_time_zone("Europe/Berlin"),
            Ok(chrono_tz::Europe::Berlin)
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Text shaped like a cron field: numbers, names and every special.
    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9*?,/LW#-]{1,6}",
            "(MON|FRI|JAN|DEC|L|LW|[0-9]{1,3})(-|/|#)?[0-9]{0,3}[LW]?",
            "[A-Z]{1,8}",
        ]
    }

    fn schedule_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            prop::collection::vec(field(), 5..=8).prop_map(|fields| fields.join(" ")),
            "(every|after) [0-9]{1,22}(ms|s|m|h|d)( [0-9]{1,22}s)?",
            "at [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_text_is_a_schedule_or_an_error_naming_the_field(text in schedule_text()) {
            match text.parse::<Schedule>() {
                Ok(_) => {}
                Err(error) => {
                    let message = error.to_string();
                    prop_assert!(
                        message.starts_with("cron ") || message.starts_with("schedule `"),
                        "{message}"
                    );
                }
            }
        }

        #[test]
        fn a_schedule_gives_a_later_slot_or_none_never_a_panic(
            text in schedule_text(),
            after in any::<i64>(),
            anchor in 0..=LATEST_MS,
            start in proptest::option::of(0..=LATEST_MS),
            end in proptest::option::of(0..=LATEST_MS),
        ) {
            if let Ok(schedule) = text.parse::<Schedule>() {
                let timing = TaskTiming {
                    schedule,
                    tz: Tz::Europe__Berlin,
                    created_at_ms: anchor,
                    start_at_ms: start,
                    end_at_ms: end,
                    calendar: None,
                };
                if let Some(slot) = timing.next_after(after) {
                    prop_assert!(slot > after);
                }
            }
        }

        #[test]
        fn misfire_plans_never_panic(
            seconds in 60u64..100_000,
            due in 0..=LATEST_MS,
            lag in 0i64..1_000_000_000,
            threshold in 0i64..=86_400_000,
            catch_up in 1u32..=1000,
        ) {
            let timing = TaskTiming {
                schedule: Schedule::Every(std::time::Duration::from_secs(seconds)),
                tz: Tz::UTC,
                created_at_ms: 0,
                start_at_ms: None,
                end_at_ms: None,
                calendar: None,
            };
            let now = due.saturating_add(lag).min(LATEST_MS);
            let plan = plan_fires(&timing, due, now, threshold, MisfirePolicy::CatchUp(catch_up));
            prop_assert!(plan.fire.iter().all(|slot| *slot <= now));
            prop_assert!(plan.next.is_none_or(|next| next > now));
        }
    }
}
