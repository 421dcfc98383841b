//! The task table as a public interface: rows written with plain SQL take
//! effect on a serving host without a restart; bad rows get an error on the
//! row and nothing else is disturbed.

use std::time::Duration;

use crate::host::{Host, wait_until};

fn runs_of(host: &Host, task: &str) -> Vec<Vec<String>> {
    host.query(&format!(
        "SELECT id, state, attempt, COALESCE(error, ''), scheduled_at, shard_index FROM runs WHERE task = '{task}' ORDER BY id"
    ))
}

fn succeeded(host: &Host, task: &str) -> usize {
    runs_of(host, task)
        .iter()
        .filter(|r| r[1] == "succeeded")
        .count()
}

#[test]
fn a_task_inserted_with_plain_sql_fires_without_a_restart() {
    let host = Host::start(&["hello"], &[]);
    host.sql("INSERT INTO tasks (name, module, schedule) VALUES ('greet', 'hello', 'every 1s')");
    wait_until(
        "two runs of a task inserted by SQL",
        Duration::from_secs(15),
        || (succeeded(&host, "greet") >= 2).then_some(()),
    );
    // Its log lines are recorded.
    let logs = host.query("SELECT message FROM run_logs ORDER BY run_id, seq");
    assert!(
        logs.iter()
            .any(|l| l[0].contains("hello from shard 0 of 1")),
        "{logs:?}"
    );
}

/// Waits until a task `every 1s` added now has fired twice: proof that the
/// host has made scheduling passes since every earlier change (its first fire
/// is made in a pass that saw them, its second a second later).
fn wait_for_two_passes(host: &Host, witness: &str) {
    host.sql(&format!(
        "INSERT INTO tasks (name, module, schedule) VALUES ('{witness}', 'hello', 'every 1s')"
    ));
    wait_until(
        "two fires of a task added after the change",
        Duration::from_secs(15),
        || (runs_of(host, witness).len() >= 2).then_some(()),
    );
}

#[test]
fn pause_resume_edit_and_delete_by_sql_take_effect() {
    let host = Host::start(&["hello"], &[]);
    host.sql("INSERT INTO tasks (name, module, schedule, paused) VALUES ('greet', 'hello', 'every 1s', TRUE)");
    wait_for_two_passes(&host, "witness-1");
    assert_eq!(
        runs_of(&host, "greet").len(),
        0,
        "a paused task does not fire"
    );

    host.sql(
        "UPDATE tasks SET paused = FALSE, params = '{\"name\": \"Grace\"}' WHERE name = 'greet'",
    );
    wait_until(
        "the resumed task to fire with its new params",
        Duration::from_secs(15),
        || {
            let logs = host.query("SELECT message FROM run_logs WHERE message = 'param name'");
            (!logs.is_empty()).then_some(())
        },
    );
    let summaries =
        host.query("SELECT summary FROM runs WHERE task = 'greet' AND state = 'succeeded'");
    assert!(
        summaries[0][0].starts_with("said hello to Grace"),
        "{summaries:?}"
    );

    host.sql("UPDATE tasks SET schedule = '0 0 0 1 1 ? 2099' WHERE name = 'greet'");
    wait_until(
        "the new schedule to be picked up",
        Duration::from_secs(10),
        || {
            let next = host.query("SELECT next_fire_at FROM tasks WHERE name = 'greet'");
            (next[0][0] == "4070908800000").then_some(())
        },
    );
    let count = runs_of(&host, "greet").len();
    wait_for_two_passes(&host, "witness-2");
    assert_eq!(
        runs_of(&host, "greet").len(),
        count,
        "no fire after the schedule moved to 2099"
    );

    host.sql("DELETE FROM tasks WHERE name = 'greet'");
    host.sql("INSERT INTO tasks (name, module, schedule) VALUES ('other', 'hello', 'every 1s')");
    wait_until("another task to fire", Duration::from_secs(10), || {
        (succeeded(&host, "other") >= 1).then_some(())
    });
    assert_eq!(
        runs_of(&host, "greet").len(),
        count,
        "a deleted task does not fire"
    );
}

#[test]
fn bad_rows_get_an_error_naming_the_column_and_others_keep_firing() {
    let host = Host::start(&["hello"], &[]);
    host.sql(
        "INSERT INTO tasks (name, module, schedule) VALUES \
         ('bad-cron', 'hello', '0 0 25 * * ?'), \
         ('no-module', 'nowhere', 'every 1s'), \
         ('good', 'hello', 'every 1s')",
    );
    host.sql("INSERT INTO tasks (name, module, schedule, concurrency) VALUES ('bad-policy', 'hello', 'every 1s', 'sometimes')");
    wait_until("the good task to fire", Duration::from_secs(10), || {
        (succeeded(&host, "good") >= 1).then_some(())
    });
    let errors = wait_until("errors on the bad rows", Duration::from_secs(10), || {
        let rows = host.query(
            "SELECT name, COALESCE(error, '') FROM tasks WHERE name <> 'good' ORDER BY name",
        );
        rows.iter().all(|r| !r[1].is_empty()).then_some(rows)
    });
    assert_eq!(
        errors[0][1],
        "column `schedule` = `0 0 25 * * ?`: cron hours `25`: 25 is out of range 0-23"
    );
    assert!(
        errors[1][1].starts_with("column `concurrency` = `sometimes`"),
        "{errors:?}"
    );
    assert!(
        errors[2][1].starts_with("module `nowhere` is not loaded"),
        "{errors:?}"
    );
    assert!(
        host.log().contains("task cannot be scheduled"),
        "the host logs it too"
    );
    // Fixing a row clears its error and it fires.
    host.sql("UPDATE tasks SET schedule = 'every 1s' WHERE name = 'bad-cron'");
    wait_until("the fixed task to fire", Duration::from_secs(10), || {
        (succeeded(&host, "bad-cron") >= 1).then_some(())
    });
}

#[test]
fn shards_retries_and_pages_are_recorded() {
    let host = Host::start(&["sharded-sum", "flaky", "pager"], &[]);
    host.sql(
        "INSERT INTO tasks (name, module, schedule, shard_total, shard_params, params) VALUES \
         ('sum', 'sharded_sum', 'every 1s', 3, '0=a,2=c', '{\"to\": 30}')",
    );
    host.sql(
        "INSERT INTO tasks (name, module, schedule, max_retries, retry_backoff_ms, params) VALUES \
         ('flaky', 'flaky', 'at 2020-01-01T00:00:00Z', 2, 100, '{\"succeed_on\": 3}')",
    );
    host.sql(
        "INSERT INTO tasks (name, module, schedule, page_size, params) VALUES \
         ('pages', 'pager', 'every 1s', 10, '{\"total\": 1000, \"fail_after\": 5}')",
    );
    let shards = wait_until(
        "a fire of all three shards",
        Duration::from_secs(15),
        || {
            let rows = host.query(
            "SELECT scheduled_at, COUNT(*), SUM(items) FROM runs WHERE task = 'sum' AND state = 'succeeded' \
             GROUP BY scheduled_at HAVING COUNT(*) = 3",
        );
            rows.into_iter().next()
        },
    );
    assert_eq!(shards[2], "30", "the shards cover the range exactly once");

    // A one-shot in the past fires once (misfire fire-now) and is retried to success.
    let flaky = wait_until("flaky to succeed", Duration::from_secs(15), || {
        runs_of(&host, "flaky")
            .into_iter()
            .find(|r| r[1] == "succeeded")
    });
    assert_eq!(flaky[2], "3", "succeeded on its third attempt");
    assert_eq!(
        runs_of(&host, "flaky").len(),
        1,
        "retries reuse the run row"
    );
    let note = host.query("SELECT error FROM tasks WHERE name = 'flaky'");
    assert_eq!(note[0][0], "finished: the schedule has no fire times left");

    // Pager fails each page's first attempt after 5 items (no retries): the
    // page is handed out again until a run of it succeeds... which never
    // happens on attempt 1, so page 0 keeps coming back.
    let pages = wait_until(
        "page 0 to be handed out twice",
        Duration::from_secs(15),
        || {
            let rows = host.query(
                "SELECT page_index FROM runs WHERE task = 'pages' AND state = 'failed' ORDER BY id",
            );
            (rows.len() >= 2).then_some(rows)
        },
    );
    assert_eq!(pages[0][0], "0");
    assert_eq!(
        pages[1][0], "0",
        "a failed page is handed out again, not skipped"
    );
}

#[test]
fn concurrency_forbid_skips_fires_while_a_run_is_active_and_says_why() {
    let host = Host::start(&["sleepy"], &[]);
    host.sql(
        "INSERT INTO tasks (name, module, schedule, concurrency, params) VALUES \
         ('nap', 'sleepy', 'every 1s', 'forbid', '{\"seconds\": 3}')",
    );
    let skipped = wait_until("a skipped fire", Duration::from_secs(15), || {
        runs_of(&host, "nap")
            .into_iter()
            .find(|r| r[1] == "skipped")
    });
    assert!(
        skipped[3].starts_with("skipped: concurrency is `forbid`"),
        "{skipped:?}"
    );
    let active = host
        .query("SELECT COUNT(*) FROM runs WHERE task = 'nap' AND state IN ('running', 'pending')");
    assert!(
        active[0][0] == "1" || active[0][0] == "0",
        "never two runs at once: {active:?}"
    );
}

#[test]
fn concurrency_replace_cancels_the_running_run() {
    let host = Host::start(&["sleepy"], &[]);
    host.sql(
        "INSERT INTO tasks (name, module, schedule, concurrency) VALUES ('nap', 'sleepy', 'every 2s', 'replace')",
    );
    let cancelled = wait_until(
        "a run replaced by the next fire",
        Duration::from_secs(20),
        || {
            runs_of(&host, "nap")
                .into_iter()
                .find(|r| r[1] == "cancelled")
        },
    );
    assert!(
        cancelled[3].contains("replaced by a newer fire"),
        "{cancelled:?}"
    );
}

#[test]
fn a_cancel_asked_for_in_sql_cancels_the_run_whatever_its_reason_says() {
    let host = Host::start(&["sleepy"], &[]);
    host.sql(
        "INSERT INTO tasks (name, module, schedule, max_retries, params) VALUES \
         ('nap', 'sleepy', 'at 2020-01-01T00:00:00Z', 3, '{\"seconds\": 30}')",
    );
    wait_until("the run to be running", Duration::from_secs(15), || {
        runs_of(&host, "nap")
            .into_iter()
            .find(|r| r[1] == "running")
    });
    // Worded like the host's own fencing, it is still a request: the run is
    // cancelled, not handed back as interrupted to run again.
    host.sql(
        "UPDATE runs SET cancel_reason = 'fenced: this host lost the database, so another host may take its runs over' \
         WHERE task = 'nap'",
    );
    let run = wait_until("the run to end", Duration::from_secs(15), || {
        runs_of(&host, "nap")
            .into_iter()
            .find(|r| r[1] != "running" && r[1] != "pending")
    });
    assert_eq!(run[1], "cancelled", "{run:?}");
    assert_eq!(run[2], "1", "no second attempt: {run:?}");
    assert!(
        run[3].starts_with("cancelled: fenced: this host lost"),
        "{run:?}"
    );
}
