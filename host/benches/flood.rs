//! Memory under log floods: 200 runs logging as fast as they may for a
//! minute (a log cap they never reach, a 60 s timeout), next to a task
//! firing every second; the host's RSS (now and peak) and that task's
//! lateness. Twice: on a healthy SQLite database, and on PostgreSQL through
//! a proxy that cuts the database off for the whole minute (an outage).
//!
//! `cargo bench -p carillon --bench flood`; needs PostgreSQL on
//! 127.0.0.1:5432 (trust auth); prints Markdown for BENCHMARKS.md.

#[path = "support/db.rs"]
#[allow(dead_code)]
mod db;
#[allow(dead_code, unreachable_pub)]
#[path = "../../tests/support/db_proxy.rs"]
mod db_proxy;
#[allow(dead_code)]
#[path = "../../tests/support/examples.rs"]
mod examples;
#[allow(dead_code)]
#[path = "support/served.rs"]
mod served;

use std::path::Path;
use std::time::{Duration, Instant};

use db::{query, sql};
use db_proxy::DbProxy;
use served::Served;

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";
const FLOOD_SECONDS: u64 = 60;

fn start_host(dir: &Path, url: &str) -> Served {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(examples::path("hostile"), plugins.join("hostile.wasm")).unwrap();
    std::fs::copy(examples::path("hello"), plugins.join("hello.wasm")).unwrap();
    let args = [
        "--database",
        url,
        "--plugins",
        plugins.to_str().unwrap(),
        "--node-id",
        "flood",
        "--max-concurrent-runs",
        "256",
        "--default-log-cap",
        "1024GiB",
    ];
    Served::start(&args, &dir.join("cache"), dir.join("host.log")).0
}

const TASKS: &str = "INSERT INTO tasks (name, module, schedule, shard_total, params, timeout_ms) VALUES \
    ('flood', 'hostile', 'at 2020-01-01T00:00:00Z', 200, '{\"mode\": \"flood\"}', 60000), \
    ('good', 'hello', 'every 1s', 1, '{}', NULL)";

/// Floods for a minute on `url` (the host reaching it through `host_url`),
/// calling `during` once the flood is under way; returns the table row.
fn flood(
    what: &str,
    url: &str,
    host_url: &str,
    during: impl FnOnce(),
    after: impl FnOnce(),
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path(), host_url);
    sql(url, &[TASKS.to_owned()]);
    let started = Instant::now();
    let started_ms = carillon::clock::now_ms();
    let mut during = Some(during);
    let mut peak = 0.0f64;
    let mut now = 0.0;
    while started.elapsed() < Duration::from_secs(FLOOD_SECONDS) {
        if started.elapsed() > Duration::from_secs(2)
            && let Some(during) = during.take()
        {
            during();
        }
        let (rss, hwm) = host.rss_mib();
        now = rss;
        peak = peak.max(hwm);
        std::thread::sleep(Duration::from_millis(250));
    }
    after();
    // Wait for the good task's last records to land.
    std::thread::sleep(Duration::from_secs(5));
    let mut late: Vec<i64> = query(
        url,
        &format!(
            "SELECT started_at - scheduled_at FROM runs WHERE task = 'good' AND state = 'succeeded' \
             AND scheduled_at >= {started_ms} ORDER BY 1"
        ),
    )
    .into_iter()
    .map(|r| r[0])
    .collect();
    late.sort_unstable();
    if std::env::var_os("FLOOD_DEBUG").is_some() {
        eprintln!("lateness: {late:?}");
    }
    let dropped = query(
        url,
        "SELECT CAST(COALESCE(SUM(log_lines_dropped), 0) AS BIGINT) FROM runs",
    )[0][0];
    host.stop();
    let p = |q: f64| {
        late.get(((late.len().max(1) - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or(-1)
    };
    format!(
        "| {what} | {now:.0} / {peak:.0} MiB | {} | {} ms | {} ms | {dropped} |",
        late.len(),
        p(0.5),
        p(0.99)
    )
}

fn main() {
    println!("## Log floods: 200 runs logging as fast as they may for a minute\n");
    println!(
        "| database | RSS at the end / peak | runs of the every-second task | its lateness p50 | p99 | log lines dropped (counted on their runs) |"
    );
    println!("|---|---|---|---|---|---|");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("flood.db").display());
    // The host creates and migrates the database; the tasks go in after.
    let row = {
        let host_dir = tempfile::tempdir().unwrap();
        let probe = start_host(host_dir.path(), &sqlite);
        probe.stop();
        flood("SQLite, healthy", &sqlite, &sqlite, || {}, || {})
    };
    println!("{row}");
    if std::env::var("FLOOD_ONLY").is_ok_and(|only| only == "sqlite") {
        return;
    }

    let name = format!("carillon_flood_{}", std::process::id());
    let admin = format!("{SERVER}/postgres");
    sql(
        &admin,
        &[
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ],
    );
    let url = format!("{SERVER}/{name}");
    let proxy = DbProxy::start("127.0.0.1:5432");
    let through = format!("postgres://postgres@127.0.0.1:{}/{name}", proxy.port());
    {
        let host_dir = tempfile::tempdir().unwrap();
        let probe = start_host(host_dir.path(), &through);
        probe.stop();
    }
    let row = flood(
        "PostgreSQL, cut off for the minute",
        &url,
        &through,
        || proxy.cut(),
        || proxy.restore(),
    );
    println!("{row}");
    sql(
        &admin,
        &[format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")],
    );
}
