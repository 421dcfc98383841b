//! Chaos under a cluster, checked on the tables afterwards
//! (`invariants.rs`): PostgreSQL stopped for a minute under three serving
//! hosts, and hosts killed with `kill -9` and restarted ten times while
//! fifty tasks fire every second.

use std::time::Duration;

use crate::host::{Host, wait_until};
use crate::invariants::check_history;
use crate::pg::{PrivatePostgres, TestDatabase};

/// Cluster timings short enough for tests: dead after 2 s of silence.
const FAST: &[&str] = &[
    "--heartbeat-interval",
    "500ms",
    "--node-timeout",
    "2s",
    "--misfire-threshold",
    "10s",
];

fn succeeded(host: &Host) -> i64 {
    host.query("SELECT CAST(COUNT(*) AS TEXT) FROM runs WHERE state = 'succeeded'")[0][0]
        .parse()
        .unwrap()
}

/// Pauses every task, then waits until no run is pending or running.
fn settle(host: &Host) {
    host.sql("UPDATE tasks SET paused = TRUE");
    wait_until("every run to end", Duration::from_secs(60), || {
        let active = host
            .query("SELECT CAST(COUNT(*) AS TEXT) FROM runs WHERE state IN ('pending', 'running')");
        (active[0][0] == "0").then_some(())
    });
}

fn rss_mib(host: &Host) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", host.pid())).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[test]
fn postgres_stopped_for_a_minute_under_three_hosts_and_started_again() {
    let server = PrivatePostgres::start();
    let url = server.database("outage");
    let hosts: Vec<Host> = ["a", "b", "c"]
        .iter()
        .map(|node| Host::start_node(Some(url.clone()), node, &["hello"], FAST))
        .collect();
    hosts[0].sql(
        "INSERT INTO tasks (name, module, schedule, shard_total) VALUES ('tick', 'hello', 'every 1s', 3)",
    );
    wait_until("a few fires", Duration::from_secs(20), || {
        (succeeded(&hosts[0]) >= 9).then_some(())
    });
    let rss_before: Vec<f64> = hosts.iter().map(rss_mib).collect();

    server.stop();
    // The outage itself: a minute without the database.
    std::thread::sleep(Duration::from_secs(60));
    let rss_during: Vec<f64> = hosts.iter().map(rss_mib).collect();
    server.start_again();

    for host in &hosts {
        wait_until(
            &format!("{} to reach the database again", host.node_id),
            Duration::from_secs(30),
            || {
                host.log()
                    .contains("database reachable again")
                    .then_some(())
            },
        );
    }
    let after_restart = succeeded(&hosts[0]);
    wait_until("fires after the outage", Duration::from_secs(30), || {
        (succeeded(&hosts[0]) >= after_restart + 9).then_some(())
    });
    settle(&hosts[0]);
    check_history(&url, &["tick".to_owned()], 3);
    let misfires =
        hosts[0].query("SELECT CAST(COUNT(*) AS TEXT) FROM misfires WHERE task = 'tick'");
    assert_ne!(
        misfires[0][0], "0",
        "the minute of missed slots is recorded"
    );
    for (i, host) in hosts.iter().enumerate() {
        assert!(!host.log().contains("panicked"), "{}", host.log());
        assert!(
            rss_during[i] < rss_before[i] + 64.0,
            "{}: RSS {:.0} MiB before, {:.0} MiB during the outage",
            host.node_id,
            rss_before[i],
            rss_during[i]
        );
    }
}

#[test]
fn hosts_killed_and_restarted_ten_times_lose_and_double_no_slot() {
    let database = TestDatabase::create("kill_storm");
    let url = database.url();
    let mut hosts: Vec<Host> = ["a", "b", "c"]
        .iter()
        .map(|node| Host::start_node(Some(url.clone()), node, &["hello"], FAST))
        .collect();
    hosts[0].sql(
        "INSERT INTO tasks (name, module, schedule) \
         SELECT 'tick-' || i, 'hello', 'every 1s' FROM generate_series(1, 50) AS i",
    );
    wait_until("every task to fire", Duration::from_secs(20), || {
        let fired = hosts[0].query("SELECT CAST(COUNT(DISTINCT task) AS TEXT) FROM runs");
        (fired[0][0] == "50").then_some(())
    });
    for kill in 0..10 {
        let host = &mut hosts[kill % 3];
        host.kill9();
        std::thread::sleep(Duration::from_millis(700));
        host.restart();
    }
    let after = succeeded(&hosts[0]);
    wait_until("fires after the storm", Duration::from_secs(30), || {
        (succeeded(&hosts[0]) >= after + 100).then_some(())
    });
    settle(&hosts[0]);
    let tasks: Vec<String> = (1..=50).map(|i| format!("tick-{i}")).collect();
    check_history(&url, &tasks, 1);
    for host in &hosts {
        assert!(!host.log().contains("panicked"), "{}", host.log());
    }
}
