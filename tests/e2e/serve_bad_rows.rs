//! One bad row never stops a host: rows whose values overflow, are out of
//! range or cannot be evaluated get an error naming the column, and the
//! host goes on firing the others on time, on SQLite and on PostgreSQL.

use std::time::Duration;

use crate::host::{Host, wait_until};
use crate::pg::TestDatabase;

/// Rows that once stopped a host or slipped through, each with the column
/// its error must name.
const BAD_ROWS: &[(&str, &str, &str)] = &[
    (
        "overflow-sum",
        "schedule",
        "INSERT INTO tasks (name, module, schedule) VALUES ('overflow-sum', 'hello', 'every 10000000000000000000s 10000000000000000000s')",
    ),
    (
        "overflow-days",
        "schedule",
        "INSERT INTO tasks (name, module, schedule) VALUES ('overflow-days', 'hello', 'every 106751991167d')",
    ),
    (
        "wraps",
        "schedule",
        "INSERT INTO tasks (name, module, schedule) VALUES ('wraps', 'hello', 'every 18446744073709551s616ms')",
    ),
    (
        "far-start",
        "start_at",
        "INSERT INTO tasks (name, module, schedule, start_at) VALUES ('far-start', 'hello', 'every 1s', 9223372036854775807)",
    ),
    (
        "reversed",
        "end_at",
        "INSERT INTO tasks (name, module, schedule, start_at, end_at) VALUES ('reversed', 'hello', 'every 1s', 2000000000000, 1000000000000)",
    ),
    (
        "ancient",
        "created_at",
        "INSERT INTO tasks (name, module, schedule, created_at) VALUES ('ancient', 'hello', 'after 1s', -9223372036854775808)",
    ),
    (
        "catch-up-forever",
        "misfire",
        "INSERT INTO tasks (name, module, schedule, misfire) VALUES ('catch-up-forever', 'hello', 'every 1s', 'catch-up:999999')",
    ),
    (
        "many-shards",
        "shard_total",
        "INSERT INTO tasks (name, module, schedule, shard_total) VALUES ('many-shards', 'hello', 'every 1s', 100000)",
    ),
    (
        "negative-timeout",
        "timeout_ms",
        "INSERT INTO tasks (name, module, schedule, timeout_ms) VALUES ('negative-timeout', 'hello', 'every 1s', -1)",
    ),
    (
        "huge-memory",
        "memory_mib",
        "INSERT INTO tasks (name, module, schedule, memory_mib) VALUES ('huge-memory', 'hello', 'every 1s', 1000000)",
    ),
    (
        "negative-backoff",
        "retry_backoff_ms",
        "INSERT INTO tasks (name, module, schedule, retry_backoff_ms) VALUES ('negative-backoff', 'hello', 'every 1s', -1)",
    ),
    (
        "bell\u{7}",
        "name",
        "INSERT INTO tasks (name, module, schedule) VALUES ('bell' || char(7), 'hello', 'every 1s')",
    ),
];

fn serves_its_other_tasks_despite_bad_rows(host: &Host, char_fn: &str) {
    for (_, _, insert) in BAD_ROWS {
        host.sql(&insert.replace("char(7)", char_fn));
    }
    host.sql("INSERT INTO tasks (name, module, schedule) VALUES ('good', 'hello', 'every 1s')");
    let fired = |host: &Host| -> i64 {
        host.query(
            "SELECT CAST(COUNT(*) AS TEXT) FROM runs WHERE task = 'good' AND state = 'succeeded'",
        )[0][0]
            .parse()
            .unwrap()
    };
    wait_until(
        "the good task to run three times",
        Duration::from_secs(20),
        || (fired(host) >= 3).then_some(()),
    );
    for (name, column, _) in BAD_ROWS {
        let name = name.replace('\u{7}', "");
        let rows = host.query(&format!(
            "SELECT COALESCE(error, ''), COALESCE(error_code, '') FROM tasks WHERE name LIKE '{name}%'"
        ));
        assert_eq!(rows.len(), 1, "{name}");
        assert!(
            rows[0][0].starts_with(&format!("column `{column}`")),
            "{name}: {:?}",
            rows[0]
        );
        assert_eq!(rows[0][1], "invalid", "{name}");
    }
    let runs_of_bad = host.query("SELECT CAST(COUNT(*) AS TEXT) FROM runs WHERE task <> 'good'");
    assert_eq!(runs_of_bad[0][0], "0", "no bad row fired");
    // Still on time, still one run per slot.
    let slots = host.query(
        "SELECT CAST(COUNT(*) AS TEXT), CAST(COUNT(DISTINCT scheduled_at) AS TEXT) FROM runs WHERE task = 'good'",
    );
    assert_eq!(slots[0][0], slots[0][1]);
    assert!(!host.log().contains("panicked"), "{}", host.log());
}

#[test]
fn bad_rows_on_sqlite_get_errors_and_the_host_serves_the_rest() {
    let host = Host::start(&["hello"], &[]);
    serves_its_other_tasks_despite_bad_rows(&host, "char(7)");
}

#[test]
fn bad_rows_on_postgres_get_errors_and_the_host_serves_the_rest() {
    let database = TestDatabase::create("bad_rows");
    let host = Host::start_on(Some(database.url()), &["hello"], &[]);
    serves_its_other_tasks_despite_bad_rows(&host, "chr(7)");
}

#[test]
fn sqlite_refuses_values_of_the_wrong_type_naming_the_column() {
    let host = Host::start(&["hello"], &[]);
    for (column, value) in [
        ("shard_total", "'abc'"),
        ("timeout_ms", "1.5"),
        ("start_at", "'tomorrow'"),
        ("paused", "'true'"),
        ("schedule", "x'00ff'"),
    ] {
        let (columns, values) = if column == "schedule" {
            (
                "name, module, schedule".to_owned(),
                format!("'t', 'hello', {value}"),
            )
        } else {
            (
                format!("name, module, schedule, {column}"),
                format!("'t', 'hello', 'every 1s', {value}"),
            )
        };
        let error = host
            .try_sql(&format!("INSERT INTO tasks ({columns}) VALUES ({values})"))
            .unwrap_err();
        assert!(
            error.contains("CHECK constraint failed") && error.contains(column),
            "{column}: {error}"
        );
    }
    let error = host
        .try_sql("INSERT INTO tasks (name, module, schedule) VALUES (NULL, 'hello', 'every 1s')")
        .unwrap_err();
    assert!(
        error.contains("NOT NULL constraint failed: tasks.name"),
        "{error}"
    );
}
