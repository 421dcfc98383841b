//! What calendars add to next-fire computation: the same task timings with
//! and without a calendar, measured side by side in one run (rounds
//! alternate, the best round of each is kept), as successive `next_after`
//! calls from 2026-01-01 in Europe/Berlin, the work the scheduler does per
//! fire and for every new or changed task.
//!
//! Run with `cargo bench -p carillon --bench calendars`; it prints a
//! Markdown table for BENCHMARKS.md. `CALLS=N` changes the calls per round.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use carillon::schedule::{Calendar, CalendarRow, Calendars, TaskTiming};
use chrono_tz::Tz;

const ROUNDS: usize = 7;

fn calendar(rows: &[(&str, &str, &str, Option<&str>)]) -> Arc<Calendar> {
    let rows: Vec<CalendarRow> = rows
        .iter()
        .map(|(name, kind, excludes, base)| CalendarRow {
            name: (*name).into(),
            kind: (*kind).into(),
            excludes: (*excludes).into(),
            base: base.map(Into::into),
            time_zone: None,
        })
        .collect();
    Calendars::resolve(&rows).get(&rows[0].name).unwrap()
}

fn timing(schedule: &str, calendar: Option<Arc<Calendar>>) -> TaskTiming {
    TaskTiming {
        schedule: schedule.parse().unwrap(),
        tz: Tz::Europe__Berlin,
        created_at_ms: 0,
        start_at_ms: None,
        end_at_ms: None,
        calendar,
    }
}

const FROM_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// ns per `next_after` call over `calls` successive slots.
fn per_call(timing: &TaskTiming, calls: usize) -> f64 {
    let mut after = FROM_MS;
    let started = Instant::now();
    for _ in 0..calls {
        match timing.next_after(after) {
            Some(slot) => after = black_box(slot),
            None => break,
        }
    }
    started.elapsed().as_nanos() as f64 / calls as f64
}

/// µs to walk through every slot of `days` days, and how many there are.
fn per_span(timing: &TaskTiming, days: i64) -> (f64, usize) {
    let end = FROM_MS + days * 86_400_000;
    let (mut after, mut slots) = (FROM_MS, 0);
    let started = Instant::now();
    while let Some(slot) = timing.next_after(after).filter(|slot| *slot < end) {
        after = black_box(slot);
        slots += 1;
    }
    (started.elapsed().as_nanos() as f64 / 1000.0, slots)
}

fn main() {
    let calls: usize = std::env::var("CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let holidays: String = (1..=12)
        .flat_map(|month| [format!("2026-{month:02}-01"), format!("2026-{month:02}-15")])
        .chain((1..=12).map(|month| format!("2027-{month:02}-01")))
        .collect::<Vec<_>>()
        .join(", ");
    let calendars = [
        (
            "weekly `SAT, SUN`",
            calendar(&[("weekends", "weekly", "SAT, SUN", None)]),
        ),
        (
            "holiday (36 dates) on weekly",
            calendar(&[
                ("holidays", "holiday", &holidays, Some("weekends")),
                ("weekends", "weekly", "SAT, SUN", None),
            ]),
        ),
        (
            "daily `12:00-13:00`",
            calendar(&[("lunch", "daily", "12:00-13:00", None)]),
        ),
        (
            "cron `* * 0-7 ? * *`",
            calendar(&[("nights", "cron", "* * 0-7 ? * *", None)]),
        ),
    ];
    let schedules = ["0 0/5 * * * ?", "0 0 9 ? * *", "every 1m"];
    println!("## Calendars: the cost of next-fire computation\n");
    println!(
        "Best of {ROUNDS} rounds, with and without each calendar alternating in one run, in Europe/Berlin from \
         2026-01-01: the time per `next_after` call over {calls} successive slots, and the time to walk through \
         every slot of a year (a calendar skips slots, so a year has fewer).\n"
    );
    println!(
        "| schedule | calendar | per call, without | with | added | a year of slots, without | with | added |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for schedule in schedules {
        for (label, calendar) in &calendars {
            let plain = timing(schedule, None);
            let with = timing(schedule, Some(calendar.clone()));
            let (mut best_plain, mut best_with) = (f64::MAX, f64::MAX);
            let (mut year_plain, mut year_with) = ((f64::MAX, 0), (f64::MAX, 0));
            for _ in 0..ROUNDS {
                best_plain = best_plain.min(per_call(&plain, calls));
                best_with = best_with.min(per_call(&with, calls));
                let (time, slots) = per_span(&plain, 365);
                year_plain = (year_plain.0.min(time), slots);
                let (time, slots) = per_span(&with, 365);
                year_with = (year_with.0.min(time), slots);
            }
            println!(
                "| `{schedule}` | {label} | {best_plain:.0} ns | {best_with:.0} ns | {:+.0} % | {:.0} µs ({} slots) | {:.0} µs ({} slots) | {:+.0} % |",
                (best_with / best_plain - 1.0) * 100.0,
                year_plain.0,
                year_plain.1,
                year_with.0,
                year_with.1,
                (year_with.0 / year_plain.0 - 1.0) * 100.0
            );
        }
    }
}
