//! Admin API benchmarks against the real `carillon serve` (release build):
//!
//! 1. Listings over 2,000,000 runs and 100,000 tasks, on SQLite and on
//!    PostgreSQL: a load generator on loopback (`CLIENTS` keep-alive
//!    connections, default 4) asks each listing for `SECONDS` s (default
//!    5); requests/s and latency p50/p99/max.
//! 2. Delay tasks: 1,000,000 pending, of which those of the measured window
//!    fall due at 5,000/s, called back to an HTTP server in this process:
//!    callback lateness (arrival minus due time) p50/p99/max and host RSS;
//!    then the creation rate through `POST /api/v1/delays`.
//!    (`DELAY_SECONDS`, default 30, the window; `CREATE_CLIENTS`, 16.)
//! 3. The scheduler's 10,000 tasks firing every second (spread;
//!    `SCHEDULER_TASKS`, `SCHEDULER_SECONDS`), without and with listing
//!    load on the API, side by side: run lateness.
//! 4. The console's pages over the same 100,000 tasks and 2,000,000 runs:
//!    each page's server time, the shell and every API request the page
//!    makes, fetched as a browser does (in parallel where the page does, at
//!    most 6 at once), one page after another (`PAGE_VISITS`, default 30).
//!
//! `cargo bench -p carillon --bench api`; prints Markdown for
//! BENCHMARKS.md. `ONLY=listings,delays,scheduler,console` picks parts; the
//! PostgreSQL part needs the server on 127.0.0.1:5432. `CARILLON_BIN`
//! measures another build of `carillon` (an older commit's, side by side).

#[path = "support/db.rs"]
mod db;
#[allow(dead_code)] // only the paths are used here
#[path = "../../tests/support/examples.rs"]
mod examples;
#[allow(dead_code)] // kill -9 is for the cluster benchmark
#[path = "support/served.rs"]
mod served;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use served::Served;

const PG_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A host on `url`, with the trivial job as `noop`, its API on a free
/// port; returns it and the API's base URL.
fn start_host(dir: &Path, name: &str, url: &str, extra: &[&str]) -> (Served, String) {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(examples::path("hostile"), plugins.join("noop.wasm")).unwrap();
    let log = dir.join(format!("{name}.log"));
    let mut args = vec![
        "--database",
        url,
        "--plugins",
        plugins.to_str().unwrap(),
        "--node-id",
        "bench",
    ];
    args.extend(extra);
    let (host, _) = Served::start(&args, &dir.join("cache"), log.clone());
    let text = std::fs::read_to_string(&log).unwrap();
    let marker = "admin API listening on http://";
    // Empty when it serves no API (`--listen off`).
    let api = text.rfind(marker).map_or_else(String::new, |at| {
        let address = text[at + marker.len()..].split('/').next().unwrap();
        format!("http://{address}")
    });
    (host, api)
}

/// An admin token made with the CLI.
fn admin_token(url: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carillon"))
        .args([
            "token",
            "create",
            "bench",
            "--role",
            "admin",
            "--database",
            url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Creates the schema (a host starts and stops) and the admin token.
fn schema_and_token(dir: &Path, url: &str) -> String {
    let (host, _) = start_host(dir, "schema", url, &["--listen", "off"]);
    host.stop();
    admin_token(url)
}

fn fresh_pg(name: &str) -> String {
    let admin = format!("{PG_SERVER}/postgres");
    db::sql(
        &admin,
        &[
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ],
    );
    format!("{PG_SERVER}/{name}")
}

fn drop_pg(name: &str) {
    db::sql(
        &format!("{PG_SERVER}/postgres"),
        &[format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")],
    );
}

/// What a load generator measured.
struct Load {
    requests: usize,
    failures: usize,
    seconds: f64,
    /// Milliseconds, sorted.
    latencies: Vec<f64>,
}

impl Load {
    fn row(&self) -> String {
        format!(
            "{:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {}",
            self.requests as f64 / self.seconds,
            percentile(&self.latencies, 0.5),
            percentile(&self.latencies, 0.99),
            self.latencies.last().copied().unwrap_or(0.0),
            self.failures
        )
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// `clients` connections, each sending `request(n)` (method, path, body)
/// one after another for `length`; an answer with another status than
/// `expect` counts as a failure.
async fn load(
    clients: usize,
    length: Duration,
    base: &str,
    token: &str,
    expect: u16,
    request: Arc<dyn Fn(usize) -> (hyper::Method, String, Option<String>) + Send + Sync>,
) -> Load {
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(clients)
        .build_http();
    let started = Instant::now();
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (client, base, token) = (client.clone(), base.to_owned(), token.to_owned());
        let (request, counter) = (request.clone(), counter.clone());
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), 0);
            while started.elapsed() < length {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (method, path, body) = request(n);
                let mut builder = hyper::Request::builder()
                    .method(method)
                    .uri(format!("{base}{path}"))
                    .header("authorization", format!("Bearer {token}"));
                if body.is_some() {
                    builder = builder.header("content-type", "application/json");
                }
                let req = builder
                    .body(Full::new(Bytes::from(body.unwrap_or_default())))
                    .unwrap();
                let sent = Instant::now();
                match client.request(req).await {
                    Ok(answer) => {
                        let status = answer.status().as_u16();
                        let _ = answer.into_body().collect().await;
                        latencies.push(sent.elapsed().as_secs_f64() * 1e3);
                        if status != expect {
                            failures += 1;
                        }
                    }
                    Err(_) => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    let mut all = Load {
        requests: 0,
        failures: 0,
        seconds: 0.0,
        latencies: Vec::new(),
    };
    for worker in workers {
        let (latencies, failures) = worker.await.unwrap();
        all.failures += failures;
        all.latencies.extend(latencies);
    }
    all.seconds = started.elapsed().as_secs_f64();
    all.requests = all.latencies.len();
    all.latencies.sort_by(f64::total_cmp);
    all
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// 100,000 tasks (`t-100000`…, 20 groups, a tenth paused, firing in 2099)
/// and 2,000,000 runs of the first 1,000 of them (a tenth failed), with
/// plain SQL that SQLite and PostgreSQL both take.
/// 100,000 tasks and 2,000,000 runs, one a second from `first_run` (ms).
fn fill_listing_tables(url: &str, first_run: i64) {
    let series = |n: u64| {
        format!("WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < {n} - 1)")
    };
    let mut statements = vec![format!(
        "{} INSERT INTO tasks (name, module, schedule, task_group, paused) \
         SELECT 't-' || (100000 + i), 'noop', '0 0 3 1 1 ? 2099', 'g' || (i % 20), \
         CASE WHEN i % 10 = 0 THEN TRUE ELSE FALSE END FROM c",
        series(100_000)
    )];
    for chunk in 0..4 {
        statements.push(format!(
            "{} INSERT INTO runs (task, task_group, module, shard_index, shard_total, scheduled_at, \
             not_before, state, attempt, params, node, created_at, started_at, finished_at) \
             SELECT 't-' || (100000 + (j % 1000)), 'g' || ((j % 1000) % 20), 'noop', 0, 1, \
             {first_run} + j * 1000, {first_run} + j * 1000, \
             CASE WHEN j % 10 = 3 THEN 'failed' ELSE 'succeeded' END, 1, '{{}}', 'bench', \
             {first_run} + j * 1000, {first_run} + j * 1000, {first_run} + 5 + j * 1000 \
             FROM (SELECT i + {} AS j FROM c) AS s",
            series(500_000),
            chunk * 500_000
        ));
    }
    db::sql(url, &statements);
}

fn listings(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let pg_name = "carillon_bench_api";
    let url = match backend {
        "SQLite" => format!("sqlite://{}", dir.path().join("carillon.db").display()),
        _ => fresh_pg(pg_name),
    };
    let token = schema_and_token(dir.path(), &url);
    let filled = Instant::now();
    fill_listing_tables(&url, 1_700_000_000_000);
    let fill = filled.elapsed();
    let (host, api) = start_host(dir.path(), "listings", &url, &[]);
    // Wait for the host to have scheduled every row (its first look).
    let started = Instant::now();
    while db::query(
        &url,
        "SELECT COUNT(*) FROM tasks WHERE next_fire_at IS NULL AND error IS NULL AND NOT paused",
    )[0][0]
        > 0
    {
        assert!(started.elapsed() < Duration::from_secs(300));
        std::thread::sleep(Duration::from_millis(200));
    }
    let clients = env_number("CLIENTS", 4) as usize;
    let length = Duration::from_secs(env_number("SECONDS", 5));
    println!(
        "\n### {backend}: 100,000 tasks, 2,000,000 runs (filled in {:.0} s), {clients} clients, {} s each\n",
        fill.as_secs_f64(),
        length.as_secs()
    );
    println!("| listing | request | requests/s | p50 | p99 | max | failed |");
    println!("|---|---|---|---|---|---|---|");
    let rt = runtime();
    type Path = fn(usize) -> String;
    let cases: [(&str, &str, Path); 9] = [
        (
            "runs of one task in one state",
            "/api/v1/runs?task=t-1000NN&state=failed",
            |n| format!("/api/v1/runs?task=t-{}&state=failed", 100000 + n * 7 % 1000),
        ),
        ("runs of one task", "/api/v1/runs?task=t-1000NN", |n| {
            format!("/api/v1/runs?task=t-{}", 100000 + n * 7 % 1000)
        }),
        ("runs of one task, a page deep", "…&before=ID", |n| {
            format!(
                "/api/v1/runs?task=t-{}&before={}",
                100000 + n * 7 % 1000,
                1_000_000
            )
        }),
        ("runs, newest", "/api/v1/runs", |_| {
            "/api/v1/runs".to_owned()
        }),
        ("runs in one state", "/api/v1/runs?state=failed", |_| {
            "/api/v1/runs?state=failed".to_owned()
        }),
        ("tasks, first page of 100", "/api/v1/tasks", |_| {
            "/api/v1/tasks".to_owned()
        }),
        ("tasks, a page deep", "/api/v1/tasks?after=t-1NNNNN", |n| {
            format!("/api/v1/tasks?after=t-{}", 100000 + n * 7919 % 99_000)
        }),
        (
            "tasks of a group in a state",
            "/api/v1/tasks?group=gN&state=paused",
            |n| format!("/api/v1/tasks?group=g{}&state=paused", n % 20),
        ),
        ("tasks by name substring", "/api/v1/tasks?name=NNN", |n| {
            format!("/api/v1/tasks?name={}", 100 + n % 900)
        }),
    ];
    for (what, shown, path) in cases {
        let request: Arc<dyn Fn(usize) -> (hyper::Method, String, Option<String>) + Send + Sync> =
            Arc::new(move |n| (hyper::Method::GET, path(n), None));
        let measured = rt.block_on(load(clients, length, &api, &token, 200, request));
        println!("| {what} | `{shown}` | {} |", measured.row());
    }
    let (rss, hwm) = host.rss_mib();
    println!("\nHost RSS after the listings: {rss:.0} MiB now, {hwm:.0} MiB peak.");
    host.stop();
    if backend != "SQLite" {
        drop_pg(pg_name);
    }
}

/// Lateness of callbacks received, in ms (arrival minus the due time the
/// body carries).
type Arrivals = Arc<Mutex<Vec<i64>>>;

/// An HTTP server on 127.0.0.1 recording each callback's lateness.
fn callback_server(rt: &tokio::runtime::Runtime) -> (SocketAddr, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let kept = arrivals.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |body: String| {
            let kept = kept.clone();
            async move {
                if let Ok(due) = body.trim().parse::<i64>() {
                    let late = carillon::clock::now_ms() - due;
                    kept.lock().unwrap().push(late);
                }
                "ok"
            }
        }),
    );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await });
    (address, arrivals)
}

fn delays() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("carillon.db").display());
    let token = schema_and_token(dir.path(), &url);
    let rt = runtime();
    let (server, arrivals) = callback_server(&rt);
    let callback = format!("http://{server}/cb");
    let rate: u64 = 5_000;
    let window = env_number("DELAY_SECONDS", 30);
    let due_now = rate * window;
    let pending: u64 = 1_000_000;
    // Those of the window fall due from 15 s on, 5,000 a second; the rest
    // wait a day.
    let first_due = carillon::clock::now_ms() + 15_000;
    let filled = Instant::now();
    db::sql(
        &url,
        &[format!(
            "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < {pending} - 1) \
             INSERT INTO delays (topic, key, due_at, url, body, content_type) \
             SELECT 'bench', 'k-' || i, d, '{callback}', CAST(d AS TEXT), 'text/plain' \
             FROM (SELECT i, CASE WHEN i < {due_now} THEN {first_due} + i * 1000 / {rate} \
                   ELSE {first_due} + 86400000 + i END AS d FROM c) AS s"
        )],
    );
    let fill = filled.elapsed();
    let allow = format!("http://{server}");
    let (host, api) = start_host(
        dir.path(),
        "delays",
        &url,
        &["--delays-allowed-hosts", &allow],
    );
    let (start_rss, _) = host.rss_mib();
    let end = first_due + (window as i64) * 1000 + 3_000;
    let mut peak = 0.0f64;
    while carillon::clock::now_ms() < end {
        std::thread::sleep(Duration::from_millis(250));
        peak = peak.max(host.rss_mib().0);
    }
    let mut late = arrivals.lock().unwrap().clone();
    late.sort();
    let late: Vec<f64> = late.into_iter().map(|ms| ms as f64).collect();
    let succeeded = db::query(
        &url,
        "SELECT COUNT(*) FROM delays WHERE state = 'succeeded'",
    )[0][0];
    println!(
        "\n### Delay callbacks: {pending} pending (filled in {:.0} s), {due_now} due at {rate}/s over {window} s, SQLite\n",
        fill.as_secs_f64()
    );
    println!(
        "| callbacks received | succeeded in the table | lateness p50 | p99 | max | host RSS at start / peak |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} of {due_now} | {succeeded} | {:.0} ms | {:.0} ms | {:.0} ms | {start_rss:.0} / {:.0} MiB |",
        late.len(),
        percentile(&late, 0.5),
        percentile(&late, 0.99),
        late.last().copied().unwrap_or(0.0),
        peak.max(host.rss_mib().1)
    );

    // Creation through the API, with the million still pending.
    let clients = env_number("CREATE_CLIENTS", 16) as usize;
    let callback = Arc::new(callback);
    let request: Arc<dyn Fn(usize) -> (hyper::Method, String, Option<String>) + Send + Sync> =
        Arc::new(move |n| {
            let body = serde_json::json!({
                "topic": "created", "key": format!("c-{n}"), "delay": "1d",
                "callback": {"url": callback.as_str(), "body": "0"}
            });
            (
                hyper::Method::POST,
                "/api/v1/delays".to_owned(),
                Some(body.to_string()),
            )
        });
    let created = rt.block_on(load(
        clients,
        Duration::from_secs(env_number("SECONDS", 5) * 2),
        &api,
        &token,
        201,
        request,
    ));
    println!("\nCreating delays through `POST /api/v1/delays` ({clients} clients, keep-alive):\n");
    println!("| created/s | p50 | p99 | max | failed |");
    println!("|---|---|---|---|---|");
    println!("| {} |", created.row());
    host.stop();
}

/// `SCHEDULER_TASKS` (10,000) tasks every second, spread; lateness over `seconds`, with
/// `clients` connections listing runs and tasks meanwhile.
fn scheduler(clients: usize, seconds: u64) -> String {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("carillon.db").display());
    let token = schema_and_token(dir.path(), &url);
    let (host, api) = start_host(
        dir.path(),
        "scheduler",
        &url,
        &["--max-concurrent-runs", "256"],
    );
    let tasks = env_number("SCHEDULER_TASKS", 10_000) as usize;
    db::sql(&url, &db::insert_tasks_sql("t", tasks, "every 1s", true));
    std::thread::sleep(Duration::from_secs(10));
    let window_start = carillon::clock::now_ms();
    let rt = runtime();
    let listed = if clients > 0 {
        let request: Arc<dyn Fn(usize) -> (hyper::Method, String, Option<String>) + Send + Sync> =
            Arc::new(move |n| {
                let path = match n % 3 {
                    0 => format!("/api/v1/runs?task=t{}&state=succeeded", n % tasks),
                    1 => "/api/v1/runs".to_owned(),
                    _ => format!("/api/v1/tasks?after=t{}", n % tasks),
                };
                (hyper::Method::GET, path, None)
            });
        Some(rt.block_on(load(
            clients,
            Duration::from_secs(seconds),
            &api,
            &token,
            200,
            request,
        )))
    } else {
        std::thread::sleep(Duration::from_secs(seconds));
        None
    };
    let window_end = carillon::clock::now_ms();
    std::thread::sleep(Duration::from_secs(3));
    let (_, hwm) = host.rss_mib();
    host.stop();
    let slots = format!(
        "scheduled_at >= {window_start} AND scheduled_at < {}",
        window_end - window_end % 1000
    );
    let mut lateness: Vec<f64> = db::query(
        &url,
        &format!(
            "SELECT started_at - scheduled_at FROM runs WHERE {slots} AND state = 'succeeded'"
        ),
    )
    .into_iter()
    .map(|row| row[0] as f64)
    .collect();
    lateness.sort_by(f64::total_cmp);
    let span = (window_end - window_end % 1000 - window_start) as f64 / 1000.0;
    format!(
        "| {} | {:.0} | {:.0} ms | {:.0} ms | {:.0} ms | {hwm:.0} MiB | {} |",
        if clients == 0 {
            "none".to_owned()
        } else {
            format!("{clients} clients listing")
        },
        lateness.len() as f64 / span,
        percentile(&lateness, 0.5),
        percentile(&lateness, 0.99),
        lateness.last().copied().unwrap_or(0.0),
        listed.map_or("—".to_owned(), |l| format!(
            "{:.0} req/s, p99 {:.1} ms",
            l.requests as f64 / l.seconds,
            percentile(&l.latencies, 0.99)
        ))
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A console page as the browser loads it: steps one after another, each
/// a set of requests sent together (the page's `Promise.all`), at most 6 at
/// once (a browser's connections per host over HTTP/1.1).
struct Page {
    name: &'static str,
    steps: Vec<Vec<String>>,
}

/// One load of `page`: the time until its last answer, in ms; panics on
/// an answer other than 200 (a page that fails is not a fast page).
async fn visit(client: &HttpClient, base: &str, token: &str, page: &Page) -> f64 {
    let started = Instant::now();
    for step in &page.steps {
        for batch in step.chunks(6) {
            let requests = batch.iter().map(|path| {
                let request = hyper::Request::get(format!("{base}{path}"))
                    .header("authorization", format!("Bearer {token}"))
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let client = client.clone();
                let path = path.clone();
                async move {
                    let answer = client.request(request).await.unwrap();
                    let status = answer.status().as_u16();
                    let _ = answer.into_body().collect().await;
                    assert_eq!(status, 200, "{path}");
                }
            });
            futures_util::future::join_all(requests).await;
        }
    }
    started.elapsed().as_secs_f64() * 1e3
}

/// The console's pages over the listings' tables, on SQLite.
fn console_pages() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("carillon.db").display());
    let token = schema_and_token(dir.path(), &url);
    // The runs end now: the dashboard's last day and week hold 86,400 and
    // 604,800 of them.
    let first_run = now_ms() / 1000 * 1000 - 2_000_000_000;
    fill_listing_tables(&url, first_run);
    let (host, api) = start_host(dir.path(), "console", &url, &[]);
    let started = Instant::now();
    while db::query(
        &url,
        "SELECT COUNT(*) FROM tasks WHERE next_fire_at IS NULL AND error IS NULL AND NOT paused",
    )[0][0]
        > 0
    {
        assert!(started.elapsed() < Duration::from_secs(300));
        std::thread::sleep(Duration::from_millis(200));
    }
    let shell = |path: &str| vec![path.to_owned(), "/assets/js/app.js".to_owned()];
    let strips = |first: u32| -> Vec<String> {
        (0..25)
            .map(|i| format!("/api/v1/runs?task=t-{}&limit=12", first + i))
            .collect()
    };
    let day_ago = now_ms() - 86_400_000;
    // The shell, the session (the console waits for it), then the page's data.
    let simple = |name: &'static str, path: &str, data: &[&str]| Page {
        name,
        steps: vec![
            shell(path),
            vec!["/api/v1/session".into()],
            data.iter().map(|path| (*path).to_owned()).collect(),
        ],
    };
    let pages = [
        Page {
            name: "dashboard `/`",
            steps: vec![
                shell("/"),
                vec!["/api/v1/session".into()],
                vec![
                    "/api/v1/tasks?limit=1".into(),
                    "/api/v1/runs?limit=200".into(),
                    "/api/v1/stats/runs?hours=24".into(),
                    "/api/v1/misfires?limit=1000".into(),
                    "/api/v1/nodes".into(),
                    format!("/api/v1/runs?state=failed&from={day_ago}&limit=8"),
                    format!("/api/v1/runs?state=timed-out&from={day_ago}&limit=8"),
                    format!("/api/v1/runs?state=orphaned&from={day_ago}&limit=8"),
                ],
            ],
        },
        Page {
            name: "dashboard, the week's chart `/?chart=week`",
            steps: vec![
                shell("/"),
                vec!["/api/v1/session".into()],
                vec![
                    "/api/v1/tasks?limit=1".into(),
                    "/api/v1/runs?limit=200".into(),
                    "/api/v1/stats/runs?hours=168".into(),
                    "/api/v1/misfires?limit=1000".into(),
                    "/api/v1/nodes".into(),
                    format!("/api/v1/runs?state=failed&from={day_ago}&limit=8"),
                    format!("/api/v1/runs?state=timed-out&from={day_ago}&limit=8"),
                    format!("/api/v1/runs?state=orphaned&from={day_ago}&limit=8"),
                ],
            ],
        },
        Page {
            name: "tasks `/tasks` (first page of 25, with each row's strip)",
            steps: vec![
                shell("/tasks"),
                vec!["/api/v1/session".into()],
                vec!["/api/v1/tasks?limit=25".into()],
                strips(100000),
            ],
        },
        Page {
            name: "tasks, a page deep `/tasks?after=…`",
            steps: vec![
                shell("/tasks"),
                vec!["/api/v1/session".into()],
                vec!["/api/v1/tasks?after=t-150000&limit=25".into()],
                strips(150001),
            ],
        },
        Page {
            name: "tasks of a group in a state `/tasks?group=g3&state=paused`",
            steps: vec![
                shell("/tasks"),
                vec!["/api/v1/session".into()],
                vec!["/api/v1/tasks?group=g3&state=paused&limit=25".into()],
                strips(100003),
            ],
        },
        Page {
            name: "tasks by next fire `/tasks?sort=next_fire`",
            steps: vec![
                shell("/tasks?sort=next_fire"),
                vec!["/api/v1/session".into()],
                vec!["/api/v1/tasks?sort=next_fire&limit=25".into()],
                strips(100001),
            ],
        },
        Page {
            name: "tasks by module, a page deep `/tasks?sort=module&after=…`",
            steps: vec![
                shell("/tasks?sort=module"),
                vec!["/api/v1/session".into()],
                vec![
                    "/api/v1/tasks?sort=module&after=%5B%22noop%22%2C%22t-150000%22%5D&limit=25"
                        .into(),
                ],
                strips(150001),
            ],
        },
        Page {
            name: "tasks by name `/tasks?name=4242`",
            steps: vec![
                shell("/tasks"),
                vec!["/api/v1/session".into()],
                vec!["/api/v1/tasks?name=4242&limit=25".into()],
            ],
        },
        Page {
            name: "task `/tasks/t-100042`",
            steps: vec![
                shell("/tasks/t-100042"),
                vec!["/api/v1/session".into()],
                vec![
                    "/api/v1/tasks/t-100042".into(),
                    "/api/v1/tasks/t-100042/next?n=5".into(),
                    "/api/v1/runs?task=t-100042&limit=20".into(),
                ],
            ],
        },
        Page {
            name: "editor `/tasks/t-100042/edit`",
            steps: vec![
                shell("/tasks/t-100042/edit"),
                vec!["/api/v1/session".into()],
                vec!["/api/v1/tasks/t-100042".into()],
                vec!["/api/v1/cron/next?expr=0%200%203%201%201%20%3F%202099&tz=UTC&n=5".into()],
            ],
        },
        Page {
            name: "runs `/runs`",
            steps: vec![
                shell("/runs"),
                vec!["/api/v1/session".into()],
                vec!["/api/v1/runs?limit=50".into()],
            ],
        },
        Page {
            name: "runs of a task in a state `/runs?task=…&state=failed`",
            steps: vec![
                shell("/runs"),
                vec!["/api/v1/session".into()],
                vec!["/api/v1/runs?task=t-100042&state=failed&limit=50".into()],
            ],
        },
        Page {
            name: "runs running now `/runs?state=running` (none are)",
            steps: vec![
                shell("/runs"),
                vec!["/api/v1/session".into()],
                vec!["/api/v1/runs?state=running&limit=50".into()],
            ],
        },
        Page {
            name: "runs of the last hour `/runs?from=…` (3,600 are)",
            steps: vec![
                shell("/runs"),
                vec!["/api/v1/session".into()],
                vec![format!(
                    "/api/v1/runs?from={}&limit=50",
                    now_ms() - 3_600_000
                )],
            ],
        },
        Page {
            name: "runs of an hour in the middle `/runs?from=…&to=…` (3,600 are)",
            steps: vec![
                shell("/runs"),
                vec!["/api/v1/session".into()],
                vec![format!(
                    "/api/v1/runs?from={}&to={}&limit=50",
                    first_run + 1_000_000_000,
                    first_run + 1_003_600_000
                )],
            ],
        },
        Page {
            name: "runs of a day in the middle `/runs?from=…&to=…` (86,400 are)",
            steps: vec![
                shell("/runs"),
                vec!["/api/v1/session".into()],
                vec![format!(
                    "/api/v1/runs?from={}&to={}&limit=50",
                    first_run + 1_000_000_000,
                    first_run + 1_086_400_000
                )],
            ],
        },
        Page {
            name: "runs, a page deep `/runs?before=1000000`",
            steps: vec![
                shell("/runs"),
                vec!["/api/v1/session".into()],
                vec!["/api/v1/runs?before=1000000&limit=50".into()],
            ],
        },
        Page {
            name: "run `/runs/1234567` (its log read whole)",
            steps: vec![
                shell("/runs/1234567"),
                vec!["/api/v1/session".into()],
                vec![
                    "/api/v1/runs/1234567".into(),
                    "/api/v1/runs/1234567/logs".into(),
                ],
            ],
        },
        simple("nodes `/nodes`", "/nodes", &["/api/v1/nodes"]),
        Page {
            name: "modules `/modules` (and the tasks using each)",
            steps: vec![
                shell("/modules"),
                vec!["/api/v1/session".into()],
                vec!["/api/v1/modules".into()],
                vec!["/api/v1/tasks?module=noop&limit=5".into()],
            ],
        },
        simple("delays `/delays`", "/delays", &["/api/v1/delays?limit=50"]),
        simple(
            "misfires `/misfires`",
            "/misfires",
            &["/api/v1/misfires?limit=50"],
        ),
        simple(
            "calendars `/calendars`",
            "/calendars",
            &["/api/v1/calendars"],
        ),
        simple(
            "workflows `/workflows`",
            "/workflows",
            &["/api/v1/workflows", "/api/v1/workflow-runs?limit=25"],
        ),
        simple(
            "alerts `/alerts`",
            "/alerts",
            &[
                "/api/v1/alerts?limit=50",
                "/api/v1/alert-rules",
                "/api/v1/alert-channels",
                "/api/v1/keepers",
            ],
        ),
        simple("audit `/audit`", "/audit", &["/api/v1/audit?limit=50"]),
        simple(
            "users and tokens `/access`",
            "/access",
            &["/api/v1/users", "/api/v1/tokens"],
        ),
    ];
    let visits = env_number("PAGE_VISITS", 30) as usize;
    println!(
        "\n### SQLite: 100,000 tasks, 2,000,000 runs; each page loaded {visits} times, one after another\n"
    );
    println!("| page | requests | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    let rt = runtime();
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(6)
        .build_http();
    for page in &pages {
        let mut times: Vec<f64> = rt.block_on(async {
            visit(&client, &api, &token, page).await;
            let mut times = Vec::new();
            for _ in 0..visits {
                times.push(visit(&client, &api, &token, page).await);
            }
            times
        });
        times.sort_by(f64::total_cmp);
        println!(
            "| {} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
            page.name,
            page.steps.iter().map(Vec::len).sum::<usize>(),
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.last().copied().unwrap_or(0.0)
        );
    }
    host.stop();
}

fn main() {
    let only =
        std::env::var("ONLY").unwrap_or_else(|_| "listings,delays,scheduler,console".to_owned());
    if only.contains("console") {
        println!("\n## Console pages: server time");
        console_pages();
    }
    if only.contains("listings") {
        println!("## Admin API: listings");
        listings("SQLite");
        listings("PostgreSQL");
    }
    if only.contains("delays") {
        println!("\n## Delay tasks");
        delays();
    }
    if only.contains("scheduler") {
        let seconds = env_number("SCHEDULER_SECONDS", 30);
        let tasks = env_number("SCHEDULER_TASKS", 10_000);
        println!(
            "\n## {tasks} tasks firing every second (spread), SQLite, with and without API load ({seconds} s each)\n"
        );
        println!(
            "| API load | runs succeeded/s | lateness p50 | p99 | max | host RSS peak | listings served |"
        );
        println!("|---|---|---|---|---|---|---|");
        println!("{}", scheduler(0, seconds));
        println!("{}", scheduler(2, seconds));
    }
}
