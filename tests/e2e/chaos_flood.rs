//! Two hundred runs flooding their logs as fast as they can for a minute:
//! the host's memory stays bounded (log lines it cannot hold are dropped
//! and counted on their runs), and another task keeps firing every slot.

use std::time::{Duration, Instant};

use crate::host::{Host, wait_until};
use crate::invariants::check_history;

/// The most the host may grow to, in MiB (BENCHMARKS.md has the figures).
const RSS_BOUND_MIB: f64 = 512.0;

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[test]
fn two_hundred_runs_flooding_their_logs_for_a_minute_stay_in_bounds() {
    // A log cap big enough never to stop them: each floods until its
    // timeout, a minute.
    let host = Host::start(
        &["hostile", "hello"],
        &[
            "--max-concurrent-runs",
            "256",
            "--default-log-cap",
            "1024GiB",
        ],
    );
    host.sql(
        "INSERT INTO tasks (name, module, schedule, shard_total, params, timeout_ms) VALUES \
         ('flood', 'hostile', 'at 2020-01-01T00:00:00Z', 200, '{\"mode\": \"flood\"}', 60000), \
         ('good', 'hello', 'every 1s', 1, '{}', NULL)",
    );
    let started = Instant::now();
    let mut peak = 0.0f64;
    while started.elapsed() < Duration::from_secs(60) {
        peak = peak.max(rss_mib(host.pid()));
        std::thread::sleep(Duration::from_millis(250));
    }
    host.sql("UPDATE tasks SET paused = TRUE");
    wait_until("every run to end", Duration::from_secs(120), || {
        let active = host.query("SELECT COUNT(*) FROM runs WHERE state IN ('pending', 'running')");
        (active[0][0] == "0").then_some(())
    });
    let late = host.query(
        "SELECT started_at - scheduled_at FROM runs WHERE task = 'good' AND state = 'succeeded' \
         ORDER BY 1",
    );
    let dropped = host.query("SELECT COALESCE(SUM(log_lines_dropped), 0) FROM runs");
    eprintln!(
        "peak RSS {peak:.0} MiB; good task lateness p50 {} ms, max {} ms; log lines dropped {}",
        late[late.len() / 2][0],
        late[late.len() - 1][0],
        dropped[0][0]
    );
    assert!(peak < RSS_BOUND_MIB, "peak RSS {peak:.0} MiB");
    check_history(&host.database_url(), &["good".to_owned()], 1);
    let flooded = host.query(
        "SELECT COUNT(*) FROM runs WHERE task = 'flood' AND state = 'timed-out' AND log_lines_dropped > 0",
    );
    assert_eq!(
        flooded[0][0], "200",
        "all two hundred flooded until their timeout, their dropped lines counted"
    );
    assert!(!host.log().contains("panicked"), "{}", host.log());
}
