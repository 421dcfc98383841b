//! Any text as a task's `schedule` column: it parses or is refused with a
//! message, and a parsed schedule's fire times are computed without a panic
//! from any instant, in any zone, from any anchor.
#![no_main]

use arbitrary::Arbitrary;
use carillon::schedule::{LATEST_MS, Schedule};
use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    text: &'a str,
    after_ms: i64,
    anchor_ms: i64,
    zone: u16,
}

/// Zones with DST gaps and overlaps, half-hour offsets and none at all.
const ZONES: [Tz; 6] = [
    Tz::UTC,
    Tz::Europe__London,
    Tz::America__New_York,
    Tz::Australia__Lord_Howe,
    Tz::Asia__Kolkata,
    Tz::Pacific__Chatham,
];

fuzz_target!(|input: Input<'_>| {
    let schedule = match input.text.parse::<Schedule>() {
        Ok(schedule) => schedule,
        Err(error) => {
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    // What it prints reads back as the same schedule.
    let printed = schedule.to_string();
    assert_eq!(
        printed.parse::<Schedule>().ok(),
        Some(schedule.clone()),
        "{printed}"
    );
    let zone = ZONES[usize::from(input.zone) % ZONES.len()];
    // From the instant given (any i64), and from times inside the range a
    // task may name, fire times only move forward.
    for after in [input.after_ms, input.after_ms.rem_euclid(LATEST_MS + 1)] {
        let mut at = after;
        for _ in 0..5 {
            match schedule.next_after(at, zone, input.anchor_ms) {
                Some(next) => {
                    assert!(next > at, "{printed}: {next} is not after {at}");
                    at = next;
                }
                None => break,
            }
        }
    }
});
