//! Calendars: named sets of times a task does not fire in, Quartz's kinds
//! (annual, holiday, monthly, weekly, daily, cron), each read in a time zone
//! (its own, else the task's) and optionally narrowed further by a base
//! calendar, as Quartz composes them: a time is included only when the
//! calendar and every base under it include it. A task's `calendar` column
//! names one; its slots that fall in an excluded time are skipped, not
//! missed. Pure: the rows come in from the store, times as arguments.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
    Weekday,
};
use chrono_tz::Tz;

use super::cron::{CronExpr, resolve_local};

pub mod ics;
use super::parse_time_zone;

/// Bases under a calendar at most: a deeper chain is refused.
pub const MAX_BASE_DEPTH: usize = 8;

/// Days an exclusion of whole days is searched for an included one.
const DAYS_SEARCHED: i64 = 366 * 8;

/// Steps (of a second, a minute or an hour) a cron exclusion is searched
/// through per call; a longer excluded stretch is crossed in several calls.
const CRON_STEPS: usize = 3600;

/// The kinds of calendar, as Quartz names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CalendarKind {
    /// Days of every year (`12-25, 01-01`).
    Annual,
    /// Dates (`2026-12-25, 2027-01-01`).
    Holiday,
    /// Days of every month (`1, 15, 31`).
    Monthly,
    /// Days of the week (`SAT, SUN`).
    Weekly,
    /// A time range of every day (`12:00-13:00`), or everything outside it
    /// (`outside 08:00-18:00`).
    Daily,
    /// Times matching a Quartz cron expression (`* * 0-7 ? * MON-FRI`).
    Cron,
}

impl CalendarKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [CalendarKind; 6] = [
        CalendarKind::Annual,
        CalendarKind::Holiday,
        CalendarKind::Monthly,
        CalendarKind::Weekly,
        CalendarKind::Daily,
        CalendarKind::Cron,
    ];

    /// The text of the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            CalendarKind::Annual => "annual",
            CalendarKind::Holiday => "holiday",
            CalendarKind::Monthly => "monthly",
            CalendarKind::Weekly => "weekly",
            CalendarKind::Daily => "daily",
            CalendarKind::Cron => "cron",
        }
    }

    /// An example of what the `excludes` column holds for this kind.
    pub fn example(self) -> &'static str {
        match self {
            CalendarKind::Annual => "12-25, 01-01",
            CalendarKind::Holiday => "2026-12-25, 2027-01-01",
            CalendarKind::Monthly => "1, 15, 31",
            CalendarKind::Weekly => "SAT, SUN",
            CalendarKind::Daily => "12:00-13:00 (or `outside 08:00-18:00`)",
            CalendarKind::Cron => "* * 0-7 ? * MON-FRI",
        }
    }
}

impl fmt::Display for CalendarKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CalendarKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                format!("calendar kind `{text}` is unknown; write `annual`, `holiday`, `monthly`, `weekly`, `daily` or `cron`")
            })
    }
}

/// What a calendar excludes, parsed from its `excludes` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exclusion {
    /// (month, day) pairs excluded every year.
    Annual(BTreeSet<(u32, u32)>),
    /// Dates excluded.
    Holiday(BTreeSet<NaiveDate>),
    /// Days of the month excluded: index 1..=31.
    Monthly([bool; 32]),
    /// Days of the week excluded, Monday first.
    Weekly([bool; 7]),
    /// Times of day excluded: `[from, to)`, over midnight when `to <= from`;
    /// with `outside`, everything but that range.
    Daily {
        /// Start of the range.
        from: NaiveTime,
        /// End of the range, not in it.
        to: NaiveTime,
        /// The range is the only time included.
        outside: bool,
    },
    /// Times (whole seconds) matching the expression.
    Cron(Box<CronExpr>),
}

/// A calendar row that does not check out: names the column and what is
/// accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("calendar `{name}`: {reason}")]
pub struct CalendarError {
    /// The calendar.
    pub name: String,
    /// The column at fault (`name`, `kind`, `excludes`, `base`, `time_zone`).
    pub column: &'static str,
    /// What is wrong and what to write instead.
    pub reason: String,
}

impl Exclusion {
    /// Parses the `excludes` text of a calendar of `kind`.
    pub fn parse(kind: CalendarKind, text: &str) -> Result<Self, String> {
        let items = || {
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
        };
        let none_given = || {
            format!(
                "`excludes` is empty; a {kind} calendar lists what it excludes, e.g. `{}`",
                kind.example()
            )
        };
        match kind {
            CalendarKind::Annual => {
                let mut days = BTreeSet::new();
                for item in items() {
                    days.insert(parse_month_day(item)?);
                }
                if days.is_empty() {
                    return Err(none_given());
                }
                Ok(Exclusion::Annual(days))
            }
            CalendarKind::Holiday => {
                let mut dates = BTreeSet::new();
                for item in items() {
                    let date = NaiveDate::parse_from_str(item, "%Y-%m-%d").map_err(|_| {
                        format!(
                            "`{item}` is not a date; write dates as YYYY-MM-DD, e.g. `2026-12-25`"
                        )
                    })?;
                    dates.insert(date);
                }
                if dates.is_empty() {
                    return Err(none_given());
                }
                Ok(Exclusion::Holiday(dates))
            }
            CalendarKind::Monthly => {
                let mut days = [false; 32];
                for item in items() {
                    let day = item
                        .parse::<usize>()
                        .ok()
                        .filter(|day| (1..=31).contains(day))
                        .ok_or_else(|| format!("`{item}` is not a day of the month (1-31)"))?;
                    days[day] = true;
                }
                match days[1..].iter().filter(|d| **d).count() {
                    0 => Err(none_given()),
                    31 => {
                        Err("it excludes every day of the month, so nothing would ever fire".into())
                    }
                    _ => Ok(Exclusion::Monthly(days)),
                }
            }
            CalendarKind::Weekly => {
                let mut days = [false; 7];
                for item in items() {
                    let day = item.parse::<Weekday>().map_err(|_| {
                        format!("`{item}` is not a day of the week; write `MON` … `SUN`")
                    })?;
                    days[day.num_days_from_monday() as usize] = true;
                }
                match days.iter().filter(|d| **d).count() {
                    0 => Err(none_given()),
                    7 => {
                        Err("it excludes every day of the week, so nothing would ever fire".into())
                    }
                    _ => Ok(Exclusion::Weekly(days)),
                }
            }
            CalendarKind::Daily => {
                let trimmed = text.trim();
                let (outside, range) = match trimmed.split_once(char::is_whitespace) {
                    Some((word, rest)) if word.eq_ignore_ascii_case("outside") => {
                        (true, rest.trim())
                    }
                    _ => (false, trimmed),
                };
                let bad = || {
                    format!(
                        "`{trimmed}` is not a time range; write `12:00-13:00`, or `outside 08:00-18:00` to exclude all but that range"
                    )
                };
                let (from, to) = range.split_once('-').ok_or_else(bad)?;
                let (from, to) = (
                    parse_time(from).ok_or_else(bad)?,
                    parse_time(to).ok_or_else(bad)?,
                );
                if from == to {
                    return Err(format!(
                        "`{trimmed}` is an empty range: its start and end are the same time"
                    ));
                }
                Ok(Exclusion::Daily { from, to, outside })
            }
            CalendarKind::Cron => {
                if text.trim().is_empty() {
                    return Err(none_given());
                }
                CronExpr::parse(text)
                    .map(|cron| Exclusion::Cron(Box::new(cron)))
                    .map_err(|error| format!("`excludes` is not a cron expression: {error}"))
            }
        }
    }

    /// Whether instant `at` is excluded, read in `tz`.
    fn excludes(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        self.excludes_local(at, at.with_timezone(&tz).naive_local(), tz)
    }

    /// [`Exclusion::excludes`], given `at`'s local time in `tz`.
    fn excludes_local(&self, at: DateTime<Utc>, local: NaiveDateTime, tz: Tz) -> bool {
        match self {
            Exclusion::Cron(cron) => match cron.matches_local(local) {
                Some(matches) => matches,
                None => {
                    let second = at.with_nanosecond(0).unwrap_or(at);
                    cron.next_after(second - Duration::seconds(1), tz) == Some(second)
                }
            },
            Exclusion::Daily { from, to, outside } => {
                in_range(local.time(), *from, *to) != *outside
            }
            _ => self.excludes_day(local.date()),
        }
    }

    /// Whether the whole of local day `date` is excluded (kinds of whole days).
    fn excludes_day(&self, date: NaiveDate) -> bool {
        match self {
            Exclusion::Annual(days) => days.contains(&(date.month(), date.day())),
            Exclusion::Holiday(dates) => dates.contains(&date),
            Exclusion::Monthly(days) => days[date.day() as usize],
            Exclusion::Weekly(days) => days[date.weekday().num_days_from_monday() as usize],
            Exclusion::Daily { .. } | Exclusion::Cron(_) => false,
        }
    }

    /// The first instant at or after `at` this exclusion does not cover (a
    /// cron exclusion's longer stretches are crossed a piece at a time: the
    /// answer may still be excluded, and is later than `at`), or `None` when
    /// there is none in reach.
    fn next_not_excluded(&self, at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        if !self.excludes(at, tz) {
            return Some(at);
        }
        let local = at.with_timezone(&tz).naive_local();
        match self {
            Exclusion::Cron(cron) => {
                // Step by the span the expression matches wholly (a second,
                // a minute, an hour) from the start of the one `at` is in.
                let span = cron.whole_span_seconds();
                let start = local.with_nanosecond(0)?;
                let into = i64::from(start.second())
                    + if span == 3600 {
                        i64::from(start.minute()) * 60
                    } else {
                        0
                    };
                let mut probe = start - Duration::seconds(if span == 1 { 0 } else { into });
                let mut instant = at;
                for _ in 0..CRON_STEPS {
                    probe += Duration::seconds(span);
                    instant = instant_after(probe, tz, at)?;
                    if !self.excludes(instant, tz) {
                        break;
                    }
                }
                Some(instant)
            }
            Exclusion::Daily { from, to, outside } => {
                // Where the excluded stretch containing `local` ends.
                let (start_of_inclusion, date) = if *outside {
                    // Excluded: between `to` and `from`; inclusion starts at `from`.
                    let date = if local.time() >= *from {
                        local.date().succ_opt()?
                    } else {
                        local.date()
                    };
                    (*from, date)
                } else {
                    let date = if *to <= *from && local.time() >= *from {
                        local.date().succ_opt()?
                    } else {
                        local.date()
                    };
                    (*to, date)
                };
                instant_after(date.and_time(start_of_inclusion), tz, at)
            }
            _ => {
                let mut date = local.date();
                for _ in 0..DAYS_SEARCHED {
                    date = date.succ_opt()?;
                    if !self.excludes_day(date) {
                        return resolve_local(date.and_time(NaiveTime::MIN), tz);
                    }
                }
                None
            }
        }
    }
}

/// The instant of local time `local` in `tz` that is later than `at`: the
/// earlier of two when the clocks went back and both are, the moment they
/// jump when it falls in a gap.
fn instant_after(local: NaiveDateTime, tz: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let later = |t: DateTime<Utc>| (t > at).then_some(t);
    resolve_local(local, tz).and_then(later).or_else(|| {
        tz.from_local_datetime(&local)
            .latest()
            .map(|t| t.with_timezone(&Utc))
            .and_then(later)
    })
}

/// Whether `time` is in `[from, to)`, a range over midnight when `to <= from`.
fn in_range(time: NaiveTime, from: NaiveTime, to: NaiveTime) -> bool {
    if from < to {
        from <= time && time < to
    } else {
        time >= from || time < to
    }
}

fn parse_month_day(item: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{item}` is not a day of the year; write MM-DD, e.g. `12-25`");
    let (month, day) = item.split_once('-').ok_or_else(bad)?;
    let (month, day) = (
        month.trim().parse::<u32>().map_err(|_| bad())?,
        day.trim().parse::<u32>().map_err(|_| bad())?,
    );
    // 2024 is a leap year: 02-29 is a day of some years.
    NaiveDate::from_ymd_opt(2024, month, day).ok_or_else(bad)?;
    Ok((month, day))
}

fn parse_time(text: &str) -> Option<NaiveTime> {
    let text = text.trim();
    ["%H:%M", "%H:%M:%S", "%H:%M:%S%.3f"]
        .iter()
        .find_map(|format| NaiveTime::parse_from_str(text, format).ok())
}

/// One row of the `calendars` table, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarRow {
    /// The name tasks refer to it by.
    pub name: String,
    /// The `kind` column.
    pub kind: String,
    /// The `excludes` column.
    pub excludes: String,
    /// The calendar under this one, if any.
    pub base: Option<String>,
    /// The zone it is read in; `None`: the task's.
    pub time_zone: Option<String>,
}

/// A checked calendar with its bases resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Its name.
    pub name: String,
    exclusion: Exclusion,
    tz: Option<Tz>,
    base: Option<Arc<Calendar>>,
}

impl Calendar {
    /// Whether a slot at `at_ms` may fire, reading zone-less calendars in
    /// the task's `tz`.
    pub fn includes(&self, at_ms: i64, tz: Tz) -> bool {
        DateTime::from_timestamp_millis(at_ms).is_some_and(|at| self.includes_at(at, tz, None))
    }

    /// `local` is `at`'s local time in `tz`, when the caller knows it.
    fn includes_at(&self, at: DateTime<Utc>, tz: Tz, local: Option<NaiveDateTime>) -> bool {
        // Down the chain, the local time is worked out once per zone met.
        let mut local: Option<(Tz, NaiveDateTime)> = local.map(|time| (tz, time));
        let mut level = Some(self);
        while let Some(calendar) = level {
            let zone = calendar.tz.unwrap_or(tz);
            let here = match local {
                Some((known, time)) if known == zone => time,
                _ => {
                    let time = at.with_timezone(&zone).naive_local();
                    local = Some((zone, time));
                    time
                }
            };
            if calendar.exclusion.excludes_local(at, here, zone) {
                return false;
            }
            level = calendar.base.as_deref();
        }
        true
    }

    /// The first time at or after `at_ms` this calendar and its bases
    /// include, or `None` when there is none in reach.
    pub fn next_included(&self, at_ms: i64, tz: Tz) -> Option<i64> {
        self.next_included_from(at_ms, tz, None)
    }

    /// [`Calendar::next_included`], given `at_ms`'s local time in `tz` when
    /// the caller knows it (a cron schedule's search does).
    pub fn next_included_from(
        &self,
        at_ms: i64,
        tz: Tz,
        local: Option<NaiveDateTime>,
    ) -> Option<i64> {
        let own_tz = self.tz.unwrap_or(tz);
        let mut at = DateTime::from_timestamp_millis(at_ms)?;
        // Most slots are included: one look each.
        if self.includes_at(at, tz, local) {
            return Some(at_ms);
        }
        for _ in 0..1000 {
            let own = self.exclusion.next_not_excluded(at, own_tz)?;
            if self.exclusion.excludes(own, own_tz) {
                // Part of a long cron stretch crossed: go on from there.
                at = own;
                continue;
            }
            let Some(base) = &self.base else {
                return Some(own.timestamp_millis());
            };
            let next = base.next_included(own.timestamp_millis(), tz)?;
            if next == own.timestamp_millis() {
                return Some(next);
            }
            at = DateTime::from_timestamp_millis(next)?;
        }
        None
    }
}

/// Checks a calendar's own columns (not its base, which is resolved with
/// the others in [`Calendars::resolve`]).
pub fn check_row(row: &CalendarRow) -> Result<(Exclusion, Option<Tz>), CalendarError> {
    let fail = |column: &'static str| {
        move |reason: String| CalendarError {
            name: row.name.clone(),
            column,
            reason,
        }
    };
    check_name(&row.name).map_err(fail("name"))?;
    let kind: CalendarKind = row.kind.parse().map_err(fail("kind"))?;
    let exclusion = Exclusion::parse(kind, &row.excludes).map_err(fail("excludes"))?;
    let tz = match row.time_zone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(zone) => Some(parse_time_zone(zone).map_err(fail("time_zone"))?),
    };
    Ok((exclusion, tz))
}

/// A calendar name: 1-100 letters, digits, `-`, `_` or `.`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the name `{name}` is not a calendar name: use 1-100 letters, digits, `-`, `_` or `.`"
        ))
    }
}

/// Every calendar of the table, checked and with bases resolved; a
/// calendar that does not check out (or whose base does not) is kept as its
/// error, for the tasks that name it.
#[derive(Debug, Clone, Default)]
pub struct Calendars {
    by_name: HashMap<String, Result<Arc<Calendar>, CalendarError>>,
}

impl Calendars {
    /// Resolves `rows`: each calendar's base chain, refusing loops, chains
    /// deeper than [`MAX_BASE_DEPTH`] and bases that do not exist.
    pub fn resolve(rows: &[CalendarRow]) -> Self {
        let rows_by_name: HashMap<&str, &CalendarRow> =
            rows.iter().map(|row| (row.name.as_str(), row)).collect();
        let mut calendars = Calendars::default();
        for row in rows {
            let resolved = resolve_one(&rows_by_name, row, &mut Vec::new());
            calendars.by_name.insert(row.name.clone(), resolved);
        }
        calendars
    }

    /// The calendar named `name`, or why it cannot be used.
    pub fn get(&self, name: &str) -> Result<Arc<Calendar>, CalendarError> {
        match self.by_name.get(name) {
            Some(resolved) => resolved.clone(),
            None => Err(CalendarError {
                name: name.to_owned(),
                column: "name",
                reason: format!(
                    "no such calendar; create it (`carillon calendar set {name} --kind weekly --excludes SAT,SUN`, the API or a row in `calendars`) or clear the task's `calendar`"
                ),
            }),
        }
    }

    /// The names whose calendar is not what it was in `before` (new,
    /// removed, changed, or changed under it through a base), by name.
    pub fn changed_from(&self, before: &Calendars) -> Vec<String> {
        let mut names: Vec<String> = self
            .by_name
            .iter()
            .filter(|(name, now)| before.by_name.get(*name) != Some(*now))
            .map(|(name, _)| name.clone())
            .chain(
                before
                    .by_name
                    .keys()
                    .filter(|name| !self.by_name.contains_key(*name))
                    .cloned(),
            )
            .collect();
        names.sort();
        names
    }
}

/// Whether `row` may be stored among `existing` (replacing the row of its
/// name): it checks out with its bases, and no calendar that checked out
/// before stops doing so because of it (a base loop through it, say).
pub fn check_put(existing: &[CalendarRow], row: &CalendarRow) -> Result<(), CalendarError> {
    let before = Calendars::resolve(existing);
    let mut rows: Vec<CalendarRow> = existing
        .iter()
        .filter(|other| other.name != row.name)
        .cloned()
        .collect();
    rows.push(row.clone());
    let after = Calendars::resolve(&rows);
    after.get(&row.name)?;
    for other in existing.iter().filter(|other| other.name != row.name) {
        if before.get(&other.name).is_ok()
            && let Err(error) = after.get(&other.name)
        {
            return Err(CalendarError {
                name: row.name.clone(),
                column: "base",
                reason: format!(
                    "the change would break calendar `{}`: {}",
                    other.name, error.reason
                ),
            });
        }
    }
    Ok(())
}

/// Whether calendar `name` may be removed from `existing`: no other
/// calendar has it as its base.
pub fn check_remove(existing: &[CalendarRow], name: &str) -> Result<(), CalendarError> {
    let on_it: Vec<&str> = existing
        .iter()
        .filter(|row| row.base.as_deref().map(str::trim) == Some(name))
        .map(|row| row.name.as_str())
        .collect();
    if on_it.is_empty() {
        Ok(())
    } else {
        Err(CalendarError {
            name: name.to_owned(),
            column: "base",
            reason: format!(
                "calendar(s) {} have it as their base; change their base first",
                on_it.join(", ")
            ),
        })
    }
}

fn resolve_one(
    rows: &HashMap<&str, &CalendarRow>,
    row: &CalendarRow,
    chain: &mut Vec<String>,
) -> Result<Arc<Calendar>, CalendarError> {
    let first = chain.first().unwrap_or(&row.name).clone();
    let fail = |reason: String| CalendarError {
        name: first.clone(),
        column: "base",
        reason,
    };
    if chain.contains(&row.name) {
        chain.push(row.name.clone());
        return Err(fail(format!("its bases loop: {}", chain.join(" → "))));
    }
    if chain.len() > MAX_BASE_DEPTH {
        return Err(fail(format!(
            "it has more than {MAX_BASE_DEPTH} bases under it: {} …",
            chain.join(" → ")
        )));
    }
    chain.push(row.name.clone());
    let (exclusion, tz) = check_row(row).map_err(|error| {
        if chain.len() == 1 {
            error
        } else {
            fail(format!("its base {error}"))
        }
    })?;
    let base = match row.base.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        None => None,
        Some(base) => {
            let base_row = rows
                .get(base)
                .ok_or_else(|| fail(format!("its base calendar `{base}` does not exist")))?;
            Some(resolve_one(rows, base_row, chain)?)
        }
    };
    Ok(Arc::new(Calendar {
        name: row.name.clone(),
        exclusion,
        tz,
        base,
    }))
}

#[cfg(test)]
mod tests;
