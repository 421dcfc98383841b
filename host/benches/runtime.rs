//! Runtime benchmarks: per-run overhead of a trivial job (fresh store,
//! instantiate from the pre-instantiated component, call, drop), throughput
//! with both cores busy, compile time versus compile-cache hits, and an HTTP
//! GET from a job (`fetch`, over wasi:http) against the same GET from the
//! host's native client, side by side against one local server.
//!
//! The per-run and loading tables include `hello` in Python and JavaScript.
//!
//! Run with `cargo bench -p carillon --bench runtime`; it prints Markdown tables
//! for BENCHMARKS.md. `RUNS=N` changes the number of measured runs;
//! `ONLY=http` runs the HTTP comparison alone; `ONLY=runs` the per-run
//! table of the two Rust jobs alone (to set beside an older build's).

#[path = "../../tests/support/examples.rs"]
mod examples;

use std::sync::Arc;
use std::time::{Duration, Instant};

use carillon::dispatch::{HttpGrant, JobHttp};
use carillon::egress::{Egress, EgressConfig, Outbound};
use carillon::runtime::io::HttpSender;
use carillon::runtime::io::memory::MemoryState;
use carillon::runtime::io::{
    BoxFuture, CheckpointStore, LogLine, LogSink, RunIo, RunKey, SeamError,
};
use carillon::runtime::{
    CancelToken, JobComponent, RunContext, RunLimits, RunRequest, Runtime, RuntimeConfig,
};
use carillon::vocab::AllowList;
use http_body_util::BodyExt;

type Params = Vec<(String, String)>;

/// A log sink that drops lines: the benchmark measures the runtime, not a store.
struct Discard;

impl LogSink for Discard {
    fn write(&self, _: &RunKey, _: LogLine) -> bool {
        true
    }
}

impl CheckpointStore for Discard {
    fn save<'a>(&'a self, _: &'a RunKey, _: Vec<u8>) -> BoxFuture<'a, Result<(), SeamError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

fn io() -> RunIo {
    RunIo {
        log: Arc::new(Discard),
        checkpoints: Arc::new(Discard),
        state: Arc::new(MemoryState::default()),
        http: None,
        secrets: None,
        sql: None,
    }
}

fn request(io: &RunIo, context: &RunContext) -> RunRequest {
    RunRequest {
        context: context.clone(),
        limits: RunLimits::default(),
        io: io.clone(),
        cancel: CancelToken::new(),
        mounts: Vec::new(),
    }
}

struct Stats {
    mean: Duration,
    p50: Duration,
    p99: Duration,
    per_second: f64,
}

fn stats(mut samples: Vec<Duration>, wall: Duration) -> Stats {
    samples.sort();
    let n = samples.len();
    Stats {
        mean: samples.iter().sum::<Duration>() / n as u32,
        p50: samples[n / 2],
        p99: samples[n * 99 / 100],
        per_second: n as f64 / wall.as_secs_f64(),
    }
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// Sequential runs on one thread: the latency of one run.
fn sequential(runtime: &Runtime, job: &JobComponent, context: &RunContext, runs: usize) -> Stats {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let io = io();
    tokio.block_on(async {
        for _ in 0..runs / 10 {
            let report = runtime.run(job, request(&io, context)).await;
            assert!(report.outcome.is_success(), "{:?}", report.outcome);
        }
        let mut samples = Vec::with_capacity(runs);
        let wall = Instant::now();
        for _ in 0..runs {
            let started = Instant::now();
            let report = runtime.run(job, request(&io, context)).await;
            samples.push(started.elapsed());
            assert!(report.outcome.is_success());
        }
        stats(samples, wall.elapsed())
    })
}

/// Many runs in flight on a two-worker runtime: runs per second per host.
fn concurrent(
    runtime: &Arc<Runtime>,
    job: &JobComponent,
    context: &RunContext,
    runs: usize,
) -> f64 {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let io = io();
    tokio.block_on(async {
        let in_flight = Arc::new(tokio::sync::Semaphore::new(32));
        let wall = Instant::now();
        let mut handles = Vec::with_capacity(runs);
        for _ in 0..runs {
            let permit = in_flight.clone().acquire_owned().await.unwrap();
            let (runtime, job, request) = (runtime.clone(), job.clone(), request(&io, context));
            handles.push(tokio::spawn(async move {
                let report = runtime.run(&job, request).await;
                drop(permit);
                report.outcome.is_success()
            }));
        }
        for handle in handles {
            assert!(handle.await.unwrap());
        }
        runs as f64 / wall.elapsed().as_secs_f64()
    })
}

/// A local HTTP/1.1 server answering `ok` to everything, keeping
/// connections alive.
/// Connections the local server accepted.
static CONNECTIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn ok_server() -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                let mut line = String::new();
                loop {
                    // Headers up to the blank line (the GETs have no body).
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if writer.write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// An egress client of its own (its own pool) that may reach `allowed`.
fn egress_to(allowed: &AllowList) -> Arc<Egress> {
    let config = EgressConfig {
        allowed: allowed.clone(),
        list_name: "bench",
        allow_private: false,
        private_switch: "",
        ca_roots: None,
    };
    Arc::new(Egress::new(config).unwrap())
}

/// A native GET of `url`.
fn get(url: &str) -> Outbound {
    Outbound {
        method: http::Method::GET,
        url: url.to_owned(),
        headers: Vec::new(),
        body: Default::default(),
    }
}

/// The same GET, from the `fetch` job and from the host's native client,
/// interleaved so both see the same machine.
fn http_get(runtime: &Runtime, runs: usize) {
    let port = ok_server();
    let origin = format!("http://127.0.0.1:{port}");
    let allowed = AllowList::parse(&origin).unwrap();
    let egress = egress_to(&allowed);
    // The native client has a pool of its own: its connections are served
    // by its own (current-thread) runtime, as a Rust program's would be.
    let native_egress = egress_to(&allowed);
    let job = runtime.load(&examples::bytes("fetch")).expect("load fetch");
    let mut io = io();
    io.http = Some(Arc::new(JobHttp::new(
        egress.clone(),
        HttpGrant::Fixed(allowed.clone(), "bench"),
    )));
    let url = format!("{origin}/item");
    let mut context = RunContext::new("fetch", 1);
    context.params = vec![("url".into(), url.clone())];
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let native = || get(&url);
    let (mut from_job, mut from_host) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    tokio.block_on(async {
        for round in 0..runs + runs / 10 {
            let started = Instant::now();
            let report = runtime.run(&job, request(&io, &context)).await;
            let job_took = started.elapsed();
            assert!(report.outcome.is_success(), "{:?}", report.outcome);
            let started = Instant::now();
            let answer = native_egress
                .send(native(), Duration::from_secs(5))
                .await
                .unwrap();
            let host_took = started.elapsed();
            assert_eq!(answer.status, 200);
            if round >= runs / 10 {
                from_job.push(job_took);
                from_host.push(host_took);
            }
        }
    });
    // Inside one run: a job making REPEAT GETs, its run time per GET, next
    // to as many native GETs in a row.
    const REPEAT: usize = 100;
    let mut repeated = context.clone();
    repeated.params.push(("repeat".into(), REPEAT.to_string()));
    let (mut per_job_get, mut per_native_get, mut per_seam_get) =
        (Vec::new(), Vec::new(), Vec::new());
    let sender = JobHttp::new(egress.clone(), HttpGrant::Fixed(allowed.clone(), "bench"));
    let key = RunKey {
        task: Arc::from("fetch"),
        run_id: 1,
        attempt: 1,
    };
    tokio.block_on(async {
        for round in 0..(runs / REPEAT).max(10) + 2 {
            let started = Instant::now();
            let report = runtime.run(&job, request(&io, &repeated)).await;
            let job_took = started.elapsed() / REPEAT as u32;
            assert!(report.outcome.is_success(), "{:?}", report.outcome);
            let started = Instant::now();
            for _ in 0..REPEAT {
                let answer = native_egress
                    .send(native(), Duration::from_secs(5))
                    .await
                    .unwrap();
                assert_eq!(answer.status, 200);
            }
            let host_took = started.elapsed() / REPEAT as u32;
            // The host's side of a job's request alone: the same sender
            // (grant, ceiling, the job threads' streaming pool) and the
            // body read, without the guest and wasi:http.
            let started = Instant::now();
            for _ in 0..REPEAT {
                let request = http::Request::get(&url)
                    .body(
                        http_body_util::Empty::new()
                            .map_err(|never| match never {})
                            .boxed_unsync(),
                    )
                    .unwrap();
                let answer = sender
                    .send(&key, request, Duration::from_secs(5))
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 200);
                answer.into_body().collect().await.unwrap();
            }
            let seam_took = started.elapsed() / REPEAT as u32;
            if round >= 2 {
                per_job_get.push(job_took);
                per_native_get.push(host_took);
                per_seam_get.push(seam_took);
            }
        }
    });
    // The same native loop on a runtime shaped like the job threads
    // (multi-threaded, 2 workers), where a job's requests run.
    let threaded = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Its own pool: connections are served by the runtime that opened them.
    let threaded_egress = egress_to(&allowed);
    let mut per_threaded_get = Vec::new();
    for _ in 0..(runs / REPEAT).max(10) {
        let (native_egress, url) = (threaded_egress.clone(), url.clone());
        let took = threaded.block_on(async move {
            tokio::spawn(async move {
                let started = Instant::now();
                for _ in 0..REPEAT {
                    let request = Outbound {
                        method: http::Method::GET,
                        url: url.clone(),
                        headers: Vec::new(),
                        body: Default::default(),
                    };
                    let answer = native_egress
                        .send(request, Duration::from_secs(5))
                        .await
                        .unwrap();
                    assert_eq!(answer.status, 200);
                }
                started.elapsed() / REPEAT as u32
            })
            .await
            .unwrap()
        });
        per_threaded_get.push(took);
    }
    let threaded_each = stats(per_threaded_get, Duration::ZERO);
    let (job, host) = (
        stats(from_job, Duration::ZERO),
        stats(from_host, Duration::ZERO),
    );
    let (job_each, host_each) = (
        stats(per_job_get, Duration::ZERO),
        stats(per_native_get, Duration::ZERO),
    );
    println!(
        "\n## HTTP GET to a local server: a job over wasi:http versus the host's native client ({runs} each, interleaved)\n"
    );
    println!("| client | median | p99 | mean |");
    println!("|---|---|---|---|");
    println!(
        "| `fetch` job (whole run: instantiate, GET, read, log) | {} | {} | {} |",
        us(job.p50),
        us(job.p99),
        us(job.mean)
    );
    println!(
        "| native (egress's pooled hyper client, same connector, its own pool) | {} | {} | {} |",
        us(host.p50),
        us(host.p99),
        us(host.mean)
    );
    println!(
        "| `fetch` job, {REPEAT} GETs in one run (run time / {REPEAT}) | {} | {} | {} |",
        us(job_each.p50),
        us(job_each.p99),
        us(job_each.mean)
    );
    println!(
        "| native, {REPEAT} GETs in a row (time / {REPEAT}) | {} | {} | {} |",
        us(host_each.p50),
        us(host_each.p99),
        us(host_each.mean)
    );
    let seam_each = stats(per_seam_get, Duration::ZERO);
    println!(
        "| the host's side of a job's GET alone ({REPEAT} in a row through the jobs' sender: grant, ceiling, streaming pool, body read; time / {REPEAT}) | {} | {} | {} |",
        us(seam_each.p50),
        us(seam_each.p99),
        us(seam_each.mean)
    );
    println!(
        "| native, {REPEAT} GETs in a row from a task on a 2-worker multi-thread runtime (time / {REPEAT}) | {} | {} | {} |",
        us(threaded_each.p50),
        us(threaded_each.p99),
        us(threaded_each.mean)
    );
    println!(
        "\nmedian ratio job / native: {:.2}× for a run making one GET, {:.2}× per GET of a run making {REPEAT}",
        job.p50.as_secs_f64() / host.p50.as_secs_f64(),
        job_each.p50.as_secs_f64() / host_each.p50.as_secs_f64()
    );
    println!(
        "connections the server accepted, all requests together: {} (both clients reuse pooled ones)",
        CONNECTIONS.load(std::sync::atomic::Ordering::Relaxed)
    );
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20_000);
    let job_threads = std::env::var("JOB_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let runtime = Arc::new(
        Runtime::new(RuntimeConfig {
            job_threads,
            ..RuntimeConfig::default()
        })
        .expect("runtime"),
    );
    if std::env::var("ONLY").as_deref() == Ok("http") {
        http_get(&runtime, runs.min(5_000));
        return;
    }

    println!("## Per-run overhead ({runs} runs each)\n");
    println!("| job | mean | median | p99 | sequential runs/s | runs/s, 2 workers, 32 in flight |");
    println!("|---|---|---|---|---|---|");
    // Python and JavaScript jobs carry their interpreter: each run
    // instantiates megabytes, so they get fewer runs.
    let few = (runs / 20).max(50);
    let only_runs = std::env::var("ONLY").as_deref() == Ok("runs");
    let cases: [(&str, &str, Params, usize); 4] = [
        (
            "hostile",
            "returns at once (`hostile mode=ok`)",
            vec![("mode".into(), "ok".into())],
            runs,
        ),
        (
            "hello",
            "logs one line with 4 fields (`hello`)",
            vec![],
            runs,
        ),
        (
            "python-hello",
            "`hello` in Python (`python_hello`)",
            vec![],
            few,
        ),
        (
            "js-hello",
            "`hello` in JavaScript (`js_hello`)",
            vec![],
            few,
        ),
    ];
    for (name, label, params, runs) in cases {
        if only_runs && name.contains('-') {
            continue;
        }
        let job = runtime.load(&examples::bytes(name)).expect("load");
        let mut context = RunContext::new(name, 1);
        context.params = params;
        let seq = sequential(&runtime, &job, &context, runs);
        let par = concurrent(&runtime, &job, &context, runs);
        println!(
            "| {label} | {} | {} | {} | {:.0} | {:.0} |",
            us(seq.mean),
            us(seq.p50),
            us(seq.p99),
            seq.per_second,
            par
        );
    }

    if only_runs {
        return;
    }
    println!("\n## Loading: compile versus compile-cache hit\n");
    println!("| job | size | compile | cache hit |");
    println!("|---|---|---|---|");
    let cache_dir =
        std::env::temp_dir().join(format!("carillon-bench-cache-{}", std::process::id()));
    let cached = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache_dir.clone()),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    for name in [
        "hello",
        "sharded-sum",
        "pager",
        "flaky",
        "sleepy",
        "hog",
        "python-hello",
        "js-hello",
    ] {
        let bytes = examples::bytes(name);
        let compile = cached.load(&bytes).expect("load").load_time();
        let mut hits: Vec<Duration> = (0..5)
            .map(|_| {
                let job = cached.load(&bytes).expect("load");
                assert_eq!(job.cache_outcome(), carillon::runtime::CacheOutcome::Hit);
                job.load_time()
            })
            .collect();
        hits.sort();
        println!(
            "| {name} | {} KiB | {:.1} ms | {:.2} ms |",
            bytes.len() / 1024,
            compile.as_secs_f64() * 1e3,
            hits[hits.len() / 2].as_secs_f64() * 1e3
        );
    }
    let _ = std::fs::remove_dir_all(cache_dir);

    http_get(&runtime, runs.min(5_000));
}
