//! A workflow of 1,000 steps on one host (release build, SQLite): one step,
//! a fan-out to 998 steps after it, and a fan-in of one waiting for all
//! 998, each step the trivial job (`hostile`, mode ok). Started from the
//! CLI; measured from the run's rows once it is over:
//!
//! - the run's wall time, from its first step's start to its last step's
//!   end, per step (the scheduling overhead amortised over the steps: the
//!   jobs themselves take microseconds);
//! - on the critical path, the wait of a step after the steps it waits for
//!   ended: the fan-out's first start after the first step, and the fan-in's
//!   start after its last parent;
//! - how late each fanned-out step started after it could (queueing for
//!   the host's run slots included), p50/p99/max.
//!
//! `cargo bench -p carillon --bench workflows`; prints Markdown for
//! BENCHMARKS.md. `ROUNDS` (default 3) runs of the workflow, one after
//! another; `CARILLON_BIN` measures another build.

#[allow(dead_code)] // the task rows of the other benchmarks are not used here
#[path = "support/db.rs"]
mod db;
#[allow(dead_code)] // only the paths are used here
#[path = "../../tests/support/examples.rs"]
mod examples;
#[allow(dead_code)]
#[path = "support/served.rs"]
mod served;

use std::time::{Duration, Instant};

use served::Served;

const FAN_OUT: usize = 998;

fn percentile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("carillon.db").display());
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(examples::path("hostile"), plugins.join("noop.wasm")).unwrap();
    let (host, _) = Served::start(
        &[
            "--database",
            &url,
            "--plugins",
            plugins.to_str().unwrap(),
            "--node-id",
            "bench",
        ],
        &dir.path().join("cache"),
        dir.path().join("host.log"),
    );
    let mut statements = vec![
        "INSERT INTO tasks (name, module, schedule, params) VALUES ('step', 'noop', 'manual', '{\"mode\":\"ok\"}')"
            .to_owned(),
        "INSERT INTO workflows (name) VALUES ('wide')".to_owned(),
        "INSERT INTO workflow_steps (workflow, name, task, position) VALUES ('wide', 'start', 'step', 0)"
            .to_owned(),
    ];
    for chunk in (0..FAN_OUT).collect::<Vec<_>>().chunks(200) {
        let values: Vec<String> = chunk
            .iter()
            .map(|i| format!("('wide', 'fan-{i}', 'step', 'start', {})", i + 1))
            .collect();
        statements.push(format!(
            "INSERT INTO workflow_steps (workflow, name, task, after, position) VALUES {}",
            values.join(", ")
        ));
    }
    let parents: Vec<String> = (0..FAN_OUT).map(|i| format!("fan-{i}")).collect();
    statements.push(format!(
        "INSERT INTO workflow_steps (workflow, name, task, after, position) VALUES ('wide', 'join', 'step', '{}', {})",
        parents.join(","),
        FAN_OUT + 1
    ));
    db::sql(&url, &statements);

    println!("\n### One host, SQLite: 1,000 steps (1 → 998 → 1), the trivial job\n");
    println!(
        "| round | wall time, first start to last end | per step | fan-out's first start after `start` | fan-in's start after its last parent | fanned-out steps' start lateness p50 / p99 / max |"
    );
    println!("|---|---|---|---|---|---|");
    for round in 1..=rounds {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_carillon"))
            .args(["workflow", "trigger", "wide", "--database", &url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id: i64 = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse()
            .unwrap();
        let started = Instant::now();
        loop {
            let state = db::query(
                &url,
                &format!(
                    "SELECT CASE state WHEN 'running' THEN 0 WHEN 'succeeded' THEN 1 ELSE 2 END \
                     FROM workflow_runs WHERE id = {id}"
                ),
            );
            match state[0][0] {
                0 => {}
                1 => break,
                _ => panic!("workflow run {id} failed"),
            }
            assert!(started.elapsed() < Duration::from_secs(300));
            std::thread::sleep(Duration::from_millis(20));
        }
        // Each step's run: its start and end.
        let rows = db::query(
            &url,
            &format!(
                "SELECT CASE s.step WHEN 'start' THEN 0 WHEN 'join' THEN 2 ELSE 1 END, r.started_at, r.finished_at \
                 FROM workflow_run_steps s JOIN runs r ON r.id = s.run_id WHERE s.workflow_run = {id}"
            ),
        );
        let start = rows.iter().find(|r| r[0] == 0).unwrap();
        let join = rows.iter().find(|r| r[0] == 2).unwrap();
        let fans: Vec<&Vec<i64>> = rows.iter().filter(|r| r[0] == 1).collect();
        let first_fan = fans.iter().map(|r| r[1]).min().unwrap();
        let last_fan_end = fans.iter().map(|r| r[2]).max().unwrap();
        let mut lateness: Vec<i64> = fans.iter().map(|r| r[1] - start[2]).collect();
        lateness.sort_unstable();
        let wall = join[2] - start[1];
        println!(
            "| {round} | {wall} ms | {:.2} ms | {} ms | {} ms | {} / {} / {} ms |",
            wall as f64 / (FAN_OUT + 2) as f64,
            first_fan - start[2],
            join[1] - last_fan_end,
            percentile(&lateness, 0.5),
            percentile(&lateness, 0.99),
            lateness.last().unwrap()
        );
    }
    host.stop();
}
