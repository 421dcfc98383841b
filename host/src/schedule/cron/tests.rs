//! Quartz semantics, case by case. Expected times were worked out by hand from
//! Quartz's documentation (the CronTrigger tutorial's examples) and a calendar.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::CronExpr;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn next_n(expr: &str, from: &str, tz: &str, n: usize) -> Vec<String> {
    let cron = CronExpr::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    let tz: Tz = tz.parse().unwrap();
    let mut after = at(from);
    let mut out = Vec::new();
    for _ in 0..n {
        match cron.next_after(after, tz) {
            Some(next) => {
                out.push(next.format("%Y-%m-%dT%H:%M:%SZ").to_string());
                after = next;
            }
            None => break,
        }
    }
    out
}

fn utc(expr: &str, from: &str, n: usize) -> Vec<String> {
    next_n(expr, from, "UTC", n)
}

#[test]
fn every_day_at_noon() {
    assert_eq!(
        utc("0 0 12 * * ?", "2026-01-30T12:00:00Z", 3),
        [
            "2026-01-31T12:00:00Z",
            "2026-02-01T12:00:00Z",
            "2026-02-02T12:00:00Z"
        ]
    );
}

#[test]
fn next_is_strictly_after_and_ignores_subseconds() {
    assert_eq!(
        utc("* * * ? * *", "2026-01-01T00:00:00.500Z", 2),
        ["2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"]
    );
    assert_eq!(
        utc("0/15 * * * * ?", "2026-01-01T00:00:14Z", 2),
        ["2026-01-01T00:00:15Z", "2026-01-01T00:00:30Z"]
    );
}

#[test]
fn lists_ranges_and_increments() {
    assert_eq!(
        utc("0 0/5 14,18 * * ?", "2026-03-01T14:50:00Z", 3),
        [
            "2026-03-01T14:55:00Z",
            "2026-03-01T18:00:00Z",
            "2026-03-01T18:05:00Z"
        ]
    );
    assert_eq!(
        utc("0 0-2 14 * * ?", "2026-03-01T00:00:00Z", 4),
        [
            "2026-03-01T14:00:00Z",
            "2026-03-01T14:01:00Z",
            "2026-03-01T14:02:00Z",
            "2026-03-02T14:00:00Z"
        ]
    );
    assert_eq!(
        utc("0 5-40/10 * * * ?", "2026-03-01T00:00:00Z", 5),
        [
            "2026-03-01T00:05:00Z",
            "2026-03-01T00:15:00Z",
            "2026-03-01T00:25:00Z",
            "2026-03-01T00:35:00Z",
            "2026-03-01T01:05:00Z"
        ]
    );
    assert_eq!(
        utc("0 0 12 1/5 * ?", "2026-01-26T13:00:00Z", 3),
        [
            "2026-01-31T12:00:00Z",
            "2026-02-01T12:00:00Z",
            "2026-02-06T12:00:00Z"
        ]
    );
}

#[test]
fn names_are_case_insensitive() {
    // March 2026: Wednesdays are the 4th, 11th, 18th, 25th.
    assert_eq!(
        utc("0 10,44 14 ? mar WED", "2026-01-01T00:00:00Z", 3),
        [
            "2026-03-04T14:10:00Z",
            "2026-03-04T14:44:00Z",
            "2026-03-11T14:10:00Z"
        ]
    );
}

#[test]
fn quartz_weekday_numbering_is_one_for_sunday() {
    // 2026-03-01 is a Sunday.
    assert_eq!(
        utc("0 0 0 ? * 1", "2026-02-27T00:00:00Z", 1),
        ["2026-03-01T00:00:00Z"]
    );
    assert_eq!(
        utc("0 0 0 ? * 7", "2026-02-27T00:00:00Z", 1),
        ["2026-02-28T00:00:00Z"]
    );
    assert_eq!(
        utc("0 0 0 ? * L", "2026-02-27T00:00:00Z", 1),
        ["2026-02-28T00:00:00Z"],
        "`L` alone is Saturday"
    );
    assert_eq!(
        utc("0 15 10 ? * MON-FRI", "2026-02-27T11:00:00Z", 2),
        ["2026-03-02T10:15:00Z", "2026-03-03T10:15:00Z"]
    );
}

#[test]
fn ranges_wrap_around() {
    assert_eq!(
        utc("0 0 22-1 * * ?", "2026-01-01T21:00:00Z", 4),
        [
            "2026-01-01T22:00:00Z",
            "2026-01-01T23:00:00Z",
            "2026-01-02T00:00:00Z",
            "2026-01-02T01:00:00Z"
        ]
    );
    // Fri 2026-03-06, Sat 7, Sun 8, Mon 9, then Fri 13.
    assert_eq!(
        utc("0 0 0 ? * FRI-MON", "2026-03-05T00:00:00Z", 5),
        [
            "2026-03-06T00:00:00Z",
            "2026-03-07T00:00:00Z",
            "2026-03-08T00:00:00Z",
            "2026-03-09T00:00:00Z",
            "2026-03-13T00:00:00Z"
        ]
    );
}

#[test]
fn last_day_of_month_and_offsets() {
    assert_eq!(
        utc("0 15 10 L * ?", "2028-01-31T11:00:00Z", 3),
        [
            "2028-02-29T10:15:00Z",
            "2028-03-31T10:15:00Z",
            "2028-04-30T10:15:00Z"
        ]
    );
    assert_eq!(
        utc("0 15 10 L-2 * ?", "2026-02-01T00:00:00Z", 2),
        ["2026-02-26T10:15:00Z", "2026-03-29T10:15:00Z"]
    );
}

#[test]
fn nearest_weekday_never_leaves_the_month() {
    // 2026-02-15 is a Sunday → Monday 16th. 2026-03-15 is a Sunday → 16th.
    // 2026-08-15 is a Saturday → Friday 14th.
    assert_eq!(
        utc("0 0 0 15W 2,8 ?", "2026-01-01T00:00:00Z", 2),
        ["2026-02-16T00:00:00Z", "2026-08-14T00:00:00Z"]
    );
    // 2026-08-01 is a Saturday: 1W is Monday the 3rd, not Friday July 31st.
    assert_eq!(
        utc("0 0 0 1W 8 ?", "2026-01-01T00:00:00Z", 1),
        ["2026-08-03T00:00:00Z"]
    );
    // 2026-05-31 is a Sunday: 31W is Friday the 29th.
    assert_eq!(
        utc("0 0 0 31W 5 ?", "2026-01-01T00:00:00Z", 1),
        ["2026-05-29T00:00:00Z"]
    );
    // 31W in a 30-day month does not fire.
    assert_eq!(
        utc("0 0 0 31W 4 ? 2026", "2026-01-01T00:00:00Z", 1),
        Vec::<String>::new()
    );
}

#[test]
fn last_weekday_of_month() {
    // 2026-01-31 Saturday → Friday 30th; 2026-05-31 Sunday → Friday 29th; 2026-06-30 Tuesday.
    assert_eq!(
        utc("0 0 18 LW 1,5,6 ?", "2026-01-01T00:00:00Z", 3),
        [
            "2026-01-30T18:00:00Z",
            "2026-05-29T18:00:00Z",
            "2026-06-30T18:00:00Z"
        ]
    );
}

#[test]
fn last_and_nth_weekday_of_month() {
    // Last Friday: 2026-01-30, 2026-02-27. Third Friday: 2026-01-16, 2026-02-20.
    assert_eq!(
        utc("0 15 10 ? * 6L", "2026-01-01T00:00:00Z", 2),
        ["2026-01-30T10:15:00Z", "2026-02-27T10:15:00Z"]
    );
    assert_eq!(
        utc("0 15 10 ? * 6#3", "2026-01-01T00:00:00Z", 2),
        ["2026-01-16T10:15:00Z", "2026-02-20T10:15:00Z"]
    );
    assert_eq!(
        utc("0 15 10 ? * FRI#3", "2026-01-01T00:00:00Z", 1),
        ["2026-01-16T10:15:00Z"]
    );
    // A fifth Monday exists only in some months: 2026-03-30, then 2026-06-29.
    assert_eq!(
        utc("0 0 0 ? * 2#5", "2026-03-01T00:00:00Z", 2),
        ["2026-03-30T00:00:00Z", "2026-06-29T00:00:00Z"]
    );
}

#[test]
fn years_restrict_and_end_the_schedule() {
    assert_eq!(
        utc("0 11 11 11 11 ? 2027/2", "2026-01-01T00:00:00Z", 3),
        [
            "2027-11-11T11:11:00Z",
            "2029-11-11T11:11:00Z",
            "2031-11-11T11:11:00Z"
        ]
    );
    assert_eq!(
        utc("0 15 10 * * ? 2005", "2026-01-01T00:00:00Z", 1),
        Vec::<String>::new()
    );
    assert_eq!(
        utc("0 0 0 1 1 ? 2199", "2198-06-01T00:00:00Z", 2),
        ["2199-01-01T00:00:00Z"]
    );
}

#[test]
fn expressions_that_never_fire_say_so() {
    assert_eq!(
        utc("0 0 0 30 2 ?", "2026-01-01T00:00:00Z", 1),
        Vec::<String>::new()
    );
    // February 2027 has no fifth Monday.
    assert_eq!(
        utc("0 0 0 ? 2 2#5 2027", "2026-01-01T00:00:00Z", 1),
        Vec::<String>::new()
    );
}

#[test]
fn time_zones_apply_with_the_zone_offset() {
    // 09:00 in Shanghai (UTC+8, no DST) is 01:00 UTC.
    assert_eq!(
        next_n("0 0 9 * * ?", "2026-06-01T00:00:00Z", "Asia/Shanghai", 1),
        ["2026-06-01T01:00:00Z"]
    );
}

#[test]
fn a_time_in_the_spring_forward_gap_fires_when_clocks_jump() {
    // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    assert_eq!(
        next_n(
            "0 30 2 * * ?",
            "2026-03-07T00:00:00Z",
            "America/New_York",
            3
        ),
        [
            "2026-03-07T07:30:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-09T06:30:00Z"
        ]
    );
}

#[test]
fn a_time_in_the_repeated_hour_fires_once() {
    // New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST.
    assert_eq!(
        next_n(
            "0 30 1 * * ?",
            "2026-10-31T00:00:00Z",
            "America/New_York",
            3
        ),
        [
            "2026-10-31T05:30:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-02T06:30:00Z"
        ]
    );
    // Hourly: 00:00 EDT, 01:00 EDT, (01:00 EST skipped), 02:00 EST.
    assert_eq!(
        next_n("0 0 * * * ?", "2026-11-01T03:30:00Z", "America/New_York", 3),
        [
            "2026-11-01T04:00:00Z",
            "2026-11-01T05:00:00Z",
            "2026-11-01T07:00:00Z"
        ]
    );
}

fn error(expr: &str) -> String {
    CronExpr::parse(expr).unwrap_err().to_string()
}

#[test]
fn bad_expressions_name_the_field_and_the_reason() {
    assert!(
        error("0 0 12 * *").starts_with("expression `0 0 12 * *`: has 5 fields"),
        "{}",
        error("0 0 12 * *")
    );
    assert_eq!(error("0 0 25 * * ?"), "hours `25`: 25 is out of range 0-23");
    assert_eq!(
        error("0 60 0 * * ?"),
        "minutes `60`: 60 is out of range 0-59"
    );
    assert_eq!(
        error("0 0 0 32 * ?"),
        "day-of-month `32`: 32 is out of range 1-31"
    );
    assert_eq!(
        error("0 0 0 ? * 8"),
        "day-of-week `8`: 8 is out of range 1-7"
    );
    assert_eq!(
        error("0 0 0 ? FOO *"),
        "month `FOO`: `FOO` is not a month (JAN-DEC)"
    );
    assert_eq!(
        error("0 0 0 ? * 6#6"),
        "day-of-week `6#6`: the number after `#` must be 1 to 5"
    );
    assert_eq!(
        error("0 0 /24 ? * 2-6"),
        "hours `/24`: increment 24 is larger than the field's range (at most 23)"
    );
    assert_eq!(
        error("0 0 0 L,5 * ?"),
        "day-of-month `L,5`: `L` and `LW` cannot be combined with other days"
    );
    assert_eq!(
        error("L 0 0 ? * *"),
        "seconds `L`: gives no value; write a number, a range, a list or `*`"
    );
}

#[test]
fn quartzs_leniencies_are_kept() {
    // An increment of 0 is the start value alone; empty list items are
    // skipped; names are read by their first three letters; years are not
    // range-checked; tokens after the year are ignored.
    assert_eq!(
        utc("0 0/0 0 * * ?", "2026-01-01T00:00:00Z", 2),
        ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]
    );
    assert_eq!(
        utc("0 0 0 1,,3 * ?", "2026-01-01T00:00:00Z", 2),
        ["2026-01-03T00:00:00Z", "2026-02-01T00:00:00Z"]
    );
    assert_eq!(
        utc("0 0 12 ? * MONDAY", "2026-01-01T00:00:00Z", 1),
        ["2026-01-05T12:00:00Z"]
    );
    assert_eq!(
        utc("0 0 0 ? * * 1969", "2026-01-01T00:00:00Z", 1),
        Vec::<String>::new()
    );
    assert_eq!(
        utc("0 0 0 1 1 ? 2030 extra tokens", "2026-01-01T00:00:00Z", 1),
        ["2030-01-01T00:00:00Z"]
    );
}

#[test]
fn exactly_one_day_field_must_be_a_question_mark_as_in_quartz() {
    assert!(
        error("* * * * * *").contains("one of them must be `?`"),
        "{}",
        error("* * * * * *")
    );
    assert!(error("0 0 0 1 * MON").contains("one of them must be `?`"));
    assert!(error("0 0 0 ? * ?").contains("cannot both be `?`"));
}

/// Found by the `schedule` fuzz target: the text shown was split on any
/// whitespace (a form feed too), Quartz splits fields on spaces and tabs
/// only, so the text shown read back as another expression.
#[test]
fn the_text_shown_reads_back_as_the_same_expression() {
    let cron = CronExpr::parse("0 0\x0c\x01 12 * * ?").unwrap();
    let shown = cron.to_string();
    assert_eq!(CronExpr::parse(&shown).unwrap(), cron, "{shown:?}");
    assert_eq!(
        CronExpr::parse(" 0\t0  12 * * ? ").unwrap().to_string(),
        "0 0 12 * * ?"
    );
}
