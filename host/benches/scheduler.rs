//! Scheduler benchmarks on one host with embedded SQLite, using the real
//! `carillon` binary (release build) and a trivial job:
//!
//! 1. TASKS tasks (default 10,000) each firing every second: sustained
//!    fires/s, lateness (run start minus slot) p50/p99, host RSS.
//! 2. 100,000 registered tasks: start-up time (to serving, and to every row
//!    scheduled) and RSS.
//! 3. Hot swap: a module replaced in the plugins folder → the first run on
//!    the new digest.
//!
//! `cargo bench -p carillon --bench scheduler`; prints Markdown for
//! BENCHMARKS.md. `TASKS=N`, `SECONDS=N` change the load and its length;
//! `BENCH_DIR=/dev/shm` puts the databases on tmpfs; `ONLY=startup` (or
//! `sustained`, `swap`, comma-separated) runs only those parts;
//! `CARILLON_BIN=…` measures another build of the host.

#[path = "support/db.rs"]
mod db;
#[path = "../../tests/support/examples.rs"]
mod examples;
#[allow(dead_code)] // kill -9 is for the cluster benchmark
#[path = "support/served.rs"]
mod served;

use std::path::Path;
use std::time::{Duration, Instant};

use carillon::digest::Digest;
use served::Served;

/// Starts a host on `dir`'s database and plugins folder.
fn start_host(dir: &Path, extra: &[&str]) -> (Served, Duration) {
    let log = dir.join(format!(
        "host-{}.log",
        std::time::SystemTime::now()
            .elapsed()
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let url = url(dir);
    let plugins = dir.join("plugins");
    let mut args = vec![
        "--database",
        &url,
        "--plugins",
        plugins.to_str().unwrap(),
        "--node-id",
        "bench",
    ];
    args.extend(extra);
    Served::start(&args, &dir.join("cache"), log)
}

/// A fresh directory for one benchmark's database and plugins: under
/// `$BENCH_DIR` if set (e.g. `/dev/shm` to take the disk out), else the
/// system temp dir.
fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

fn url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("carillon.db").display())
}

/// Rows of `statement` on `dir`'s database, first column only.
fn query_i64(dir: &Path, statement: &str) -> Vec<i64> {
    db::query(&url(dir), statement)
        .into_iter()
        .map(|row| row[0])
        .collect()
}

/// Registers `count` tasks ([`db::insert_tasks_sql`]).
fn insert_tasks(dir: &Path, prefix: &str, count: usize, schedule: &str, spread: bool) {
    db::sql(
        &url(dir),
        &db::insert_tasks_sql(prefix, count, schedule, spread),
    );
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn prepare(dir: &Path) {
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    std::fs::copy(examples::path("hostile"), dir.join("plugins/noop.wasm")).unwrap();
}

fn sustained(tasks: usize, seconds: u64, spread: bool) {
    let dir = bench_dir();
    prepare(dir.path());
    let (host, _) = start_host(dir.path(), &["--max-concurrent-runs", "256"]);
    insert_tasks(dir.path(), "t", tasks, "every 1s", spread);
    let warmup = Duration::from_secs(10);
    std::thread::sleep(warmup);
    let window_start = carillon::clock::now_ms();
    let mut peak_rss = 0.0f64;
    let measure = Instant::now();
    while measure.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(500));
        peak_rss = peak_rss.max(host.rss_mib().0);
    }
    let window_end = carillon::clock::now_ms();
    // Let runs of the window finish being recorded.
    std::thread::sleep(Duration::from_secs(3));
    let (rss, hwm) = host.rss_mib();
    host.stop();
    let slots = format!(
        "scheduled_at >= {window_start} AND scheduled_at < {}",
        window_end - window_end % 1000
    );
    let fired = query_i64(
        dir.path(),
        &format!("SELECT COUNT(*) FROM runs WHERE {slots}"),
    )[0];
    let mut lateness = query_i64(
        dir.path(),
        &format!(
            "SELECT started_at - scheduled_at FROM runs WHERE {slots} AND state = 'succeeded'"
        ),
    );
    lateness.sort();
    let expected_slots =
        ((window_end - window_end % 1000) - window_start) as f64 / 1000.0 * tasks as f64;
    let span = (window_end - window_end % 1000 - window_start) as f64 / 1000.0;
    println!(
        "| {} | {:.0} | {} | {:.1} % | {} ms | {} ms | {} ms | {:.0} / {:.0} MiB |",
        if spread {
            "spread over the second"
        } else {
            "all on the same millisecond"
        },
        fired as f64 / span,
        lateness.len(),
        100.0 * lateness.len() as f64 / expected_slots,
        percentile(&lateness, 0.5),
        percentile(&lateness, 0.99),
        lateness.last().copied().unwrap_or(0),
        rss,
        hwm.max(peak_rss)
    );
}

fn main() {
    let tasks: usize = std::env::var("TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let seconds: u64 = std::env::var("SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);

    let only = std::env::var("ONLY").unwrap_or_else(|_| "sustained,startup,swap".to_owned());
    let runs = |part: &str| only.split(',').any(|p| p.trim() == part);

    // 1. Sustained load.
    if runs("sustained") {
        println!(
            "## {tasks} tasks firing every second, one host, SQLite ({seconds} s measured after a 10 s warm-up)\n"
        );
        println!(
            "| phases | fires/s | runs succeeded | of slots due | lateness p50 | lateness p99 | lateness max | RSS now / peak |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        sustained(tasks, seconds, true);
        sustained(tasks, seconds, false);
    }

    // 2. 100,000 registered tasks: start-up.
    if runs("startup") {
        startup();
    }
    // 3. Hot swap.
    if runs("swap") {
        hot_swap();
    }
}

/// 100,000 rows inserted by SQL while no host runs, then a host started:
/// how long until it serves, and until every row has its first fire time.
fn startup() {
    let dir = bench_dir();
    prepare(dir.path());
    {
        // Create the schema, then register the tasks while no host runs.
        let (host, _) = start_host(dir.path(), &[]);
        host.stop();
    }
    insert_tasks(dir.path(), "r", 100_000, "0 0 3 * * ?", false);
    let started = Instant::now();
    let (host, to_serving) = start_host(dir.path(), &[]);
    while query_i64(
        dir.path(),
        "SELECT COUNT(*) FROM tasks WHERE next_fire_at IS NULL",
    )[0] > 0
    {
        assert!(started.elapsed() < Duration::from_secs(300));
        std::thread::sleep(Duration::from_millis(20));
    }
    let to_scheduled = started.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let (rss, hwm) = host.rss_mib();
    host.stop();
    println!("\n## 100,000 registered tasks (daily cron), one host, SQLite\n");
    println!("| start to serving | start to every task scheduled | RSS now / peak |");
    println!("|---|---|---|");
    println!(
        "| {:.0} ms | {:.0} ms | {rss:.0} / {hwm:.0} MiB |",
        to_serving.as_secs_f64() * 1e3,
        to_scheduled.as_secs_f64() * 1e3
    );
}

/// A module replaced while its task fires every second.
fn hot_swap() {
    let dir = bench_dir();
    prepare(dir.path());
    let (host, _) = start_host(dir.path(), &["--poll-interval", "1s"]);
    insert_tasks(dir.path(), "s", 1, "every 1s", false);
    std::thread::sleep(Duration::from_secs(2));
    let mut swaps = Vec::new();
    let mut live = Vec::new();
    for (i, module) in ["hello", "hostile", "hello", "hostile", "hello"]
        .iter()
        .enumerate()
    {
        let bytes = examples::bytes(module);
        let digest = Digest::of(&bytes).to_string();
        let temporary = dir.path().join("plugins/noop.partial");
        std::fs::write(&temporary, &bytes).unwrap();
        let swapped_at = carillon::clock::now_ms();
        std::fs::rename(&temporary, dir.path().join("plugins/noop.wasm")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let stored = query_i64(
                dir.path(),
                &format!(
                    "SELECT updated_at FROM modules WHERE name = 'noop' AND digest = '{digest}'"
                ),
            );
            if let Some(at) = stored.first() {
                live.push(at - swapped_at);
                break;
            }
            assert!(Instant::now() < deadline, "swap {i} never went live");
            std::thread::sleep(Duration::from_millis(2));
        }
        loop {
            let first = query_i64(
                dir.path(),
                &format!(
                    "SELECT MIN(started_at) FROM runs WHERE module_digest = '{digest}' AND started_at >= {swapped_at}"
                ),
            );
            if let Some(at) = first.first().filter(|at| **at > 0) {
                swaps.push(at - swapped_at);
                break;
            }
            assert!(Instant::now() < deadline, "swap {i} never took effect");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    host.stop();
    swaps.sort();
    live.sort();
    println!("\n## Hot swap: module file replaced while its task fires every second (5 swaps)\n");
    println!("| | median | max |");
    println!("|---|---|---|");
    println!(
        "| file renamed → new digest live (validated, compiled, stored) | {} ms | {} ms |",
        live[live.len() / 2],
        live.last().unwrap()
    );
    println!(
        "| file renamed → first run on the new digest (waits for the next 1 s slot) | {} ms | {} ms |",
        swaps[swaps.len() / 2],
        swaps.last().unwrap()
    );
}
