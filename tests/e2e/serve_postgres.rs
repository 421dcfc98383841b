//! The same host on PostgreSQL (127.0.0.1:5432; each test makes and drops its
//! own database): the one code path of the store works on both databases.

use std::time::Duration;

use crate::host::{Host, wait_until};
use crate::pg::TestDatabase;

#[test]
fn a_host_on_postgresql_fires_shards_retries_and_records_runs() {
    let database = TestDatabase::create("serve");
    let host = Host::start_on(Some(database.url()), &["hello", "flaky"], &[]);
    host.sql("INSERT INTO tasks (name, module, schedule, shard_total) VALUES ('greet', 'hello', 'every 1s', 2)");
    host.sql(
        "INSERT INTO tasks (name, module, schedule, max_retries, retry_backoff_ms) VALUES \
         ('flaky', 'flaky', 'at 2020-01-01T00:00:00Z', 2, 100)",
    );
    wait_until(
        "both shards of a fire to succeed",
        Duration::from_secs(20),
        || {
            let rows = host.query(
            "SELECT CAST(COUNT(*) AS TEXT) FROM runs WHERE task = 'greet' AND state = 'succeeded' \
             GROUP BY scheduled_at HAVING COUNT(*) = 2",
        );
            (!rows.is_empty()).then_some(())
        },
    );
    let flaky = wait_until(
        "flaky to succeed on its third attempt",
        Duration::from_secs(20),
        || {
            let rows =
                host.query("SELECT state, CAST(attempt AS TEXT) FROM runs WHERE task = 'flaky'");
            rows.into_iter().find(|r| r[0] == "succeeded")
        },
    );
    assert_eq!(flaky[1], "3");
    let logs = host.query("SELECT message FROM run_logs WHERE message LIKE 'hello from shard%'");
    assert!(!logs.is_empty(), "log lines are recorded");

    // Plain-SQL edits reach the host through the same trigger as on SQLite.
    host.sql("UPDATE tasks SET schedule = '0 0 0 1 1 ? 2099' WHERE name = 'greet'");
    wait_until("the edit to be picked up", Duration::from_secs(10), || {
        let rows = host.query("SELECT CAST(next_fire_at AS TEXT) FROM tasks WHERE name = 'greet'");
        (rows[0][0] == "4070908800000").then_some(())
    });
}
