//! Jobs in Python (componentize-py) and JavaScript (ComponentizeJS), built
//! by `scripts/build-examples.sh`, run as Rust jobs do: under `carillon run`
//! and `carillon serve`, with typed params whose errors read as the Rust
//! SDK's, log fields, task state, checkpoints and retries, and any exception
//! turned into a job error; and their SQL helpers on a granted database.

use std::path::PathBuf;

use crate::host::Host;
use crate::serve_http_tasks::{final_runs, log_of};
use crate::support::{carillon, wasm};

const LANGUAGES: [(&str, &str); 2] = [("python", "int"), ("js", "integer")];

#[test]
fn hello_and_pager_run_under_carillon_run_in_python_and_javascript() {
    for (language, int) in LANGUAGES {
        let hello = wasm(&format!("{language}-hello"));
        let out = carillon(&[
            "run",
            &hello,
            "--shard",
            "1/2",
            "--shard-param",
            "Shanghai",
            "--param",
            "name=Ada",
        ]);
        assert_eq!(out.code, 0, "{language}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains("INFO  hello from shard 1 of 2"),
            "{language}: {}",
            out.stdout
        );
        assert!(
            out.stdout.contains("attempt=1"),
            "{language}: fields are kept: {}",
            out.stdout
        );
        assert!(
            out.stdout.contains("shard parameter: Shanghai"),
            "{language}: {}",
            out.stdout
        );
        assert!(
            out.stdout
                .contains("said hello to Ada (run 1 of this task)"),
            "{language}: {}",
            out.stdout
        );

        let thrown = carillon(&["run", &hello, "--param", "fail_with=the disk is full"]);
        assert_eq!(thrown.code, 1, "{language}: {}", thrown.stdout);
        let error = if language == "python" {
            "job failed (retryable): ValueError: the disk is full"
        } else {
            "job failed (retryable): TypeError: the disk is full"
        };
        assert!(
            thrown.stderr.contains(error),
            "{language}: {}",
            thrown.stderr
        );

        let pager = wasm(&format!("{language}-pager"));
        let out = carillon(&[
            "run",
            &pager,
            "--page",
            "2:25",
            "--param",
            "checkpoint_every=10",
        ]);
        assert_eq!(out.code, 0, "{language}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stdout
                .contains("page 2: items [50, 75), 25 processed this attempt"),
            "{language}: {}",
            out.stdout
        );
        assert!(
            out.stdout.contains("last checkpoint: 75"),
            "{language}: {}",
            out.stdout
        );
        let resumed = carillon(&["run", &pager, "--page", "2:25", "--checkpoint", "70"]);
        assert!(
            resumed.stdout.contains("5 processed this attempt"),
            "{language}: {}",
            resumed.stdout
        );

        let bad = carillon(&["run", &pager, "--param", "total=abc"]);
        assert_eq!(bad.code, 1, "{language}");
        assert!(
            bad.stderr.contains(&format!(
                "job failed (not retryable): param `total`: expected {int}, got `abc`"
            )),
            "{language}: {}",
            bad.stderr
        );
    }
}

/// A compile cache shared by the tests' hosts, so each big component is
/// compiled once per machine rather than once per host.
fn shared_cache() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("test-compile-cache")
}

#[test]
fn python_and_javascript_jobs_are_served_retried_and_resume_from_checkpoints() {
    let cache = shared_cache();
    let host = Host::start(
        &["python-hello", "python-pager", "js-hello", "js-pager"],
        &["--cache-dir", cache.to_str().unwrap()],
    );
    // Big modules load in the background; the first time, each compiles
    // for seconds.
    crate::host::wait_until(
        "the four modules to load",
        std::time::Duration::from_secs(180),
        || (host.log().matches("module loaded").count() >= 4).then_some(()),
    );
    host.sql(
        "INSERT INTO tasks (name, module, schedule, params, page_size, max_retries, retry_backoff_ms) VALUES \
         ('py-pages', 'python_pager', 'after 0s', '{\"total\": \"20\", \"fail_after\": \"4\", \"checkpoint_every\": \"3\"}', 10, 1, 0), \
         ('js-pages', 'js_pager', 'after 0s', '{\"total\": \"20\", \"fail_after\": \"4\", \"checkpoint_every\": \"3\"}', 10, 1, 0)",
    );
    host.sql(
        "INSERT INTO tasks (name, module, schedule, shard_total) VALUES \
         ('py-hello', 'python_hello', 'every 1s', 2), ('js-hello', 'js_hello', 'every 1s', 2)",
    );
    for task in ["py-pages", "js-pages"] {
        // Page 0 fails after 4 items (checkpoint at 3), is retried and
        // resumes at item 3.
        let runs = final_runs(&host, task, 1);
        assert_eq!(
            runs[0][..3],
            [
                "succeeded",
                "2",
                "page 0: items [0, 10), 7 processed this attempt"
            ],
            "{task}"
        );
        assert!(
            log_of(&host, task).contains("resuming page 0 from checkpoint"),
            "{task}"
        );
    }
    for task in ["py-hello", "js-hello"] {
        let runs = final_runs(&host, task, 6);
        assert!(
            runs.iter().all(|run| run[0] == "succeeded"),
            "{task}: {runs:?}"
        );
        // Task state is kept between runs: the count goes up (the two
        // shards of a fire read the same count).
        let counts: Vec<&str> = runs.iter().map(|run| run[2].as_str()).collect();
        assert!(
            counts
                .iter()
                .any(|summary| summary.contains("(run 3 of this task)")),
            "{task}: {counts:?}"
        );
    }
}

#[test]
fn python_and_javascript_jobs_query_a_granted_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/shop.db", dir.path().display());
    for statement in [
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)",
        "INSERT INTO orders (id, amount) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250) SELECT i, i * 10 FROM n",
    ] {
        crate::host::query_db(&format!("{url}?mode=rwc"), statement);
    }
    let grant = format!("shop={url}");
    for (language, _) in LANGUAGES {
        let tally = wasm(&format!("{language}-tally"));
        let out = carillon(&["run", &tally, "--sql", &grant]);
        assert_eq!(out.code, 0, "{language}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains("250 orders, total 313750"),
            "{language}: {}",
            out.stdout
        );
        assert!(
            out.stdout.contains("SQL: 4 statements, 250 rows returned"),
            "{language}: {}",
            out.stdout
        );
        let resumed = carillon(&[
            "run",
            &tally,
            "--sql",
            &grant,
            "--checkpoint",
            "200,200,201000",
        ]);
        assert!(
            resumed.stdout.contains("250 orders, total 313750"),
            "{language}: {}",
            resumed.stdout
        );
        assert!(
            resumed.stdout.contains("50 rows returned"),
            "{language}: {}",
            resumed.stdout
        );
        let refused = carillon(&["run", &tally, "--param", "database=crm"]);
        assert_eq!(refused.code, 1, "{language}");
        assert!(
            refused
                .stderr
                .contains("query on database `crm`: database `crm` is not configured"),
            "{language}: {}",
            refused.stderr
        );
    }
}
