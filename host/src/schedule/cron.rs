//! Quartz cron expressions, parsed and evaluated as Quartz 2.3.2's
//! `org.quartz.CronExpression` does: the same expressions accepted and
//! refused, the same fire times (checked against the real thing by the
//! differential test `tests/e2e/quartz_oracle.rs`). The parser and the
//! search for the next fire time follow Quartz's own code step by step, its
//! quirks included (names are read by their first three letters, empty list
//! items are skipped, tokens after the year are ignored, `W` and `#` may sit
//! in lists, an increment of 0 means the start value alone).
//!
//! ```text
//! seconds minutes hours day-of-month month day-of-week [year]
//! 0-59    0-59    0-23  1-31 ? L W  1-12   1-7 ? L #
//!                             LW L-n JAN-DEC SUN-SAT
//! ```
//!
//! Deviations, on purpose: the search is done in local time and a local time
//! is turned into an instant Carillon's way (a time in a spring-forward gap
//! fires when the clocks jump, where Quartz skips it; a time of a repeated
//! fall-back hour fires once, at its first occurrence, where Quartz fires
//! the second) — in UTC the two agree exactly; and the last year searched is
//! that of the time searched from plus 100, where Quartz takes the year the
//! process runs in plus 100; and what Quartz accepts but loops on for ever
//! (a day-of-month `0W`) is refused or never fires here. Pure: no clock
//! reads, time comes in as arguments.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// Years searched past the year searched from (Quartz: the current year).
pub const YEARS_AHEAD: i32 = 100;
/// Quartz gives up on any search that reaches past this year.
const LAST_YEAR: i32 = 2999;

const SECOND: usize = 0;
const MINUTE: usize = 1;
const HOUR: usize = 2;
const DAY_OF_MONTH: usize = 3;
const MONTH: usize = 4;
const DAY_OF_WEEK: usize = 5;
const YEAR: usize = 6;

const FIELD_NAMES: [&str; 7] = [
    "seconds",
    "minutes",
    "hours",
    "day-of-month",
    "month",
    "day-of-week",
    "year",
];

/// Quartz's markers in a field's set: `*` and `?`.
const ALL_SPEC: i32 = 99;
const NO_SPEC: i32 = 98;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

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
    sets: [ValueSet; 7],
    lastday_of_week: bool,
    nthday_of_week: i32,
    lastday_of_month: bool,
    nearest_weekday: bool,
    lastday_offset: i32,
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

/// Why a field item was refused (the field and its text are added by the
/// caller).
type Refused = String;

/// A field item as characters, read the way Java's `charAt` reads a string:
/// out of bounds is a refusal, as Quartz's exception is.
struct Item<'a> {
    chars: &'a [char],
}

impl Item<'_> {
    fn len(&self) -> usize {
        self.chars.len()
    }

    fn at(&self, i: usize) -> Result<char, Refused> {
        self.chars
            .get(i)
            .copied()
            .ok_or_else(|| "the item ends too soon".to_owned())
    }

    fn text(&self, from: usize, to: usize) -> Result<String, Refused> {
        if from > to || to > self.len() {
            return Err("the item ends too soon".to_owned());
        }
        Ok(self.chars[from..to].iter().collect())
    }
}

/// Java's `Integer.parseInt`.
fn parse_int(text: &str) -> Result<i32, Refused> {
    text.parse::<i32>()
        .map_err(|_| format!("`{text}` is not a number"))
}

/// A one-digit number, as Quartz reads `String.valueOf(c)`.
fn digit(c: char) -> Result<i32, Refused> {
    c.to_digit(10)
        .map(|d| d as i32)
        .ok_or_else(|| format!("`{c}` is not a number"))
}

impl CronExpr {
    /// Parses a Quartz cron expression (6 or 7 fields), as Quartz does.
    pub fn parse(text: &str) -> Result<Self, CronError> {
        let upper = text.to_uppercase();
        let mut cron = CronExpr {
            sets: Default::default(),
            lastday_of_week: false,
            nthday_of_week: 0,
            lastday_of_month: false,
            nearest_weekday: false,
            lastday_offset: 0,
            // Its fields as Quartz reads them (split on spaces and tabs
            // only), so the text shown parses back to the same expression.
            text: text
                .split([' ', '\t'])
                .filter(|f| !f.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        };
        // Quartz splits on spaces and tabs only, and reads at most seven
        // fields (anything after the year is ignored).
        let fields: Vec<&str> = upper.split([' ', '\t']).filter(|f| !f.is_empty()).collect();
        let mut on = SECOND;
        for raw in &fields {
            if on > YEAR {
                break;
            }
            let field = java_trim(raw);
            let refuse = |reason: String| CronError {
                field: FIELD_NAMES[on],
                value: field.to_owned(),
                reason,
            };
            if on == DAY_OF_MONTH && field.contains('L') && field.len() > 1 && field.contains(',') {
                return Err(refuse(
                    "`L` and `LW` cannot be combined with other days".into(),
                ));
            }
            if on == DAY_OF_WEEK && field.contains('L') && field.len() > 1 && field.contains(',') {
                return Err(refuse("`L` cannot be combined with other days".into()));
            }
            if on == DAY_OF_WEEK && field.matches('#').count() > 1 {
                return Err(refuse("only one `#` day may be given".into()));
            }
            for item in field.split(',').filter(|i| !i.is_empty()) {
                let chars: Vec<char> = item.chars().collect();
                cron.store(&Item { chars: &chars }, on).map_err(refuse)?;
            }
            on += 1;
        }
        if on <= DAY_OF_WEEK {
            return Err(CronError {
                field: "expression",
                value: cron.text.clone(),
                reason: format!(
                    "has {} fields; a Quartz cron expression has 6 or 7: seconds minutes hours \
                     day-of-month month day-of-week [year], e.g. `0 0/5 * * * ?`",
                    fields.len()
                ),
            });
        }
        if on <= YEAR {
            let star: Vec<char> = vec!['*'];
            cron.store(&Item { chars: &star }, YEAR)
                .map_err(|reason| CronError {
                    field: "year",
                    value: "*".into(),
                    reason,
                })?;
        }
        let month_spec = !cron.sets[DAY_OF_MONTH].contains(NO_SPEC);
        let week_spec = !cron.sets[DAY_OF_WEEK].contains(NO_SPEC);
        // Quartz accepts a field left with no values (`L` in the seconds,
        // `,`) and then fails when asked for a fire time: refused here.
        for (on, empty) in [
            (SECOND, cron.sets[SECOND].is_empty()),
            (MINUTE, cron.sets[MINUTE].is_empty()),
            (HOUR, cron.sets[HOUR].is_empty()),
            (
                DAY_OF_MONTH,
                month_spec && !cron.lastday_of_month && cron.sets[DAY_OF_MONTH].is_empty(),
            ),
            (MONTH, cron.sets[MONTH].is_empty()),
            (DAY_OF_WEEK, week_spec && cron.sets[DAY_OF_WEEK].is_empty()),
        ] {
            if empty {
                return Err(CronError {
                    field: FIELD_NAMES[on],
                    value: fields.get(on).copied().unwrap_or("").to_owned(),
                    reason: "gives no value; write a number, a range, a list or `*`".into(),
                });
            }
        }
        if month_spec == week_spec {
            let reason = if month_spec {
                "Quartz needs `?` in day-of-month or day-of-week; one of them must be `?`"
            } else {
                "day-of-month and day-of-week cannot both be `?`; set one of them"
            };
            return Err(CronError {
                field: "day-of-week",
                value: fields.get(DAY_OF_WEEK).copied().unwrap_or("").to_owned(),
                reason: reason.into(),
            });
        }
        Ok(cron)
    }

    /// Quartz's `storeExpressionVals`, for one list item of field `ty`.
    fn store(&mut self, s: &Item<'_>, ty: usize) -> Result<(), Refused> {
        let mut i = 0;
        while i < s.len() && (s.chars[i] == ' ' || s.chars[i] == '\t') {
            i += 1;
        }
        if i >= s.len() {
            return Ok(());
        }
        let mut c = s.at(i)?;
        let text: String = s.chars.iter().collect();
        if c.is_ascii_uppercase() && text != "L" && text != "LW" && !is_last_offset(&text) {
            return self.store_name(s, i, ty);
        }
        if c == '?' {
            i += 1;
            if i + 1 < s.len() && s.at(i)? != ' ' && s.at(i + 1)? != '\t' {
                return Err(format!("`{}` after `?`", s.at(i)?));
            }
            if ty != DAY_OF_WEEK && ty != DAY_OF_MONTH {
                return Err("`?` may be given for day-of-month or day-of-week only".into());
            }
            if ty == DAY_OF_WEEK && !self.lastday_of_month {
                let last = self.sets[DAY_OF_MONTH]
                    .last()
                    .ok_or("day-of-month is missing")?;
                if last == NO_SPEC {
                    return Err(
                        "day-of-month and day-of-week cannot both be `?`; set one of them".into(),
                    );
                }
            }
            return self.add(NO_SPEC, -1, 0, ty);
        }
        if c == '*' || c == '/' {
            if c == '*' && i + 1 >= s.len() {
                return self.add(ALL_SPEC, -1, 0, ty);
            } else if c == '/' && (i + 1 >= s.len() || s.at(i + 1)? == ' ' || s.at(i + 1)? == '\t')
            {
                return Err("`/` must be followed by a number".into());
            } else if c == '*' {
                i += 1;
            }
            c = s.at(i)?;
            let increment = if c == '/' {
                i += 1;
                if i >= s.len() {
                    return Err("`/` must be followed by a number".into());
                }
                // Quartz reads the rest of the item as the increment.
                let increment = parse_int(&s.text(i, s.len())?)?;
                check_increment(increment, ty)?;
                increment
            } else {
                1
            };
            return self.add(ALL_SPEC, -1, increment, ty);
        }
        if c == 'L' {
            i += 1;
            if ty == DAY_OF_MONTH {
                self.lastday_of_month = true;
            }
            if ty == DAY_OF_WEEK {
                self.add(7, 7, 0, ty)?;
            }
            if ty == DAY_OF_MONTH && s.len() > i {
                c = s.at(i)?;
                if c == '-' {
                    let (value, pos) = value_at(0, s, i + 1)?;
                    self.lastday_offset = value;
                    if value > 30 {
                        return Err("the offset from the last day must be 30 or less".into());
                    }
                    i = pos;
                }
                if s.len() > i && s.at(i)? == 'W' {
                    self.nearest_weekday = true;
                }
            }
            return Ok(());
        }
        if c.is_ascii_digit() {
            let mut value = digit(c)?;
            i += 1;
            if i >= s.len() {
                return self.add(value, -1, -1, ty);
            }
            c = s.at(i)?;
            if c.is_ascii_digit() {
                let (v, pos) = value_at(value, s, i)?;
                value = v;
                i = pos;
            }
            return self.check_next(i, s, value, ty);
        }
        Err(format!("`{c}` is not expected here"))
    }

    /// A name (`MON`, `JAN-MAR`, `FRI#2`, `6L`'s name form): Quartz reads
    /// the three letters at `i` and what follows them.
    fn store_name(&mut self, s: &Item<'_>, mut i: usize, ty: usize) -> Result<(), Refused> {
        let mut sub = s.text(i, i + 3)?;
        let mut end = -1;
        let start;
        if ty == MONTH {
            start =
                month_number(&sub).ok_or_else(|| format!("`{sub}` is not a month (JAN-DEC)"))?;
            if s.len() > i + 3 && s.at(i + 3)? == '-' {
                i += 4;
                sub = s.text(i, i + 3)?;
                end = month_number(&sub)
                    .ok_or_else(|| format!("`{sub}` is not a month (JAN-DEC)"))?;
            }
        } else if ty == DAY_OF_WEEK {
            start = weekday_number(&sub)
                .ok_or_else(|| format!("`{sub}` is not a day of the week (SUN-SAT)"))?;
            if s.len() > i + 3 {
                let c = s.at(i + 3)?;
                if c == '-' {
                    i += 4;
                    sub = s.text(i, i + 3)?;
                    end = weekday_number(&sub)
                        .ok_or_else(|| format!("`{sub}` is not a day of the week (SUN-SAT)"))?;
                } else if c == '#' {
                    i += 4;
                    let nth = parse_int(&s.text(i, s.len())?)
                        .ok()
                        .filter(|n| (1..=5).contains(n))
                        .ok_or("the number after `#` must be 1 to 5")?;
                    self.nthday_of_week = nth;
                } else if c == 'L' {
                    self.lastday_of_week = true;
                }
            }
        } else {
            return Err(format!(
                "`{sub}` is not a number{}",
                if ty == YEAR { "" } else { " here" }
            ));
        }
        let increment = if end != -1 { 1 } else { 0 };
        self.add(start, end, increment, ty)
    }

    /// Quartz's `checkNext`: what follows a number.
    fn check_next(
        &mut self,
        pos: usize,
        s: &Item<'_>,
        value: i32,
        ty: usize,
    ) -> Result<(), Refused> {
        let mut i = pos;
        if i >= s.len() {
            return self.add(value, -1, -1, ty);
        }
        let c = s.at(pos)?;
        if c == 'L' {
            if ty != DAY_OF_WEEK {
                return Err("`L` after a number is for day-of-week only (e.g. `6L`)".into());
            }
            if !(1..=7).contains(&value) {
                return Err(format!("{value} is out of range 1-7"));
            }
            self.lastday_of_week = true;
            self.sets[ty].insert(value);
            return Ok(());
        }
        if c == 'W' {
            if ty != DAY_OF_MONTH {
                return Err("`W` is for day-of-month only (e.g. `15W`)".into());
            }
            self.nearest_weekday = true;
            if value > 31 {
                return Err(format!("{value} is out of range 1-31"));
            }
            self.sets[ty].insert(value);
            return Ok(());
        }
        if c == '#' {
            if ty != DAY_OF_WEEK {
                return Err("`#` is for day-of-week only (e.g. `6#3`)".into());
            }
            i += 1;
            let nth = parse_int(&s.text(i, s.len())?)
                .ok()
                .filter(|n| (1..=5).contains(n))
                .ok_or("the number after `#` must be 1 to 5")?;
            self.nthday_of_week = nth;
            self.sets[ty].insert(value);
            return Ok(());
        }
        if c == '-' {
            i += 1;
            let mut end = digit(s.at(i)?)?;
            i += 1;
            if i >= s.len() {
                return self.add(value, end, 1, ty);
            }
            let c = s.at(i)?;
            if c.is_ascii_digit() {
                let (v, pos) = value_at(end, s, i)?;
                end = v;
                i = pos;
            }
            if i < s.len() && s.at(i)? == '/' {
                i += 1;
                let step = digit(s.at(i)?)?;
                i += 1;
                if i >= s.len() {
                    return self.add(value, end, step, ty);
                }
                let c = s.at(i)?;
                if c.is_ascii_digit() {
                    let (step, _) = value_at(step, s, i)?;
                    return self.add(value, end, step, ty);
                }
                return self.add(value, end, step, ty);
            }
            return self.add(value, end, 1, ty);
        }
        if c == '/' {
            if i + 1 >= s.len() || s.at(i + 1)? == ' ' || s.at(i + 1)? == '\t' {
                return Err("`/` must be followed by a number".into());
            }
            i += 1;
            let step = digit(s.at(i)?)?;
            i += 1;
            if i >= s.len() {
                check_increment(step, ty)?;
                return self.add(value, -1, step, ty);
            }
            let c = s.at(i)?;
            if c.is_ascii_digit() {
                let (step, _) = value_at(step, s, i)?;
                check_increment(step, ty)?;
                return self.add(value, -1, step, ty);
            }
            return Err(format!("`{c}` is not expected after `/`"));
        }
        self.add(value, -1, 0, ty)
    }

    /// Quartz's `addToSet`: checks the value and adds it, or the values of
    /// the range `value`-`end` by `increment`.
    fn add(&mut self, value: i32, end: i32, increment: i32, ty: usize) -> Result<(), Refused> {
        let (min, max) = match ty {
            SECOND | MINUTE => (0, 59),
            HOUR => (0, 23),
            DAY_OF_MONTH => (1, 31),
            MONTH => (1, 12),
            DAY_OF_WEEK => (1, 7),
            _ => (i32::MIN, i32::MAX),
        };
        let special =
            value == ALL_SPEC || (value == NO_SPEC && matches!(ty, DAY_OF_MONTH | DAY_OF_WEEK));
        if ty != YEAR && !special {
            let out = if ty == DAY_OF_WEEK {
                value == 0 || value > max || end > max
            } else {
                value < min || value > max || end > max
            };
            if out {
                let shown = if value < min || value > max {
                    value
                } else {
                    end
                };
                return Err(format!("{shown} is out of range {min}-{max}"));
            }
        }
        let set = &mut self.sets[ty];
        let mut increment = increment;
        if (increment == 0 || increment == -1) && value != ALL_SPEC {
            set.insert(if value != -1 { value } else { NO_SPEC });
            return Ok(());
        }
        let mut start = value;
        let mut stop = end;
        if value == ALL_SPEC && increment <= 0 {
            increment = 1;
            set.insert(ALL_SPEC);
        }
        let (first, last) = match ty {
            SECOND | MINUTE => (0, 59),
            HOUR => (0, 23),
            DAY_OF_MONTH => (1, 31),
            MONTH => (1, 12),
            DAY_OF_WEEK => (1, 7),
            _ => (1970, MAX_YEAR_OF_RANGES),
        };
        if stop == -1 {
            stop = last;
        }
        if start == -1 || start == ALL_SPEC {
            start = first;
        }
        let mut wrap = 0;
        if stop < start {
            wrap = match ty {
                SECOND | MINUTE => 60,
                HOUR => 24,
                MONTH => 12,
                DAY_OF_WEEK => 7,
                DAY_OF_MONTH => 31,
                _ => return Err("a range of years must not end before it starts".into()),
            };
            stop += wrap;
        }
        let mut v = start as i64;
        while v <= stop as i64 {
            let value = if wrap == 0 {
                v as i32
            } else {
                let mut wrapped = (v % wrap as i64) as i32;
                if wrapped == 0 && matches!(ty, MONTH | DAY_OF_WEEK | DAY_OF_MONTH) {
                    wrapped = wrap;
                }
                wrapped
            };
            set.insert(value);
            v += increment as i64;
        }
        Ok(())
    }
}

/// The end of an open year range (`2030/5`, `*`): Quartz's `MAX_YEAR`, the
/// current year plus 100; Carillon fills to 2999, Quartz's last year, and
/// bounds the search by the year searched from instead.
const MAX_YEAR_OF_RANGES: i32 = LAST_YEAR;

/// `L-n` or `L-nW` (Quartz's `^L-[0-9]*[W]?`, the whole item).
fn is_last_offset(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("L-") else {
        return false;
    };
    let rest = rest.strip_suffix('W').unwrap_or(rest);
    rest.chars().all(|c| c.is_ascii_digit())
}

/// Java's `String.trim`: characters up to the space go from both ends.
fn java_trim(text: &str) -> &str {
    text.trim_matches(|c: char| c <= ' ')
}

/// Quartz's `checkIncrementRange`.
fn check_increment(increment: i32, ty: usize) -> Result<(), Refused> {
    let limit = match ty {
        SECOND | MINUTE => 59,
        HOUR => 23,
        DAY_OF_MONTH => 31,
        DAY_OF_WEEK => 7,
        MONTH => 12,
        _ => return Ok(()),
    };
    if increment > limit {
        return Err(format!(
            "increment {increment} is larger than the field's range (at most {limit})"
        ));
    }
    Ok(())
}

/// Quartz's `getValue`: the number made of `prefix` and the digits from `i`,
/// and where reading stopped (one past the end when the item ended).
fn value_at(prefix: i32, s: &Item<'_>, mut i: usize) -> Result<(i32, usize), Refused> {
    let mut digits = prefix.to_string();
    let mut c = s.at(i)?;
    while c.is_ascii_digit() {
        digits.push(c);
        i += 1;
        if i >= s.len() {
            break;
        }
        c = s.at(i)?;
    }
    let pos = if i < s.len() { i } else { i + 1 };
    Ok((parse_int(&digits)?, pos))
}

fn month_number(name: &str) -> Option<i32> {
    MONTHS.iter().position(|m| *m == name).map(|i| i as i32 + 1)
}

fn weekday_number(name: &str) -> Option<i32> {
    WEEKDAYS
        .iter()
        .position(|d| *d == name)
        .map(|i| i as i32 + 1)
}

/// A calendar read and set field by field, normalised the way Java's
/// lenient `GregorianCalendar` does when a field is read: out-of-range
/// values carry into the next field up (second 60 is the next minute,
/// day 32 the next month). Months are 1-based here.
#[derive(Debug, Clone, Copy)]
struct Calendar {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

impl Calendar {
    /// Midnight of `day` of `month` (either may overflow; `normalize`
    /// carries them), where the search goes on after a day field moved.
    fn start_of_day(&mut self, day: i64, month: i64) {
        self.second = 0;
        self.minute = 0;
        self.hour = 0;
        self.day = day;
        self.month = month;
    }

    fn from(time: NaiveDateTime) -> Self {
        Self {
            year: i64::from(time.year()),
            month: i64::from(time.month()),
            day: i64::from(time.day()),
            hour: i64::from(time.hour()),
            minute: i64::from(time.minute()),
            second: i64::from(time.second()),
        }
    }

    /// Carries every field into range.
    fn normalize(&mut self) -> Option<()> {
        let months = self.year * 12 + (self.month - 1);
        let (year, month0) = (months.div_euclid(12), months.rem_euclid(12));
        let first = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month0 as u32 + 1, 1)?;
        let seconds = (self.day - 1) * 86_400 + self.hour * 3600 + self.minute * 60 + self.second;
        let time = first
            .and_hms_opt(0, 0, 0)?
            .checked_add_signed(Duration::seconds(seconds))?;
        *self = Self::from(time);
        Some(())
    }

    fn time(mut self) -> Option<NaiveDateTime> {
        self.normalize()?;
        NaiveDate::from_ymd_opt(self.year as i32, self.month as u32, self.day as u32)?.and_hms_opt(
            self.hour as u32,
            self.minute as u32,
            self.second as u32,
        )
    }

    /// 1 = Sunday … 7 = Saturday, as Quartz numbers them.
    fn weekday(mut self) -> Option<i32> {
        self.normalize()?;
        let date = NaiveDate::from_ymd_opt(self.year as i32, self.month as u32, self.day as u32)?;
        Some(date.weekday().num_days_from_sunday() as i32 + 1)
    }
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn last_day_of_month(month: i64, year: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The first value of `set` at or after `from`, or else its first value and
/// a carry of 1 into the next larger field (Quartz's `tailSet` or `first`).
fn step(set: &ValueSet, from: i64) -> (i64, i64) {
    match set.first_from(from) {
        Some(value) => (value, 0),
        None => (set.first(), 1),
    }
}

impl CronExpr {
    /// The first fire time strictly after `after`, reading the expression in
    /// time zone `tz`; `None` if it never fires again.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.next_after_local(after, tz).map(|(instant, _)| instant)
    }

    /// [`CronExpr::next_after`], with the fire time's local time in `tz`
    /// when the search found it as such (not when it fell in a DST gap and
    /// moved to the jump): a calendar read in the same zone then needs no
    /// conversion of its own.
    pub fn next_after_local(
        &self,
        after: DateTime<Utc>,
        tz: Tz,
    ) -> Option<(DateTime<Utc>, Option<NaiveDateTime>)> {
        let mut from = after.with_timezone(&tz).naive_local();
        let max_year = after.year() + YEARS_AHEAD;
        loop {
            let candidate = self.time_after(from, max_year)?;
            let (instant, exact) = match tz.from_local_datetime(&candidate).earliest() {
                Some(instant) => (instant.with_timezone(&Utc), true),
                None => (resolve_local(candidate, tz)?, false),
            };
            if instant > after {
                return Some((instant, exact.then_some(candidate)));
            }
            from = candidate;
        }
    }

    /// Whether local time `local` (its whole second) matches, read field by
    /// field; `None` for an expression with `L`, `W` or `#`, whose days only
    /// the search knows.
    pub(super) fn matches_local(&self, local: NaiveDateTime) -> Option<bool> {
        if self.lastday_of_week
            || self.nthday_of_week != 0
            || self.lastday_of_month
            || self.nearest_weekday
        {
            return None;
        }
        let has = |field: usize, value: u32| self.sets[field].contains(value as i32);
        let day = if self.sets[DAY_OF_MONTH].contains(NO_SPEC) {
            has(DAY_OF_WEEK, local.weekday().num_days_from_sunday() + 1)
        } else if self.sets[DAY_OF_WEEK].contains(NO_SPEC) {
            has(DAY_OF_MONTH, local.day())
        } else {
            return None;
        };
        Some(
            day && has(SECOND, local.second())
                && has(MINUTE, local.minute())
                && has(HOUR, local.hour())
                && has(MONTH, local.month())
                && self.sets[YEAR].contains(local.year()),
        )
    }

    /// The longest span, in seconds (1, 60 or 3600), that the expression
    /// matches wholly or not at all when it starts on a local boundary of
    /// that span: 60 when every second matches, 3600 when every minute does
    /// too. A search for a time it does not match steps by this much.
    pub(super) fn whole_span_seconds(&self) -> i64 {
        let full = |set: &ValueSet, last: i32| (0..=last).all(|value| set.contains(value));
        match (full(&self.sets[SECOND], 59), full(&self.sets[MINUTE], 59)) {
            (true, true) => 3600,
            (true, false) => 60,
            _ => 1,
        }
    }

    /// Quartz's `getTimeAfter`, on local time read as UTC: the first time of
    /// a whole second at least a second after `after` that matches.
    fn time_after(&self, after: NaiveDateTime, max_year: i32) -> Option<NaiveDateTime> {
        let after = after.with_nanosecond(0)? + Duration::seconds(1);
        let mut cl = Calendar::from(after);
        let seconds = &self.sets[SECOND];
        let minutes = &self.sets[MINUTE];
        let hours = &self.sets[HOUR];
        let days_of_month = &self.sets[DAY_OF_MONTH];
        let months = &self.sets[MONTH];
        let days_of_week = &self.sets[DAY_OF_WEEK];
        let years = &self.sets[YEAR];
        // Quartz's search ends; this bounds a quirky expression's too.
        for _ in 0..1_000_000 {
            cl.normalize()?;
            if cl.year > i64::from(LAST_YEAR) {
                return None;
            }
            let (sec, carry) = step(seconds, cl.second);
            cl.second = sec;
            cl.minute += carry;
            cl.normalize()?;

            let (min, carry) = step(minutes, cl.minute);
            if min != cl.minute {
                cl.second = 0;
                cl.minute = min;
                cl.hour += carry;
                continue;
            }
            cl.normalize()?;

            let (hr, carry) = step(hours, cl.hour);
            if hr != cl.hour {
                cl.second = 0;
                cl.minute = 0;
                cl.hour = hr;
                cl.day += carry;
                continue;
            }
            cl.normalize()?;

            let mut day = cl.day;
            let mut mon = cl.month;
            let mut t = -1; // the day before the step; -1: none
            let mut tmon = mon;
            let month_spec = !days_of_month.contains(NO_SPEC);
            let week_spec = !days_of_week.contains(NO_SPEC);
            if month_spec && !week_spec {
                if self.lastday_of_month {
                    if !self.nearest_weekday {
                        t = day;
                        day = last_day_of_month(mon, cl.year) - i64::from(self.lastday_offset);
                        if t > day {
                            mon += 1;
                            if mon > 12 {
                                mon = 1;
                                tmon = 3333;
                                cl.year += 1;
                            }
                            day = 1;
                        }
                    } else {
                        t = day;
                        day = last_day_of_month(mon, cl.year) - i64::from(self.lastday_offset);
                        day = nearest_weekday(cl.year, mon, day)?;
                        if self.is_before(cl.year, mon, day, hr, min, sec, after) {
                            day = 1;
                            mon += 1;
                        }
                    }
                } else if self.nearest_weekday {
                    t = day;
                    day = days_of_month.first();
                    day = nearest_weekday(cl.year, mon, day)?;
                    if self.is_before(cl.year, mon, day, hr, min, sec, after) {
                        day = days_of_month.first();
                        mon += 1;
                    }
                } else if let Some(d) = days_of_month.first_from(day) {
                    t = day;
                    day = d;
                    if day > last_day_of_month(mon, cl.year) {
                        day = days_of_month.first();
                        mon += 1;
                    }
                } else {
                    day = days_of_month.first();
                    mon += 1;
                }
                if day != t || mon != tmon {
                    cl.start_of_day(day, mon);
                    continue;
                }
            } else if week_spec && !month_spec {
                let dow = days_of_week.first();
                let current = i64::from(cl.weekday()?);
                if self.lastday_of_week {
                    let mut add = 0;
                    if current < dow {
                        add = dow - current;
                    }
                    if current > dow {
                        add = dow + (7 - current);
                    }
                    let last = last_day_of_month(mon, cl.year);
                    if day + add > last {
                        cl.start_of_day(1, mon + 1);
                        continue;
                    }
                    while day + add + 7 <= last {
                        add += 7;
                    }
                    day += add;
                    if add > 0 {
                        cl.start_of_day(day, mon);
                        continue;
                    }
                } else if self.nthday_of_week != 0 {
                    let mut add = 0;
                    if current < dow {
                        add = dow - current;
                    } else if current > dow {
                        add = dow + (7 - current);
                    }
                    let shifted = add > 0;
                    day += add;
                    let mut week = day / 7;
                    if day % 7 > 0 {
                        week += 1;
                    }
                    add = (i64::from(self.nthday_of_week) - week) * 7;
                    day += add;
                    if add < 0 || day > last_day_of_month(mon, cl.year) {
                        cl.start_of_day(1, mon + 1);
                        continue;
                    } else if add > 0 || shifted {
                        cl.start_of_day(day, mon);
                        continue;
                    }
                } else {
                    let dow = days_of_week.first_from(current).unwrap_or(dow);
                    let mut add = 0;
                    if current < dow {
                        add = dow - current;
                    }
                    if current > dow {
                        add = dow + (7 - current);
                    }
                    let last = last_day_of_month(mon, cl.year);
                    if day + add > last {
                        cl.start_of_day(1, mon + 1);
                        continue;
                    } else if add > 0 {
                        cl.start_of_day(day + add, mon);
                        continue;
                    }
                }
            } else {
                return None;
            }
            cl.day = day;
            cl.normalize()?;

            if cl.year > i64::from(max_year) {
                return None;
            }
            let (mon, carry) = step(months, cl.month);
            if mon != cl.month {
                cl.start_of_day(1, mon);
                cl.year += carry;
                continue;
            }
            cl.normalize()?;

            let year = years.first_from(cl.year)?;
            if year != cl.year {
                cl.start_of_day(1, 1);
                cl.year = year;
                continue;
            }
            return cl.time();
        }
        None
    }

    /// Quartz's test in the `W` rules: whether that day and time of the
    /// month is before `after`.
    #[allow(clippy::too_many_arguments)]
    fn is_before(
        &self,
        year: i64,
        mon: i64,
        day: i64,
        hr: i64,
        min: i64,
        sec: i64,
        after: NaiveDateTime,
    ) -> bool {
        let candidate = Calendar {
            year,
            month: mon,
            day,
            hour: hr,
            minute: min,
            second: sec,
        };
        candidate.time().is_some_and(|time| time < after)
    }
}

/// Quartz's nearest weekday of `day` in `year`-`mon` (a Saturday the 1st
/// goes to Monday the 3rd, a Sunday the last day to Friday).
fn nearest_weekday(year: i64, mon: i64, day: i64) -> Option<i64> {
    let last = last_day_of_month(mon, year);
    let weekday = Calendar {
        year,
        month: mon,
        day,
        hour: 0,
        minute: 0,
        second: 0,
    }
    .weekday()?;
    Some(match weekday {
        7 if day == 1 => day + 2,
        7 => day - 1,
        1 if day == last => day - 2,
        1 => day + 1,
        _ => day,
    })
}

/// The instant of a local time: the earlier one when the time occurs twice,
/// the moment the clocks jump when it falls in a gap.
pub(super) fn resolve_local(local: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    if let Some(instant) = tz.from_local_datetime(&local).earliest() {
        return Some(instant.with_timezone(&Utc));
    }
    // In a gap: the first valid local minute after it is where the jump lands.
    let mut probe = local.with_second(0)?.with_nanosecond(0)?;
    for _ in 0..(48 * 60) {
        probe += Duration::minutes(1);
        if let Some(instant) = tz.from_local_datetime(&probe).earliest() {
            return Some(instant.with_timezone(&Utc));
        }
    }
    None
}

mod values;

use values::ValueSet;

#[cfg(test)]
mod tests;
