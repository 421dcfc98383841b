use chrono_tz::Tz;
use proptest::prelude::*;

use super::*;
use crate::schedule::{MisfirePolicy, TaskTiming, plan_fires};

fn ms(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

fn utc(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn row(
    name: &str,
    kind: &str,
    excludes: &str,
    base: Option<&str>,
    zone: Option<&str>,
) -> CalendarRow {
    CalendarRow {
        name: name.into(),
        kind: kind.into(),
        excludes: excludes.into(),
        base: base.map(Into::into),
        time_zone: zone.map(Into::into),
    }
}

fn calendar(rows: &[CalendarRow]) -> Arc<Calendar> {
    Calendars::resolve(rows).get(&rows[0].name).unwrap()
}

fn timing(schedule: &str, tz: Tz, calendar: Option<Arc<Calendar>>) -> TaskTiming {
    TaskTiming {
        schedule: schedule.parse().unwrap(),
        tz,
        created_at_ms: 0,
        start_at_ms: None,
        end_at_ms: None,
        calendar,
    }
}

fn upcoming(timing: &TaskTiming, from: &str, count: usize) -> Vec<String> {
    timing
        .upcoming(ms(from), count)
        .into_iter()
        .map(utc)
        .collect()
}

#[test]
fn a_weekday_task_with_a_holiday_calendar_skips_the_holiday_across_a_dst_change() {
    // Europe/Berlin moves to summer time on Sunday 2027-03-28; Monday the
    // 29th is a holiday here. 09:00 local is 08:00Z before, 07:00Z after.
    let holidays = calendar(&[
        row("holidays", "holiday", "2027-03-29", Some("weekends"), None),
        row("weekends", "weekly", "SAT, SUN", None, None),
    ]);
    let task = timing("0 0 9 * * ?", Tz::Europe__Berlin, Some(holidays));
    assert_eq!(
        upcoming(&task, "2027-03-26T00:00:00Z", 3),
        [
            "2027-03-26T08:00:00Z",
            "2027-03-30T07:00:00Z",
            "2027-03-31T07:00:00Z"
        ]
    );
}

#[test]
fn a_calendar_with_its_own_zone_reads_its_days_there() {
    // 2026-10-01 is a holiday in Shanghai: from 16:00Z on 09-30 to 16:00Z on 10-01.
    let national_day = calendar(&[row(
        "cn",
        "holiday",
        "2026-10-01",
        None,
        Some("Asia/Shanghai"),
    )]);
    let task = timing("0 0 * * * ?", Tz::UTC, Some(national_day));
    assert_eq!(
        upcoming(&task, "2026-09-30T14:30:00Z", 3),
        [
            "2026-09-30T15:00:00Z",
            "2026-10-01T16:00:00Z",
            "2026-10-01T17:00:00Z"
        ]
    );
}

#[test]
fn a_daily_range_is_excluded_and_outside_keeps_only_the_range() {
    let lunch = calendar(&[row("lunch", "daily", "12:00-13:00", None, None)]);
    let task = timing("every 30m", Tz::UTC, Some(lunch));
    assert_eq!(
        upcoming(&task, "2026-05-04T11:15:00Z", 3),
        [
            "2026-05-04T11:30:00Z",
            "2026-05-04T13:00:00Z",
            "2026-05-04T13:30:00Z"
        ]
    );
    let office = calendar(&[row("office", "daily", "outside 08:00-18:00", None, None)]);
    let task = timing("0 0 * * * ?", Tz::UTC, Some(office));
    assert_eq!(
        upcoming(&task, "2026-05-04T16:30:00Z", 3),
        [
            "2026-05-04T17:00:00Z",
            "2026-05-05T08:00:00Z",
            "2026-05-05T09:00:00Z"
        ]
    );
    let night = calendar(&[row("night", "daily", "22:00-06:00", None, None)]);
    let task = timing("0 0 * * * ?", Tz::UTC, Some(night));
    assert_eq!(
        upcoming(&task, "2026-05-04T20:30:00Z", 3),
        [
            "2026-05-04T21:00:00Z",
            "2026-05-05T06:00:00Z",
            "2026-05-05T07:00:00Z"
        ]
    );
}

#[test]
fn a_cron_calendar_excludes_the_times_its_expression_matches() {
    let early = calendar(&[row("early", "cron", "* * 0-7 ? * *", None, None)]);
    let task = timing("every 1h", Tz::UTC, Some(early));
    assert_eq!(
        upcoming(&task, "2026-05-04T22:30:00Z", 3),
        [
            "2026-05-04T23:00:00Z",
            "2026-05-05T08:00:00Z",
            "2026-05-05T09:00:00Z"
        ]
    );
}

#[test]
fn annual_and_monthly_calendars_exclude_their_days() {
    let christmas = calendar(&[row("xmas", "annual", "12-25", None, None)]);
    let task = timing("0 0 12 * * ?", Tz::UTC, Some(christmas));
    assert_eq!(
        upcoming(&task, "2027-12-24T13:00:00Z", 1),
        ["2027-12-26T12:00:00Z"]
    );
    let first = calendar(&[row("firsts", "monthly", "1, 31", None, None)]);
    let task = timing("0 0 12 * * ?", Tz::UTC, Some(first));
    assert_eq!(
        upcoming(&task, "2026-01-30T13:00:00Z", 2),
        ["2026-02-02T12:00:00Z", "2026-02-03T12:00:00Z"]
    );
}

#[test]
fn a_due_slot_the_calendar_now_excludes_is_skipped_not_fired_or_missed() {
    let weekends = calendar(&[row("weekends", "weekly", "SAT,SUN", None, None)]);
    let task = timing("0 0 9 * * ?", Tz::UTC, Some(weekends));
    // Saturday 2026-05-09 09:00 was computed before the calendar said so.
    let due = ms("2026-05-09T09:00:00Z");
    let plan = plan_fires(&task, due, due + 1000, 60_000, MisfirePolicy::FireNow);
    assert!(plan.fire.is_empty());
    assert_eq!(plan.missed, 0);
    assert_eq!(plan.next.map(utc).as_deref(), Some("2026-05-11T09:00:00Z"));
}

#[test]
fn bad_calendars_say_what_is_wrong_and_what_to_write() {
    let error = |kind: &str, excludes: &str| {
        Calendars::resolve(&[row("c", kind, excludes, None, None)])
            .get("c")
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        error("yearly", "12-25"),
        "calendar `c`: calendar kind `yearly` is unknown; write `annual`, `holiday`, `monthly`, `weekly`, `daily` or `cron`"
    );
    assert_eq!(
        error("annual", "25-12"),
        "calendar `c`: `25-12` is not a day of the year; write MM-DD, e.g. `12-25`"
    );
    assert!(error("holiday", "2026-13-01").contains("write dates as YYYY-MM-DD"));
    assert!(error("monthly", "32").contains("not a day of the month (1-31)"));
    assert!(
        error("weekly", "MON,TUE,WED,THU,FRI,SAT,SUN").contains("excludes every day of the week")
    );
    assert!(error("weekly", "FUNDAY").contains("write `MON` … `SUN`"));
    assert!(error("daily", "noon").contains("`outside 08:00-18:00`"));
    assert!(error("daily", "10:00-10:00").contains("empty range"));
    assert!(error("cron", "0 0 25 * * ?").contains("not a cron expression"));
    assert!(error("holiday", " ").contains("`excludes` is empty"));
    let zone = Calendars::resolve(&[row("c", "weekly", "SUN", None, Some("Mars/Base"))]);
    assert!(zone.get("c").unwrap_err().to_string().contains("IANA"));
    assert!(check_name("bad name").is_err());
    assert!(
        Calendars::default()
            .get("nope")
            .unwrap_err()
            .to_string()
            .contains("no such calendar")
    );
}

#[test]
fn bases_that_loop_are_missing_or_broken_are_refused_for_every_calendar_on_them() {
    let looped = Calendars::resolve(&[
        row("a", "weekly", "SUN", Some("b"), None),
        row("b", "weekly", "SAT", Some("a"), None),
    ]);
    assert_eq!(
        looped.get("a").unwrap_err().to_string(),
        "calendar `a`: its bases loop: a → b → a"
    );
    let missing = Calendars::resolve(&[row("a", "weekly", "SUN", Some("gone"), None)]);
    assert!(
        missing
            .get("a")
            .unwrap_err()
            .to_string()
            .contains("its base calendar `gone` does not exist")
    );
    let broken = Calendars::resolve(&[
        row("a", "weekly", "SUN", Some("b"), None),
        row("b", "weekly", "NOPE", None, None),
    ]);
    assert!(
        broken
            .get("a")
            .unwrap_err()
            .to_string()
            .starts_with("calendar `a`: its base calendar `b`:")
    );
}

#[test]
fn a_change_to_a_base_changes_every_calendar_on_it() {
    let before = Calendars::resolve(&[
        row("holidays", "holiday", "2027-01-01", Some("weekends"), None),
        row("weekends", "weekly", "SAT, SUN", None, None),
        row("lunch", "daily", "12:00-13:00", None, None),
    ]);
    let after = Calendars::resolve(&[
        row("holidays", "holiday", "2027-01-01", Some("weekends"), None),
        row("weekends", "weekly", "SUN", None, None),
        row("lunch", "daily", "12:00-13:00", None, None),
        row("new", "monthly", "1", None, None),
    ]);
    assert_eq!(after.changed_from(&before), ["holidays", "new", "weekends"]);
    assert_eq!(before.changed_from(&after), ["holidays", "new", "weekends"]);
    assert!(after.changed_from(&after).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_slot_given_is_later_and_included(
        after in 0i64..4_102_444_800_000,
        kind in 0usize..6,
        every in 1u64..100_000,
    ) {
        let (kind, excludes) = [
            ("annual", "12-25, 01-01, 02-29"),
            ("holiday", "2030-06-01, 2031-01-01"),
            ("monthly", "1, 2, 3, 31"),
            ("weekly", "SAT, SUN"),
            ("daily", "outside 09:00-17:00"),
            ("cron", "* * 0-6 ? * MON-FRI"),
        ][kind];
        let calendar = calendar(&[row("c", kind, excludes, None, Some("America/New_York"))]);
        let task = TaskTiming {
            schedule: Schedule::Every(std::time::Duration::from_secs(every)),
            tz: Tz::Europe__Berlin,
            created_at_ms: 0,
            start_at_ms: None,
            end_at_ms: None,
            calendar: Some(calendar.clone()),
        };
        if let Some(slot) = task.next_after(after) {
            prop_assert!(slot > after);
            prop_assert!(calendar.includes(slot, Tz::Europe__Berlin), "{} excluded", utc(slot));
        }
    }
}

use crate::schedule::Schedule;
