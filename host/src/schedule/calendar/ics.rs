//! Reading the dates of an iCalendar (`.ics`) file, for a holiday calendar:
//! each event's days (an all-day event's from its start up to its end, a
//! timed event's start date). Recurring events are counted, not expanded:
//! holiday feeds list each year's dates as events of their own.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use icalendar::{CalendarDateTime, Component as _, DatePerhapsTime};

/// Days one event may cover at most.
const MAX_EVENT_DAYS: i64 = 366;

/// What an `.ics` file gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IcsDates {
    /// The days its events cover.
    pub dates: BTreeSet<NaiveDate>,
    /// Events read.
    pub events: usize,
    /// Events with an `RRULE`: only their first date is taken.
    pub recurring: usize,
    /// Events without a start date, left out.
    pub undated: usize,
}

/// The days of every event in `text`, an iCalendar file.
pub fn dates_of_ics(text: &str) -> Result<IcsDates, String> {
    if !text.trim_start().starts_with("BEGIN:VCALENDAR") {
        return Err("this is not an iCalendar file: it does not start with BEGIN:VCALENDAR".into());
    }
    let calendar: icalendar::Calendar = text
        .parse()
        .map_err(|error| format!("the iCalendar file does not parse: {error}"))?;
    let mut found = IcsDates::default();
    for event in calendar.events() {
        found.events += 1;
        if event.property_value("RRULE").is_some() {
            found.recurring += 1;
        }
        let Some(start) = event.get_start().and_then(|start| date_of(&start)) else {
            found.undated += 1;
            continue;
        };
        let end = match event.get_end() {
            Some(DatePerhapsTime::Date(end)) if end > start => end,
            _ => start.succ_opt().unwrap_or(start),
        };
        let mut day = start;
        for _ in 0..MAX_EVENT_DAYS {
            found.dates.insert(day);
            match day.succ_opt() {
                Some(next) if next < end => day = next,
                _ => break,
            }
        }
    }
    Ok(found)
}

fn date_of(start: &DatePerhapsTime) -> Option<NaiveDate> {
    match start {
        DatePerhapsTime::Date(date) => Some(*date),
        DatePerhapsTime::DateTime(CalendarDateTime::Floating(time)) => Some(time.date()),
        DatePerhapsTime::DateTime(CalendarDateTime::Utc(time)) => Some(time.date_naive()),
        DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, .. }) => {
            Some(date_time.date())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEED: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
BEGIN:VEVENT\r\nUID:1\r\nDTSTART;VALUE=DATE:20261225\r\nDTEND;VALUE=DATE:20261227\r\nSUMMARY:Christmas\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:2\r\nDTSTART;VALUE=DATE:20270101\r\nSUMMARY:New Year\r\nRRULE:FREQ=YEARLY\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:3\r\nDTSTART:20270405T090000Z\r\nDTEND:20270405T100000Z\r\nSUMMARY:Meeting\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:4\r\nSUMMARY:No date\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn an_ics_feed_gives_the_days_of_its_events() {
        let found = dates_of_ics(FEED).unwrap();
        assert_eq!(
            found.dates.into_iter().collect::<Vec<_>>(),
            vec![
                date("2026-12-25"),
                date("2026-12-26"),
                date("2027-01-01"),
                date("2027-04-05")
            ]
        );
        assert_eq!((found.events, found.recurring, found.undated), (4, 1, 1));
    }

    #[test]
    fn text_that_is_not_icalendar_is_refused() {
        assert!(
            dates_of_ics("hello")
                .unwrap_err()
                .contains("BEGIN:VCALENDAR")
        );
        assert!(dates_of_ics("").is_err());
    }
}
