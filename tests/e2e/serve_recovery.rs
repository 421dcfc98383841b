//! Faults of the host itself: kill -9 mid-run, graceful shutdown, downtime
//! across fires, a database locked by another process. Nothing lost, nothing
//! doubled: checked on the runs table.

use std::time::Duration;

use crate::host::{Host, wait_until};

fn state_of(host: &Host, task: &str) -> Vec<Vec<String>> {
    host.query(&format!(
        "SELECT state, attempt, COALESCE(error, '') FROM runs WHERE task = '{task}' ORDER BY id"
    ))
}

#[test]
fn kill_9_mid_run_then_restart_retries_or_orphans_per_policy() {
    let mut host = Host::start(&["sleepy"], &[]);
    host.sql(
        "INSERT INTO tasks (name, module, schedule, max_retries, params) VALUES \
         ('retried', 'sleepy', 'at 2020-01-01T00:00:00Z', 1, '{\"seconds\": 2}'), \
         ('lost', 'sleepy', 'at 2020-01-01T00:00:00Z', 0, '{\"seconds\": 2}')",
    );
    wait_until("both runs to be running", Duration::from_secs(15), || {
        let rows = host.query("SELECT COUNT(*) FROM runs WHERE state = 'running'");
        (rows[0][0] == "2").then_some(())
    });
    host.kill9();
    host.restart();
    let retried = wait_until(
        "the run with a retry left to succeed",
        Duration::from_secs(20),
        || {
            let rows = state_of(&host, "retried");
            (rows[0][0] == "succeeded").then_some(rows)
        },
    );
    assert_eq!(retried.len(), 1, "one run row for the slot: {retried:?}");
    assert_eq!(retried[0][1], "2", "it ran again as attempt 2");
    let lost = state_of(&host, "lost");
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0][0], "orphaned");
    assert!(
        lost[0][2].contains("stopped while running it and no attempts are left"),
        "{lost:?}"
    );
}

#[test]
fn no_fire_is_lost_or_doubled_across_a_crash() {
    let mut host = Host::start(&["hello"], &[]);
    host.sql("INSERT INTO tasks (name, module, schedule) VALUES ('tick', 'hello', 'every 1s')");
    wait_until("a few fires", Duration::from_secs(15), || {
        let rows = host.query("SELECT COUNT(*) FROM runs WHERE task = 'tick'");
        (rows[0][0].parse::<i64>().unwrap() >= 3).then_some(())
    });
    host.kill9();
    let killed_at = carillon::clock::now_ms();
    // Down for a while (the slots meanwhile are missed, within the
    // misfire threshold).
    std::thread::sleep(Duration::from_secs(3));
    host.restart();
    wait_until("fires after the restart", Duration::from_secs(15), || {
        let rows =
            host.query("SELECT COUNT(*) FROM runs WHERE task = 'tick' AND state = 'succeeded'");
        (rows[0][0].parse::<i64>().unwrap() >= 8).then_some(())
    });
    // Runs claimed ahead of slots after the kill never started: they ran
    // after the restart as attempt 1, not orphaned (no retries are left).
    let unstarted = host.query(&format!(
        "SELECT state, attempt FROM runs WHERE task = 'tick' AND scheduled_at > {killed_at} \
         AND scheduled_at < {killed_at} + 1000"
    ));
    assert!(
        !unstarted.is_empty(),
        "a slot fell in the second after the kill"
    );
    assert!(
        unstarted.iter().all(|r| r[0] == "succeeded" && r[1] == "1"),
        "{unstarted:?}"
    );
    let orphaned = host.query(&format!(
        "SELECT COUNT(*) FROM runs WHERE task = 'tick' AND state = 'orphaned' AND scheduled_at > {killed_at}"
    ));
    assert_eq!(orphaned[0][0], "0");
    let slots: Vec<i64> = host
        .query("SELECT scheduled_at FROM runs WHERE task = 'tick' ORDER BY scheduled_at")
        .iter()
        .map(|r| r[0].parse().unwrap())
        .collect();
    for pair in slots.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            1000,
            "every second has exactly one run: {slots:?}"
        );
    }
    // Fires are made ahead of their slot, runs never start before it.
    let early = host.query(
        "SELECT COUNT(*) FROM runs WHERE task = 'tick' AND state = 'succeeded' AND started_at < scheduled_at",
    );
    assert_eq!(early[0][0], "0", "no run started before its slot");
}

#[test]
fn sigterm_lets_runs_finish_or_hands_them_back_as_interrupted() {
    let mut host = Host::start(&["sleepy"], &[]);
    host.sql(
        "INSERT INTO tasks (name, module, schedule, params) VALUES \
         ('long', 'sleepy', 'at 2020-01-01T00:00:00Z', '{\"seconds\": 3}')",
    );
    wait_until("the run to start", Duration::from_secs(15), || {
        (state_of(&host, "long").first()?[0] == "running").then_some(())
    });
    let status = host.terminate();
    assert!(status.success(), "clean exit: {status:?}\n{}", host.log());
    let rows = state_of(&host, "long");
    assert_eq!(rows[0][0], "pending", "handed back, not lost: {rows:?}");
    assert!(
        rows[0][2].starts_with("interrupted: the host shut down"),
        "{rows:?}"
    );
    host.restart();
    let rows = wait_until(
        "the interrupted run to finish after restart",
        Duration::from_secs(20),
        || {
            let rows = state_of(&host, "long");
            (rows[0][0] == "succeeded").then_some(rows)
        },
    );
    assert_eq!(rows[0][1], "1", "the interrupted attempt was not counted");
}

#[test]
fn a_database_locked_by_another_process_is_waited_for_not_fatal() {
    let host = Host::start(&["hello"], &[]);
    host.sql("INSERT INTO tasks (name, module, schedule) VALUES ('tick', 'hello', 'every 1s')");
    wait_until("a fire", Duration::from_secs(15), || {
        (host.query("SELECT COUNT(*) FROM runs")[0][0] != "0").then_some(())
    });
    // Hold SQLite's write lock for 3 s from another connection.
    let url = host.database_url();
    let locker = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_secs(3)).await;
                sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
            });
    });
    locker.join().unwrap();
    let count: i64 = host.query("SELECT COUNT(*) FROM runs")[0][0]
        .parse()
        .unwrap();
    wait_until(
        "fires after the lock is released",
        Duration::from_secs(15),
        || {
            let now: i64 = host.query("SELECT COUNT(*) FROM runs WHERE state = 'succeeded'")[0][0]
                .parse()
                .unwrap();
            (now > count).then_some(())
        },
    );
    assert!(!host.log().contains("panicked"), "{}", host.log());
}

#[test]
fn slots_missed_while_down_are_recorded_and_handled_per_misfire_policy() {
    let mut host = Host::start(&["hello"], &[]);
    host.sql(
        "INSERT INTO tasks (name, module, schedule, misfire) VALUES \
         ('skipper', 'hello', '0 * * * * ?', 'skip'), \
         ('catcher', 'hello', '0 * * * * ?', 'catch-up:3'), \
         ('nower', 'hello', '0 * * * * ?', 'fire-now')",
    );
    wait_until("the tasks to be scheduled", Duration::from_secs(10), || {
        let rows = host.query("SELECT COUNT(*) FROM tasks WHERE next_fire_at IS NOT NULL");
        (rows[0][0] == "3").then_some(())
    });
    // The host was down for ten minutes: its next slots lie in the past. Of
    // the ten slots now due, the newest is less than the 60 s misfire
    // threshold old and fires on time; the nine older ones are misfires.
    host.kill9();
    host.sql("DELETE FROM runs");
    host.sql("UPDATE tasks SET next_fire_at = next_fire_at - 600000");
    host.restart();
    let misfires = wait_until("three misfire records", Duration::from_secs(15), || {
        let rows = host.query("SELECT task, missed, policy FROM misfires ORDER BY task");
        (rows.len() == 3).then_some(rows)
    });
    assert_eq!(
        misfires[0],
        ["catcher", "6", "catch-up:3"],
        "3 of 9 caught up: {misfires:?}"
    );
    assert_eq!(
        misfires[1],
        ["nower", "9", "fire-now"],
        "the on-time fire is the fire now: {misfires:?}"
    );
    assert_eq!(misfires[2], ["skipper", "9", "skip"], "{misfires:?}");
    let runs = |task: &str| {
        host.query(&format!("SELECT COUNT(*) FROM runs WHERE task = '{task}'"))[0][0].clone()
    };
    assert_eq!(runs("skipper"), "1");
    assert_eq!(runs("nower"), "1");
    assert_eq!(runs("catcher"), "4");
}
