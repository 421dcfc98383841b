//! The invariants of a run history after chaos, checked on the tables:
//! every run is in a final state; each slot of a task fired all its shards,
//! once; and every due slot between a task's first and last fire either ran
//! or is counted in a recorded misfire. (A second run of a slot and shard is
//! impossible by the `runs` table's UNIQUE key; a slot with fewer shards
//! than the task has, or one that neither ran nor was recorded as missed,
//! would be a lost fire.)

use std::collections::BTreeMap;

use crate::host::query_db;

fn number(text: &str) -> i64 {
    text.parse()
        .unwrap_or_else(|_| panic!("not a number: {text}"))
}

/// Checks the history of `tasks` (each `every 1s` with `shards` shards) in
/// the database at `url`.
pub fn check_history(url: &str, tasks: &[String], shards: i64) {
    let unfinished = query_db(
        url,
        "SELECT CAST(COUNT(*) AS TEXT) FROM runs WHERE state IN ('pending', 'running')",
    );
    assert_eq!(unfinished[0][0], "0", "every run ends in a final state");
    for task in tasks {
        let slots: BTreeMap<i64, i64> = query_db(
            url,
            &format!(
                "SELECT CAST(scheduled_at AS TEXT), CAST(COUNT(*) AS TEXT) FROM runs \
                 WHERE task = '{task}' GROUP BY scheduled_at"
            ),
        )
        .iter()
        .map(|row| (number(&row[0]), number(&row[1])))
        .collect();
        assert!(!slots.is_empty(), "{task} fired");
        for (slot, count) in &slots {
            assert_eq!(*count, shards, "{task} slot {slot}: every shard, once");
        }
        let (first, last) = (
            *slots.keys().next().unwrap(),
            *slots.keys().next_back().unwrap(),
        );
        let missed = query_db(
            url,
            &format!(
                "SELECT CAST(COALESCE(SUM(missed), 0) AS TEXT) FROM misfires \
                 WHERE task = '{task}' AND first_slot >= {first} AND last_slot <= {last}"
            ),
        );
        let due = (last - first) / 1000 + 1;
        assert_eq!(
            slots.len() as i64 + number(&missed[0][0]),
            due,
            "{task}: each of the {due} due slots from {first} to {last} ran or is a recorded misfire"
        );
    }
}
