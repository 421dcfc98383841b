//! Quartz cron expressions, parsed and evaluated exactly as Quartz's
//! `CronExpression` reads them:
//!
//! ```text
//! seconds minutes hours day-of-month month day-of-week [year]
//! 0-59    0-59    0-23  1-31 ? L W  1-12   1-7 ? L #   1970-2199
//!                             LW L-n JAN-DEC SUN-SAT
//! ```
//!
//! `*` any, `?` no specific value (day fields only), `,` lists, `-` ranges
//! (wrapping, e.g. `FRI-MON` or `22-2`), `/` increments (`0/15`, `*/5`,
//! `5-40/10`). Day of month: `L` last day, `L-3` three days before it, `15W`
//! the weekday nearest the 15th (never crossing into another month), `LW` the
//! last weekday. Day of week: 1 = SUN … 7 = SAT, `6L` the last Friday, `6#3`
//! the third Friday, `L` alone = SAT. Exactly one of the two day fields must
//! be `?`, as Quartz requires.
//!
//! Time zones: the expression is read in the task's zone. A time that falls in
//! a spring-forward gap fires when the clocks jump (02:30 → 03:00 new time); a
//! time in the repeated hour of a fall-back fires once, on its first
//! occurrence. Pure: no clock reads, time comes in as arguments.

use std::fmt;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

/// The last year Quartz schedules.
pub const MAX_YEAR: i32 = 2199;
const MIN_YEAR: i32 = 1970;

/// What is wrong with a cron expression: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} `{value}`: {reason}")]
pub struct CronError {
    /// The field name (`seconds`, `day-of-month`, …) or `expression`.
    pub field: &'static str,
    /// The field's text.
    pub value: String,
    /// What is wrong and what would be right.
    pub reason: String,
}

/// A parsed Quartz cron expression.
#[derive(Clone, PartialEq, Eq)]
pub struct CronExpr {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: Days,
    months: u64,
    years: Option<Vec<u64>>,
    text: String,
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronExpr({:?})", self.text)
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Days {
    OfMonth(DayOfMonth),
    OfWeek(DayOfWeek),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfMonth {
    /// Bits 1..=31.
    List(u64),
    /// `L` (offset 0) or `L-n`.
    Last(u32),
    /// `nW`.
    NearestWeekday(u32),
    /// `LW`.
    LastWeekday,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfWeek {
    /// Bits 1..=7, 1 = Sunday.
    List(u64),
    /// `nL`: the last such weekday of the month.
    Last(u32),
    /// `n#k`: the k-th such weekday of the month.
    Nth(u32, u32),
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECONDS: Field = Field {
    name: "seconds",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTES: Field = Field {
    name: "minutes",
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Field = Field {
    name: "hours",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: Field = Field {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &MONTHS,
};
const DAY_OF_WEEK: Field = Field {
    name: "day-of-week",
    min: 1,
    max: 7,
    names: &WEEKDAYS,
};
const YEAR: Field = Field {
    name: "year",
    min: MIN_YEAR as u32,
    max: MAX_YEAR as u32,
    names: &[],
};

impl Field {
    fn error(&self, value: &str, reason: impl Into<String>) -> CronError {
        CronError {
            field: self.name,
            value: value.to_owned(),
            reason: reason.into(),
        }
    }

    fn value(&self, whole: &str, text: &str) -> Result<u32, CronError> {
        let upper = text.to_ascii_uppercase();
        if let Some(index) = self.names.iter().position(|name| *name == upper) {
            return Ok(self.min + index as u32);
        }
        let value: u32 = text.parse().map_err(|_| {
            let names = if self.names.is_empty() {
                String::new()
            } else {
                format!(
                    " or a name ({}-{})",
                    self.names[0],
                    self.names[self.names.len() - 1]
                )
            };
            self.error(whole, format!("`{text}` is not a number{names}"))
        })?;
        if value < self.min || value > self.max {
            return Err(self.error(
                whole,
                format!("{value} is out of range {}-{}", self.min, self.max),
            ));
        }
        Ok(value)
    }

    /// `*`, lists, ranges (wrapping past the maximum), increments. Bit `v`
    /// (offset by `min` for years) is set for each value.
    fn parse_set(&self, text: &str) -> Result<Vec<u32>, CronError> {
        let mut values = Vec::new();
        for item in text.split(',') {
            if item.is_empty() {
                return Err(self.error(text, "empty list item"));
            }
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => {
                    let step: u32 = step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        self.error(
                            text,
                            format!("increment `{step}` must be a positive number"),
                        )
                    })?;
                    (range, Some(step))
                }
                None => (item, None),
            };
            let (start, end) = match range {
                "*" | "" => (self.min, self.max),
                _ => match range.split_once('-') {
                    Some((a, b)) => (self.value(text, a)?, self.value(text, b)?),
                    // `a/n` runs from a to the maximum; a lone `a` is just a.
                    None => {
                        let a = self.value(text, range)?;
                        (a, if step.is_some() { self.max } else { a })
                    }
                },
            };
            let span = self.max - self.min + 1;
            let length = if end >= start {
                end - start
            } else {
                end + span - start
            };
            let step = step.unwrap_or(1);
            let mut offset = 0;
            while offset <= length {
                let mut value = start + offset;
                if value > self.max {
                    value -= span;
                }
                values.push(value);
                offset += step;
            }
        }
        Ok(values)
    }

    fn parse_mask(&self, text: &str) -> Result<u64, CronError> {
        Ok(self
            .parse_set(text)?
            .into_iter()
            .fold(0, |mask, v| mask | 1 << v))
    }
}

impl CronExpr {
    /// Parses a Quartz cron expression (6 or 7 fields).
    pub fn parse(text: &str) -> Result<Self, CronError> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if !(6..=7).contains(&fields.len()) {
            return Err(CronError {
                field: "expression",
                value: text.to_owned(),
                reason: format!(
                    "has {} fields; a Quartz cron expression has 6 or 7: seconds minutes hours day-of-month month day-of-week [year], e.g. `0 0/5 * * * ?`",
                    fields.len()
                ),
            });
        }
        let seconds = SECONDS.parse_mask(fields[0])?;
        let minutes = MINUTES.parse_mask(fields[1])?;
        let hours = HOURS.parse_mask(fields[2])?;
        let months = MONTH.parse_mask(fields[4])?;
        let days = match (fields[3], fields[5]) {
            ("?", "?") => {
                return Err(DAY_OF_WEEK.error(
                    "?",
                    "day-of-month and day-of-week cannot both be `?`; set one of them",
                ));
            }
            (dom, "?") => Days::OfMonth(parse_day_of_month(dom)?),
            ("?", dow) => Days::OfWeek(parse_day_of_week(dow)?),
            (_, dow) => {
                return Err(DAY_OF_WEEK.error(
                    dow,
                    "Quartz needs `?` in day-of-month or day-of-week; one of them must be `?`",
                ));
            }
        };
        let years = match fields.get(6) {
            None | Some(&"*") => None,
            Some(text) => {
                let mut bits = vec![0u64; (MAX_YEAR - MIN_YEAR) as usize / 64 + 1];
                for year in YEAR.parse_set(text)? {
                    let index = (year as i32 - MIN_YEAR) as usize;
                    bits[index / 64] |= 1 << (index % 64);
                }
                Some(bits)
            }
        };
        Ok(Self {
            seconds,
            minutes,
            hours,
            days,
            months,
            years,
            text: fields.join(" "),
        })
    }

    /// The first fire time strictly after `after`, reading the expression in
    /// time zone `tz`; `None` if it never fires again (up to year 2199).
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let mut from = after
            .with_timezone(&tz)
            .naive_local()
            .with_nanosecond_zero();
        loop {
            let candidate = self.next_local_at_or_after(from)?;
            let instant = resolve_local(candidate, tz)?;
            if instant > after {
                return Some(instant);
            }
            from = candidate + Duration::seconds(1);
        }
    }

    /// The first local time at or after `from` that matches every field.
    fn next_local_at_or_after(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut date = from.date();
        let mut time = Some(from.time());
        while date.year() <= MAX_YEAR {
            if !self.year_matches(date.year()) {
                date = NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)?;
                time = None;
                continue;
            }
            if self.months & (1 << date.month()) == 0 {
                date = first_of_next_month(date)?;
                time = None;
                continue;
            }
            let days = self.day_mask(date.year(), date.month()) >> date.day();
            if days == 0 {
                date = first_of_next_month(date)?;
                time = None;
                continue;
            }
            let skip = days.trailing_zeros();
            if skip > 0 {
                date += Duration::days(i64::from(skip));
                time = None;
            }
            let (h, m, s) = time
                .map(|t| (t.hour(), t.minute(), t.second()))
                .unwrap_or((0, 0, 0));
            if let Some(found) = self.first_time_at_or_after(h, m, s) {
                return Some(date.and_time(found));
            }
            date = date.succ_opt()?;
            time = None;
        }
        None
    }

    fn year_matches(&self, year: i32) -> bool {
        match &self.years {
            None => (MIN_YEAR..=MAX_YEAR).contains(&year),
            Some(bits) => {
                let index = year - MIN_YEAR;
                (0..=MAX_YEAR - MIN_YEAR).contains(&index)
                    && bits[index as usize / 64] & (1 << (index as usize % 64)) != 0
            }
        }
    }

    fn first_time_at_or_after(&self, hour: u32, minute: u32, second: u32) -> Option<NaiveTime> {
        let mut h = next_bit(self.hours, hour)?;
        loop {
            let first_minute = if h == hour { minute } else { 0 };
            let mut m = next_bit(self.minutes, first_minute);
            while let Some(minute_found) = m {
                let first_second = if h == hour && minute_found == minute {
                    second
                } else {
                    0
                };
                if let Some(s) = next_bit(self.seconds, first_second) {
                    return NaiveTime::from_hms_opt(h, minute_found, s);
                }
                m = next_bit(self.minutes, minute_found + 1);
            }
            h = next_bit(self.hours, h + 1)?;
        }
    }

    /// Bits 1..=31 of the days of `year`-`month` the day fields allow.
    fn day_mask(&self, year: i32, month: u32) -> u64 {
        let last = days_in_month(year, month);
        let valid = ((1u64 << (last + 1)) - 1) & !1;
        // 1 = Sunday … 7 = Saturday, as Quartz numbers them.
        let weekday_of = |day: u32| -> u32 {
            NaiveDate::from_ymd_opt(year, month, day)
                .map(|d| d.weekday().num_days_from_sunday() + 1)
                .unwrap_or(0)
        };
        match &self.days {
            Days::OfMonth(DayOfMonth::List(mask)) => mask & valid,
            Days::OfMonth(DayOfMonth::Last(offset)) => match last.checked_sub(*offset) {
                Some(day) if day >= 1 => 1 << day,
                _ => 0,
            },
            Days::OfMonth(DayOfMonth::NearestWeekday(day)) => {
                if *day > last {
                    return 0;
                }
                let nearest = match weekday_of(*day) {
                    7 if *day == 1 => 3,
                    7 => day - 1,
                    1 if *day == last => day - 2,
                    1 => day + 1,
                    _ => *day,
                };
                1 << nearest
            }
            Days::OfMonth(DayOfMonth::LastWeekday) => {
                let day = match weekday_of(last) {
                    7 => last - 1,
                    1 => last - 2,
                    _ => last,
                };
                1 << day
            }
            Days::OfWeek(rule) => {
                let first = weekday_of(1);
                let weekday = |day: u32| (first - 1 + day - 1) % 7 + 1;
                match rule {
                    DayOfWeek::List(mask) => (1..=last)
                        .filter(|day| mask & (1 << weekday(*day)) != 0)
                        .fold(0, |acc, day| acc | 1 << day),
                    DayOfWeek::Last(dow) => (1..=last)
                        .rev()
                        .find(|day| weekday(*day) == *dow)
                        .map_or(0, |day| 1 << day),
                    DayOfWeek::Nth(dow, nth) => {
                        let first_match = (1..=7).find(|day| weekday(*day) == *dow).unwrap_or(1);
                        let day = first_match + 7 * (nth - 1);
                        if day <= last { 1 << day } else { 0 }
                    }
                }
            }
        }
    }
}

fn parse_day_of_month(text: &str) -> Result<DayOfMonth, CronError> {
    let upper = text.to_ascii_uppercase();
    let special = upper.contains('L') || upper.contains('W');
    if special && upper.contains(',') {
        return Err(DAY_OF_MONTH.error(text, "`L` and `W` cannot be combined with a list"));
    }
    if upper == "L" {
        return Ok(DayOfMonth::Last(0));
    }
    if upper == "LW" {
        return Ok(DayOfMonth::LastWeekday);
    }
    if let Some(offset) = upper.strip_prefix("L-") {
        let offset: u32 =
            offset.parse().ok().filter(|n| *n <= 30).ok_or_else(|| {
                DAY_OF_MONTH.error(text, "`L-n` needs a number of days from 0 to 30")
            })?;
        return Ok(DayOfMonth::Last(offset));
    }
    if let Some(day) = upper.strip_suffix('W') {
        let day = DAY_OF_MONTH.value(text, day)?;
        return Ok(DayOfMonth::NearestWeekday(day));
    }
    if special {
        return Err(DAY_OF_MONTH.error(text, "use `L`, `L-n`, `LW` or `nW` (e.g. `15W`)"));
    }
    Ok(DayOfMonth::List(DAY_OF_MONTH.parse_mask(text)?))
}

fn parse_day_of_week(text: &str) -> Result<DayOfWeek, CronError> {
    let upper = text.to_ascii_uppercase();
    if (upper.contains('#') || upper.contains('L')) && upper.contains(',') {
        return Err(DAY_OF_WEEK.error(text, "`L` and `#` cannot be combined with a list"));
    }
    if upper == "L" {
        return Ok(DayOfWeek::List(1 << 7));
    }
    if let Some(day) = upper.strip_suffix('L') {
        return Ok(DayOfWeek::Last(DAY_OF_WEEK.value(text, day)?));
    }
    if let Some((day, nth)) = upper.split_once('#') {
        let day = DAY_OF_WEEK.value(text, day)?;
        let nth: u32 = nth
            .parse()
            .ok()
            .filter(|n| (1..=5).contains(n))
            .ok_or_else(|| DAY_OF_WEEK.error(text, "the number after `#` must be 1 to 5"))?;
        return Ok(DayOfWeek::Nth(day, nth));
    }
    Ok(DayOfWeek::List(DAY_OF_WEEK.parse_mask(text)?))
}

/// The lowest set bit of `mask` at or above `from`.
fn next_bit(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = mask >> from;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    next.and_then(|d| d.pred_opt()).map_or(28, |d| d.day())
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    if date.month() == 12 {
        NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)
    }
}

/// The instant of a local time: the earlier one when the time occurs twice,
/// the moment the clocks jump when it falls in a gap.
fn resolve_local(local: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    if let Some(instant) = tz.from_local_datetime(&local).earliest() {
        return Some(instant.with_timezone(&Utc));
    }
    // In a gap: the first valid local minute after it is where the jump lands.
    let mut probe = local.with_second_zero();
    for _ in 0..(48 * 60) {
        probe += Duration::minutes(1);
        if let Some(instant) = tz.from_local_datetime(&probe).earliest() {
            return Some(instant.with_timezone(&Utc));
        }
    }
    None
}

trait Truncate {
    fn with_nanosecond_zero(self) -> Self;
    fn with_second_zero(self) -> Self;
}

impl Truncate for NaiveDateTime {
    fn with_nanosecond_zero(self) -> Self {
        self.with_nanosecond(0).unwrap_or(self)
    }

    fn with_second_zero(self) -> Self {
        self.with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(self)
    }
}

#[cfg(test)]
mod tests;
