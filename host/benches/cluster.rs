//! Cluster benchmarks: 1, 2 and 3 `carillon serve` processes (release
//! build) on one local PostgreSQL, a trivial job.
//!
//! 1. TASKS tasks (default 10,000) each firing every second, first spread
//!    over the second, then all aligned on the same millisecond (how real
//!    cron schedules cluster, at the top of the minute or hour): fires/s, lateness (run start minus slot) p50/p99/max, runs per
//!    host, and a check that no (task, slot, shard) has two runs and none
//!    ran twice, with the hosts talking to PostgreSQL directly; then the same
//!    load again for a few seconds with every host behind a counting proxy,
//!    for database round trips per fire (the proxy's own threads would
//!    otherwise weigh on the lateness).
//! 2. Failover: two hosts with the default timings (heartbeat 2 s, node
//!    timeout 10 s, poll 1 s); one is killed with -9 while running shards;
//!    time until its shards run again on the other host.
//!
//! `cargo bench -p carillon --bench cluster`; needs PostgreSQL on
//! 127.0.0.1:5432 (trust auth); prints Markdown for BENCHMARKS.md.
//! `TASKS=N`, `SECONDS=N`, `HOSTS=1,2,3` and `PHASES=spread,aligned` change
//! the load.

// Shared with the end-to-end tests, which use the parts this file does not.
#[path = "support/db.rs"]
mod db;
#[allow(dead_code, unreachable_pub)]
#[path = "../../tests/support/db_proxy.rs"]
mod db_proxy;
#[allow(dead_code)]
#[path = "../../tests/support/examples.rs"]
mod examples;
#[path = "support/served.rs"]
mod served;

use std::path::Path;
use std::time::{Duration, Instant};

use db::{query, sql};
use db_proxy::DbProxy;
use served::Served;

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// Starts host `node` on `url`, with its own plugins folder holding the
/// benchmark's jobs.
fn start_host(dir: &Path, node: &str, url: &str, extra: &[&str]) -> Served {
    let plugins = dir.join(format!("plugins-{node}"));
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(examples::path("hostile"), plugins.join("noop.wasm")).unwrap();
    std::fs::copy(examples::path("sleepy"), plugins.join("sleepy.wasm")).unwrap();
    let mut args = vec![
        "--database",
        url,
        "--plugins",
        plugins.to_str().unwrap(),
        "--node-id",
        node,
    ];
    args.extend(extra);
    Served::start(&args, &dir.join("cache"), dir.join(format!("{node}.log"))).0
}

/// A fresh database; returns its URL.
fn fresh_database(name: &str) -> String {
    let admin = format!("{SERVER}/postgres");
    sql(
        &admin,
        &[format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")],
    );
    sql(&admin, &[format!("CREATE DATABASE {name}")]);
    format!("{SERVER}/{name}")
}

fn drop_database(name: &str) {
    sql(
        &format!("{SERVER}/postgres"),
        &[format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")],
    );
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// What one sustained pass measured.
struct Sustained {
    row: String,
    round_trips_per_fire: f64,
}

fn sustained(hosts: usize, tasks: usize, seconds: u64, spread: bool, counted: bool) -> Sustained {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("carillon_bench_{}_{hosts}", std::process::id());
    let url = fresh_database(&name);
    let proxy = DbProxy::start("127.0.0.1:5432");
    let host_url = if counted {
        format!("postgres://postgres@127.0.0.1:{}/{name}", proxy.port())
    } else {
        url.clone()
    };
    let running: Vec<Served> = (0..hosts)
        .map(|i| {
            start_host(
                dir.path(),
                &format!("h{i}"),
                &host_url,
                &["--max-concurrent-runs", "256"],
            )
        })
        .collect();
    // Let every host see the others before the load starts.
    std::thread::sleep(Duration::from_secs(3));
    let statements = db::insert_tasks_sql("t", tasks, "every 1s", spread);
    sql(&url, &statements);
    std::thread::sleep(Duration::from_secs(10));
    let window_start = carillon::clock::now_ms();
    let trips_start = proxy.round_trips();
    let mut rss = vec![0.0f64; hosts];
    let measure = Instant::now();
    while measure.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(500));
        for (peak, host) in rss.iter_mut().zip(&running) {
            *peak = peak.max(host.rss_mib().0);
        }
    }
    let window_end = carillon::clock::now_ms();
    let trips = proxy.round_trips() - trips_start;
    std::thread::sleep(Duration::from_secs(3));
    for host in running {
        host.stop();
    }
    let end = window_end - window_end % 1000;
    let slots = format!("scheduled_at >= {window_start} AND scheduled_at < {end}");
    let fired = query(&url, &format!("SELECT COUNT(*) FROM runs WHERE {slots}"))[0][0];
    let created = query(
        &url,
        &format!(
            "SELECT COUNT(*) FROM runs WHERE created_at >= {window_start} AND created_at < {window_end}"
        ),
    )[0][0];
    let mut lateness: Vec<i64> = query(
        &url,
        &format!(
            "SELECT started_at - scheduled_at FROM runs WHERE {slots} AND state = 'succeeded'"
        ),
    )
    .into_iter()
    .map(|r| r[0])
    .collect();
    lateness.sort();
    let doubled = query(
        &url,
        "SELECT COUNT(*) FROM (SELECT 1 FROM runs GROUP BY task, scheduled_at, shard_index HAVING COUNT(*) > 1) d",
    )[0][0]
        + query(&url, "SELECT COUNT(*) FROM runs WHERE attempt > 1")[0][0];
    let per_host: Vec<String> = query(
        &url,
        &format!("SELECT COUNT(*) FROM runs WHERE {slots} GROUP BY node ORDER BY node"),
    )
    .into_iter()
    .map(|r| format!("{:.0} %", 100.0 * r[0] as f64 / fired.max(1) as f64))
    .collect();
    let span = (end - window_start) as f64 / 1000.0;
    let expected = span * tasks as f64;
    let row = format!(
        "| {hosts} | {} | {:.0} | {:.1} % | {} ms | {} ms | {} ms | {{trips}} | {} | {} | {} MiB |",
        if spread { "spread" } else { "aligned" },
        fired as f64 / span,
        100.0 * lateness.len() as f64 / expected,
        percentile(&lateness, 0.5),
        percentile(&lateness, 0.99),
        lateness.last().copied().unwrap_or(0),
        per_host.join(" / "),
        doubled,
        rss.iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" / "),
    );
    drop_database(&name);
    Sustained {
        row,
        round_trips_per_fire: trips as f64 / created.max(1) as f64,
    }
}

fn failover() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("carillon_bench_{}_failover", std::process::id());
    let url = fresh_database(&name);
    let mut a = start_host(dir.path(), "a", &url, &[]);
    let b = start_host(dir.path(), "b", &url, &[]);
    // Both hosts see each other after a heartbeat or two.
    std::thread::sleep(Duration::from_secs(5));
    sql(
        &url,
        &[
            "INSERT INTO tasks (name, module, schedule, shard_total, max_retries, params) VALUES \
           ('long', 'sleepy', 'at 2020-01-01T00:00:00Z', 4, 3, '{\"seconds\": 120}')"
                .to_owned(),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while query(
        &url,
        "SELECT COUNT(*) FROM runs WHERE state = 'running' AND node = 'a'",
    )[0][0]
        == 0
    {
        assert!(Instant::now() < deadline, "no shard ran on host a");
        std::thread::sleep(Duration::from_millis(50));
    }
    let on_a = query(
        &url,
        "SELECT COUNT(*) FROM runs WHERE state = 'running' AND node = 'a'",
    )[0][0];
    let killed_at = carillon::clock::now_ms();
    a.kill9();
    let deadline = Instant::now() + Duration::from_secs(60);
    let restarted = loop {
        let rows = query(
            &url,
            "SELECT COUNT(*), MAX(started_at) FROM runs WHERE state = 'running' AND node = 'b' AND attempt = 2",
        );
        if rows[0][0] == on_a {
            break rows[0][1];
        }
        assert!(
            Instant::now() < deadline,
            "the shards of host a never restarted"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    b.stop();
    println!(
        "| kill -9 of a host running {on_a} shards | {:.1} s | 10 s + 1 s = 11 s |",
        (restarted - killed_at) as f64 / 1000.0
    );
    drop_database(&name);
}

fn main() {
    let env = |name: &str| std::env::var(name).ok();
    let tasks: usize = env("TASKS").and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let seconds: u64 = env("SECONDS").and_then(|v| v.parse().ok()).unwrap_or(20);
    let hosts: Vec<usize> = env("HOSTS")
        .map(|v| v.split(',').filter_map(|h| h.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 3]);
    let phases: Vec<bool> = env("PHASES")
        .unwrap_or_else(|| "spread,aligned".into())
        .split(',')
        .map(|p| match p.trim() {
            "spread" => true,
            "aligned" => false,
            other => panic!("PHASES: {other:?} is neither spread nor aligned"),
        })
        .collect();

    println!(
        "## {tasks} tasks firing every second on PostgreSQL ({seconds} s measured after a 10 s warm-up)\n"
    );
    println!(
        "| hosts | slots | fires/s | of slots due | lateness p50 | lateness p99 | lateness max | round trips per fire | runs per host | doubled | RSS per host |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for n in hosts {
        for &spread in &phases {
            let direct = sustained(n, tasks, seconds, spread, false);
            let counted = sustained(n, tasks, 5, spread, true);
            println!(
                "{}",
                direct
                    .row
                    .replace("{trips}", &format!("{:.2}", counted.round_trips_per_fire))
            );
        }
    }

    println!("\n## Failover after kill -9 (heartbeat 2 s, node timeout 10 s, poll 1 s)\n");
    println!("| | kill → shards running again elsewhere | goal (node timeout + one poll) |");
    println!("|---|---|---|");
    failover();
}
