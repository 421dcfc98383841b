//! The admin API of a real `carillon serve`: the loopback-only start before
//! any token exists, tokens and roles (and groups), tasks checked exactly as
//! SQL rows are, a task created over HTTP firing and its runs and logs read
//! back, the audit log; a non-loopback listen refused without a token; and
//! schemathesis against the served OpenAPI spec.

use std::time::Duration;

use serde_json::json;

use crate::host::{Host, wait_until};
use crate::http::{Request, get, post};
use crate::pg::TestDatabase;
use crate::support::{carillon, carillon_with_stdin};

/// Creates a token with the CLI and returns its text.
fn token(url: &str, name: &str, role: &str, extra: &[&str]) -> String {
    let mut args = vec!["token", "create", name, "--role", role, "--database", url];
    args.extend(extra);
    let out = carillon(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("shown this once"), "{}", out.stderr);
    out.stdout.trim().to_owned()
}

#[test]
fn the_api_serves_tasks_runs_and_logs_by_role_and_audits_changes() {
    serves_tasks_runs_and_logs_by_role(None);
}

#[test]
fn the_api_works_the_same_on_postgresql() {
    let database = TestDatabase::create("api_roles");
    serves_tasks_runs_and_logs_by_role(Some(database.url()));
}

fn serves_tasks_runs_and_logs_by_role(database: Option<String>) {
    let host = Host::start_on(database, &["hello"], &[]);
    let (api, url) = (host.api(), host.database_url());

    // No token yet: this machine is served, as an admin, and told how to
    // make the first admin; a page of another site, or a rebound DNS name,
    // is not.
    let open = get(&api, "/api/v1/tasks").send();
    assert_eq!(open.status, 200, "{}", open.body);
    assert!(
        open.header("carillon-setup")
            .is_some_and(|hint| hint.contains("carillon token create admin --role admin")),
        "{:?}",
        open.headers
    );
    let rebound = get(&api, "/api/v1/tasks")
        .header("Host", "evil.example:7878")
        .send();
    assert_eq!(rebound.status, 403, "{}", rebound.body);
    let cross_site = post(&api, "/api/v1/tasks")
        .header("Origin", "https://evil.example")
        .json(json!({"name": "x", "module": "hello", "schedule": "every 1s"}))
        .send();
    assert_eq!(cross_site.status, 403, "{}", cross_site.body);

    let admin = token(&url, "admin", "admin", &[]);
    let viewer = token(&url, "viewer", "viewer", &[]);
    let etl = token(&url, "etl-editor", "editor", &["--groups", "etl"]);

    // Now every request needs a token.
    let anonymous = get(&api, "/api/v1/tasks").send();
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.error().0, "unauthorized");
    assert!(anonymous.header("carillon-setup").is_none());
    assert_eq!(
        get(&api, "/api/v1/tasks")
            .token("carillon_nope")
            .send()
            .status,
        401
    );

    // A viewer reads but does not write.
    let refused = post(&api, "/api/v1/tasks")
        .token(&viewer)
        .json(json!({"name": "v", "module": "hello", "schedule": "every 1s"}))
        .send();
    assert_eq!(refused.status, 403, "{}", refused.body);

    // A bad column is refused naming it, in the words the scheduler records
    // on the same row written with SQL.
    let bad = post(&api, "/api/v1/tasks")
        .token(&admin)
        .json(json!({"name": "bad-cron", "module": "hello", "schedule": "0 0 25 * * ?"}))
        .send();
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(bad.error(), ("invalid".into(), "schedule".into()));
    host.sql(
        "INSERT INTO tasks (name, module, schedule) VALUES ('bad-cron', 'hello', '0 0 25 * * ?')",
    );
    let recorded = wait_until("the SQL row's error", Duration::from_secs(10), || {
        host.query("SELECT error FROM tasks WHERE name = 'bad-cron'")
            .first()
            .map(|row| row[0].clone())
            .filter(|error| !error.is_empty())
    });
    assert_eq!(bad.json()["error"]["message"], recorded.as_str());
    let listed = get(&api, "/api/v1/tasks?state=error").token(&viewer).send();
    assert_eq!(
        listed.json()["tasks"][0]["name"],
        "bad-cron",
        "{}",
        listed.body
    );

    // A task made over HTTP fires; its runs and log lines read back.
    let created = post(&api, "/api/v1/tasks")
        .token(&admin)
        .json(
            json!({"name": "api-hello", "module": "hello", "schedule": "every 1s",
                     "params": {"greeting": "hi"}}),
        )
        .send();
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["params"]["greeting"], "hi");
    let twice = post(&api, "/api/v1/tasks")
        .token(&admin)
        .json(json!({"name": "api-hello", "module": "hello", "schedule": "every 1s"}))
        .send();
    assert_eq!(twice.status, 409);
    let run_id = wait_until(
        "a succeeded run of api-hello",
        Duration::from_secs(20),
        || {
            get(&api, "/api/v1/runs?task=api-hello&state=succeeded&limit=1")
                .token(&viewer)
                .send()
                .json()["runs"][0]["id"]
                .as_i64()
        },
    );
    let logs = get(&api, &format!("/api/v1/runs/{run_id}/logs"))
        .token(&viewer)
        .send();
    assert_eq!(logs.status, 200, "{}", logs.body);
    assert!(
        logs.json()["lines"]
            .as_array()
            .is_some_and(|lines| !lines.is_empty()),
        "{}",
        logs.body
    );
    let next = get(&api, "/api/v1/tasks/api-hello/next?n=3")
        .token(&viewer)
        .send()
        .json();
    let times: Vec<i64> = next["times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_i64().unwrap())
        .collect();
    assert_eq!(times.len(), 3);
    assert!(times.windows(2).all(|w| w[1] - w[0] == 1000), "{times:?}");

    // Trigger, pause and a partial change.
    let fired = post(&api, "/api/v1/tasks/api-hello/trigger")
        .token(&admin)
        .json(json!({"params": {"greeting": "now"}}))
        .send();
    assert_eq!(fired.json()["runs"], 1, "{}", fired.body);
    let paused = post(&api, "/api/v1/tasks/api-hello/pause")
        .token(&admin)
        .send();
    assert_eq!(paused.json()["state"], "paused", "{}", paused.body);
    let changed = Request::new(&api, "PATCH", "/api/v1/tasks/api-hello")
        .token(&admin)
        .json(json!({"max_retries": 2, "timeout_ms": null}))
        .send();
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.json()["max_retries"], 2);
    assert_eq!(changed.json()["paused"], true, "fields not given stay");
    let out_of_range = Request::new(&api, "PATCH", "/api/v1/tasks/api-hello")
        .token(&admin)
        .json(json!({"shard_total": 100000}))
        .send();
    assert_eq!(
        out_of_range.error(),
        ("invalid".into(), "shard_total".into())
    );

    // A token limited to a group sees and changes only that group's tasks.
    let made = post(&api, "/api/v1/tasks")
        .token(&etl)
        .json(
            json!({"name": "etl-load", "module": "hello", "schedule": "0 0 3 * * ?",
                     "group": "etl"}),
        )
        .send();
    assert_eq!(made.status, 201, "{}", made.body);
    let theirs = get(&api, "/api/v1/tasks").token(&etl).send().json();
    assert_eq!(theirs["total"], 1, "{theirs}");
    assert_eq!(
        get(&api, "/api/v1/tasks/api-hello")
            .token(&etl)
            .send()
            .status,
        404
    );
    let outside = post(&api, "/api/v1/tasks")
        .token(&etl)
        .json(json!({"name": "elsewhere", "module": "hello", "schedule": "every 1h"}))
        .send();
    assert_eq!(outside.status, 403, "{}", outside.body);
    assert_eq!(get(&api, "/api/v1/audit").token(&etl).send().status, 403);

    // Bulk actions take everything a filter (or a list of names) selects,
    // within what the caller may see, and say how many.
    let bulk = |token: &str, body: serde_json::Value| {
        post(&api, "/api/v1/bulk/tasks")
            .token(token)
            .json(body)
            .send()
    };
    let paused = bulk(&etl, json!({"action": "pause", "select": {}}));
    assert_eq!(
        paused.json()["affected"],
        1,
        "only the etl task: {}",
        paused.body
    );
    assert_eq!(
        get(&api, "/api/v1/tasks/etl-load")
            .token(&etl)
            .send()
            .json()["state"],
        "paused"
    );
    // A dry run counts what the action would take and changes nothing.
    let counted = bulk(
        &admin,
        json!({"action": "resume", "select": {}, "dry_run": true}),
    );
    assert_eq!(counted.json()["affected"], 2, "{}", counted.body);
    let nothing_to_pause = bulk(
        &admin,
        json!({"action": "pause", "select": {"state": "paused"}, "dry_run": true}),
    );
    assert_eq!(nothing_to_pause.json()["affected"], 0);
    let resumed = bulk(
        &admin,
        json!({"action": "resume", "select": {"state": "paused"}}),
    );
    assert_eq!(resumed.json()["affected"], 2, "{}", resumed.body);
    let fired = bulk(
        &admin,
        json!({"action": "trigger", "select": {"names": ["etl-load"]}}),
    );
    assert_eq!(fired.json()["affected"], 1, "{}", fired.body);
    assert_eq!(bulk(&viewer, json!({"action": "pause"})).status, 403);
    let typo = bulk(&admin, json!({"action": "explode"}));
    assert_eq!(typo.status, 422, "{}", typo.body);

    // Modules are uploaded checked by the sandbox, listed and removed.
    let wasm = std::fs::read(crate::examples::path("flaky")).unwrap();
    let uploaded = Request::new(&api, "PUT", "/api/v1/modules/flaky")
        .token(&admin)
        .bytes("application/wasm", wasm)
        .send();
    assert_eq!(uploaded.status, 200, "{}", uploaded.body);
    assert_eq!(uploaded.json()["digest"].as_str().map(str::len), Some(64));
    let broken = Request::new(&api, "PUT", "/api/v1/modules/broken")
        .token(&admin)
        .bytes("application/wasm", b"\0asm not really".to_vec())
        .send();
    assert_eq!(
        broken.error(),
        ("invalid".into(), "body".into()),
        "{}",
        broken.body
    );
    let listed = get(&api, "/api/v1/modules").token(&viewer).send().json();
    let names: Vec<&str> = listed["modules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(
        names.contains(&"flaky") && !names.contains(&"broken"),
        "{names:?}"
    );
    assert_eq!(
        Request::new(&api, "PUT", "/api/v1/modules/x")
            .token(&etl)
            .bytes("application/wasm", vec![1])
            .send()
            .status,
        403,
        "a token limited to groups does not change modules"
    );
    let removed = Request::new(&api, "DELETE", "/api/v1/modules/flaky")
        .token(&admin)
        .send();
    assert_eq!(removed.status, 204, "{}", removed.body);

    // Misfires, as the scheduler records them, limited to what a caller sees.
    host.sql(
        "INSERT INTO misfires (task, first_slot, last_slot, missed, policy, recorded_at) \
         VALUES ('api-hello', 1000, 9000, 9, 'skip', 10000)",
    );
    let misfires = get(&api, "/api/v1/misfires?task=api-hello")
        .token(&viewer)
        .send()
        .json();
    assert_eq!(misfires["misfires"][0]["missed"], 9, "{misfires}");
    let hidden = get(&api, "/api/v1/misfires").token(&etl).send().json();
    assert_eq!(
        hidden["misfires"].as_array().map(Vec::len),
        Some(0),
        "{hidden}"
    );

    // Every change is in the audit log, with who made it.
    let audit = get(&api, "/api/v1/audit").token(&admin).send().json();
    let events: Vec<(String, String, String)> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (text("actor"), text("action"), text("target"))
        })
        .collect();
    for expected in [
        ("token:admin", "task.create", "api-hello"),
        ("token:admin", "task.trigger", "api-hello"),
        ("token:admin", "task.pause", "api-hello"),
        ("token:admin", "task.update", "api-hello"),
        ("token:etl-editor", "task.create", "etl-load"),
        ("token:admin", "module.upload", "flaky"),
        ("token:admin", "module.remove", "flaky"),
        ("cli", "token.create", "viewer"),
    ] {
        let expected = (expected.0.into(), expected.1.into(), expected.2.into());
        assert!(events.contains(&expected), "{expected:?} in {events:?}");
    }

    // Hosts, alive by the node timeout; a host silent past it is not.
    host.sql(
        "INSERT INTO nodes (id, labels, capacity, started_at, heartbeat_at) \
         VALUES ('gone', '', 4, 1000, 2000)",
    );
    let nodes = get(&api, "/api/v1/nodes").token(&viewer).send().json();
    let alive: Vec<(String, bool)> = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_owned(),
                n["alive"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(alive.contains(&("gone".to_owned(), false)), "{alive:?}");
    assert!(
        alive.iter().any(|(id, up)| id != "gone" && *up),
        "{alive:?}"
    );

    // Prometheus metrics, behind a token like the rest.
    assert_eq!(get(&api, "/metrics").send().status, 401);
    let metrics = get(&api, "/metrics").token(&viewer).send();
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        metrics.headers
    );
    for expected in [
        "carillon_runs_started_total{task=\"api-hello\"} ",
        "carillon_runs_ended_total{task=\"api-hello\",state=\"succeeded\"} ",
        "carillon_run_lateness_seconds_bucket{le=\"+Inf\"} ",
        "carillon_nodes_alive 1\n",
        "carillon_free_capacity ",
    ] {
        assert!(
            metrics.body.contains(expected),
            "{expected} in\n{}",
            metrics.body
        );
    }
    let fires: f64 = metrics
        .body
        .lines()
        .find_map(|line| line.strip_prefix("carillon_fires_total "))
        .and_then(|value| value.parse().ok())
        .unwrap();
    assert!(fires >= 1.0, "{}", metrics.body);

    // A revoked token stops working at once.
    let out = carillon(&["token", "revoke", "viewer", "--database", &url]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(get(&api, "/api/v1/tasks").token(&viewer).send().status, 401);
    let listed = carillon(&["token", "list", "--database", &url]);
    assert!(listed.stdout.contains("etl-editor") && !listed.stdout.contains("viewer"));
    assert!(
        !listed.stdout.contains("carillon_"),
        "no token text is listed"
    );

    // Health needs no token.
    assert_eq!(get(&api, "/healthz").send().status, 200);
    assert_eq!(get(&api, "/readyz").send().json()["status"], "ok");
}

/// Reads lines of an event stream until one contains `wanted`; every line
/// read, for messages.
fn read_until(stream: &mut impl std::io::BufRead, wanted: &str, seen: &mut String) -> bool {
    let mut line = String::new();
    loop {
        line.clear();
        match stream.read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) => {
                seen.push_str(&line);
                if line.contains(wanted) {
                    return true;
                }
            }
        }
    }
}

#[test]
fn a_running_runs_log_arrives_live_and_ends_when_it_is_cancelled_and_a_failed_run_is_retried() {
    let host = Host::start(&["sleepy", "flaky"], &[]);
    let (api, url) = (host.api(), host.database_url());
    let admin = token(&url, "admin", "admin", &[]);
    let made = post(&api, "/api/v1/tasks")
        .token(&admin)
        .json(json!({"name": "nap", "module": "sleepy", "schedule": "0 0 3 1 1 ? 2099"}))
        .send();
    assert_eq!(made.status, 201, "{}", made.body);
    post(&api, "/api/v1/tasks/nap/trigger").token(&admin).send();
    let run = wait_until("the nap to run", Duration::from_secs(20), || {
        get(&api, "/api/v1/runs?task=nap&state=running")
            .token(&admin)
            .send()
            .json()["runs"][0]["id"]
            .as_i64()
    });

    // Its first line arrives while it runs.
    let mut stream = get(&api, &format!("/api/v1/runs/{run}/logs/stream"))
        .token(&admin)
        .open();
    stream
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut seen = String::new();
    assert!(
        read_until(&mut stream, "text/event-stream", &mut seen),
        "{seen}"
    );
    assert!(
        read_until(&mut stream, "sleeping for inf s", &mut seen),
        "{seen}"
    );
    assert!(seen.contains("event: line"), "{seen}");

    // Cancelling it ends the stream with its final state.
    let cancelled = post(&api, &format!("/api/v1/runs/{run}/cancel"))
        .token(&admin)
        .send();
    assert_eq!(
        cancelled.json()["outcome"],
        "requested",
        "{}",
        cancelled.body
    );
    assert!(read_until(&mut stream, "event: end", &mut seen), "{seen}");
    assert!(read_until(&mut stream, "cancelled", &mut seen), "{seen}");
    let again = post(&api, &format!("/api/v1/runs/{run}/cancel"))
        .token(&admin)
        .send();
    assert_eq!(again.status, 409, "an ended run is not cancelled twice");

    // A failed run, retried, runs again as its next attempt.
    let made = post(&api, "/api/v1/tasks")
        .token(&admin)
        .json(
            json!({"name": "flaky-once", "module": "flaky", "schedule": "0 0 3 1 1 ? 2099",
                     "params": {"succeed_on": "2"}}),
        )
        .send();
    assert_eq!(made.status, 201, "{}", made.body);
    post(&api, "/api/v1/tasks/flaky-once/trigger")
        .token(&admin)
        .send();
    let failed = wait_until("the first attempt to fail", Duration::from_secs(20), || {
        get(&api, "/api/v1/runs?task=flaky-once&state=failed")
            .token(&admin)
            .send()
            .json()["runs"][0]["id"]
            .as_i64()
    });
    let retried = post(&api, &format!("/api/v1/runs/{failed}/retry"))
        .token(&admin)
        .send();
    assert_eq!(retried.status, 200, "{}", retried.body);
    let attempt = wait_until("the retry to succeed", Duration::from_secs(20), || {
        let run = get(&api, &format!("/api/v1/runs/{failed}"))
            .token(&admin)
            .send()
            .json();
        (run["state"] == "succeeded").then(|| run["attempt"].as_i64().unwrap())
    });
    assert_eq!(attempt, 2);
    let twice = post(&api, &format!("/api/v1/runs/{failed}/retry"))
        .token(&admin)
        .send();
    assert_eq!(twice.status, 409, "a succeeded run is not retried");
}

#[test]
fn a_host_listening_beyond_loopback_needs_a_token_first_and_revoking_it_reopens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("carillon.db").display());
    let plugins = dir.path().join("plugins");
    let out = carillon(&[
        "serve",
        "--database",
        &url,
        "--plugins",
        plugins.to_str().unwrap(),
        "--listen",
        "0.0.0.0:0",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("0.0.0.0:0") && out.stderr.contains("carillon token create admin"),
        "{}",
        out.stderr
    );
    // Once a token has been made, the loopback-only start is over for good,
    // even with every token revoked.
    token(&url, "admin", "admin", &[]);
    let out = carillon(&["token", "revoke", "admin", "--database", &url]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let host = Host::start_on(Some(url), &[], &["--listen", "0.0.0.0:0"]);
    let port = host.api().rsplit(':').next().unwrap().to_owned();
    let answer = get(&format!("http://127.0.0.1:{port}"), "/api/v1/tasks").send();
    assert_eq!(answer.status, 401, "a token is needed, even from loopback");
}

/// schemathesis (from PyPI; `scripts/test.sh` installs it and names it in
/// `CARILLON_SCHEMATHESIS`) against the served spec with an admin token:
/// no 5xx, and every answer matches the spec. Its "schema-valid request
/// accepted" check is left out: a task's columns are checked beyond what
/// JSON Schema can say (cron syntax, zone names, selectors). Revoking
/// tokens is left out so it cannot revoke its own.
#[test]
fn schemathesis_finds_no_server_error_and_no_answer_off_the_spec() {
    let Some(schemathesis) = std::env::var_os("CARILLON_SCHEMATHESIS") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run schemathesis: scripts/test.sh installs it and sets CARILLON_SCHEMATHESIS"
        );
        eprintln!("skipped: set CARILLON_SCHEMATHESIS to a schemathesis binary to run it");
        return;
    };
    let host = Host::start(&["hello"], &[]);
    let admin = token(&host.database_url(), "schemathesis", "admin", &[]);
    host.sql("INSERT INTO tasks (name, module, schedule) VALUES ('hello-every-hour', 'hello', 'every 1h')");
    let out = std::process::Command::new(schemathesis)
        .args([
            "run",
            &format!("{}/api/v1/openapi.json", host.api()),
            "--header",
            &format!("Authorization: Bearer {admin}"),
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--exclude-path",
            "/api/v1/tokens/{name}",
            "--max-examples",
            "40",
            "--seed",
            "7878",
        ])
        .env("NO_COLOR", "1")
        // Its example cache goes with the host's files, not into the tree.
        .current_dir(host.dir.path())
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("passed"), "{report}");
}

#[test]
fn bulk_run_actions_cancel_and_retry_what_a_filter_or_a_pick_matches() {
    let host = Host::start(&["sleepy", "flaky"], &[]);
    let (api, url) = (host.api(), host.database_url());
    let admin = token(&url, "admin", "admin", &[]);
    let viewer = token(&url, "viewer", "viewer", &[]);
    for (name, module, params) in [
        ("naps", "sleepy", json!({})),
        ("flakes", "flaky", json!({"succeed_on": "2"})),
    ] {
        let made = post(&api, "/api/v1/tasks")
            .token(&admin)
            .json(
                json!({"name": name, "module": module, "schedule": "0 0 3 1 1 ? 2099",
                         "shard_total": 3, "params": params}),
            )
            .send();
        assert_eq!(made.status, 201, "{}", made.body);
        post(&api, &format!("/api/v1/tasks/{name}/trigger"))
            .token(&admin)
            .send();
    }
    let count = |query: &str| {
        get(&api, &format!("/api/v1/runs?{query}"))
            .token(&admin)
            .send()
            .json()["runs"]
            .as_array()
            .unwrap()
            .len()
    };
    wait_until(
        "three naps running and three flakes failed",
        Duration::from_secs(20),
        || {
            (count("task=naps&state=running") == 3 && count("task=flakes&state=failed") == 3)
                .then_some(())
        },
    );

    let refused = post(&api, "/api/v1/bulk/runs")
        .token(&viewer)
        .json(json!({"action": "cancel"}))
        .send();
    assert_eq!(refused.status, 403, "{}", refused.body);
    // A dry run says how many a filter takes and changes nothing.
    let counted = post(&api, "/api/v1/bulk/runs")
        .token(&admin)
        .json(json!({"action": "cancel", "select": {"task": "naps"}, "dry_run": true}))
        .send();
    assert_eq!(counted.json()["affected"], 3, "{}", counted.body);
    assert_eq!(count("task=naps&state=running"), 3);

    // Picked rows: only those the action applies to, each once; a failed
    // flake, an unknown id and a repeat are passed over.
    let first_id = |query: &str| {
        get(&api, &format!("/api/v1/runs?{query}&limit=1"))
            .token(&admin)
            .send()
            .json()["runs"][0]["id"]
            .as_i64()
            .unwrap()
    };
    let (nap, flake) = (first_id("task=naps"), first_id("task=flakes"));
    let picked = post(&api, "/api/v1/bulk/runs")
        .token(&admin)
        .json(json!({"action": "cancel", "select": {"ids": [nap, nap, flake, 999_999_999]}}))
        .send();
    assert_eq!(picked.json()["affected"], 1, "{}", picked.body);
    let cancelled = post(&api, "/api/v1/bulk/runs")
        .token(&admin)
        .json(json!({"action": "cancel", "select": {"task": "naps"}}))
        .send();
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    let rest = cancelled.json()["affected"].as_i64().unwrap();
    // The picked nap may still be stopping (a cancel asked again counts).
    assert!((2..=3).contains(&rest), "{}", cancelled.body);
    wait_until("the naps to end cancelled", Duration::from_secs(20), || {
        (count("task=naps&state=cancelled") == 3).then_some(())
    });

    // Retry takes only the failed runs of the filter: the cancelled naps
    // are not in it.
    let retried = post(&api, "/api/v1/bulk/runs")
        .token(&admin)
        .json(json!({"action": "retry", "select": {"state": "failed"}}))
        .send();
    assert_eq!(retried.json()["affected"], 3, "{}", retried.body);
    wait_until(
        "the flakes to succeed on their retry",
        Duration::from_secs(20),
        || (count("task=flakes&state=succeeded") == 3).then_some(()),
    );
    assert_eq!(count("task=naps&state=cancelled"), 3);
    let bad = post(&api, "/api/v1/bulk/runs")
        .token(&admin)
        .json(json!({"action": "explode"}))
        .send();
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(bad.json()["error"]["field"], "action", "{}", bad.body);
}

#[test]
fn the_runs_chart_counts_runs_by_hour_and_state_for_the_groups_a_caller_sees() {
    let host = Host::start(&["hello"], &[]);
    let (api, url) = (host.api(), host.database_url());
    let admin = token(&url, "admin", "admin", &[]);
    let etl = token(&url, "etl-viewer", "viewer", &["--groups", "etl"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    host.sql(&format!(
        "INSERT INTO runs (task, task_group, module, shard_index, shard_total, scheduled_at, \
         not_before, state, created_at) VALUES ('a', 'etl', 'noop', 0, 1, 1, 0, 'succeeded', {now}), \
         ('b', 'etl', 'noop', 0, 1, 2, 0, 'failed', {now}), \
         ('c', 'billing', 'noop', 0, 1, 3, 0, 'succeeded', {now})"
    ));
    let chart = |token: &str, query: &str| {
        get(&api, &format!("/api/v1/stats/runs{query}"))
            .token(token)
            .send()
    };
    // Summed over the hours, in case an hour ended between the insert and the ask.
    let total = |answer: &crate::http::Answer, state: &str| -> i64 {
        answer.json()["hours"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hour| hour["runs"][state].as_i64().unwrap_or(0))
            .sum()
    };
    let day = chart(&etl, "");
    assert_eq!(day.status, 200, "{}", day.body);
    assert_eq!(day.json()["hours"].as_array().unwrap().len(), 24);
    assert_eq!(
        (total(&day, "succeeded"), total(&day, "failed")),
        (1, 1),
        "{}",
        day.body
    );
    let week = chart(&admin, "?hours=168");
    assert_eq!(week.json()["hours"].as_array().unwrap().len(), 168);
    assert!(total(&week, "succeeded") >= 2, "{}", week.body);
    for bad in ["?hours=0", "?hours=169", "?days=7"] {
        let refused = chart(&admin, bad);
        assert!(
            refused.status == 400 || refused.status == 422,
            "{bad}: {} {}",
            refused.status,
            refused.body
        );
    }
    assert_eq!(chart(&admin, "?hours=0").json()["error"]["field"], "hours");
}

#[test]
fn bad_input_gets_a_4xx_that_names_what_was_wrong_never_a_5xx() {
    let host = Host::start(&["hello"], &[]);
    let api = host.api();
    let field = |answer: &crate::http::Answer| answer.json()["error"]["field"].clone();

    let malformed = post(&api, "/api/v1/tasks")
        .bytes("application/json", b"{\"name\": ".to_vec())
        .send();
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    let typed = post(&api, "/api/v1/tasks")
        .json(
            json!({"name": "t", "module": "hello", "schedule": "every 1s", "shard_total": "three"}),
        )
        .send();
    assert_eq!(
        (typed.status, field(&typed)),
        (422, json!("shard_total")),
        "{}",
        typed.body
    );
    let unknown = post(&api, "/api/v1/tasks")
        .json(json!({"name": "t", "module": "hello", "schedule": "every 1s", "colour": "red"}))
        .send();
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert!(unknown.body.contains("colour"), "{}", unknown.body);

    // A 10 KB name is refused by name, and looked up as what it is: absent.
    let long = "n".repeat(10 * 1024);
    let named = post(&api, "/api/v1/tasks")
        .json(json!({"name": long, "module": "hello", "schedule": "every 1s"}))
        .send();
    assert_eq!(
        (named.status, field(&named)),
        (422, json!("name")),
        "{}",
        named.body
    );
    assert_eq!(
        get(&api, &format!("/api/v1/tasks/{long}")).send().status,
        404
    );

    // Bodies past the cap, JSON or module.
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let oversized = post(&api, "/api/v1/tasks")
        .bytes("application/json", huge.into_bytes())
        .send();
    assert_eq!(oversized.status, 413, "{}", oversized.body);
    assert_eq!(oversized.error().0, "too-large");

    // Module names cannot leave the modules table for the file system.
    for name in ["..%2F..%2Fetc%2Fpasswd", "..", "a%2Fb", "%00"] {
        let put = Request::new(&api, "PUT", &format!("/api/v1/modules/{name}"))
            .bytes("application/wasm", b"\0asm\x0d\0\x01\0".to_vec())
            .send();
        assert!(
            (400..500).contains(&put.status),
            "{name}: {} {}",
            put.status,
            put.body
        );
    }
    assert!(!host.plugins().join("..").join("passwd").exists());
    let modules = get(&api, "/api/v1/modules").send().json();
    assert_eq!(modules["modules"].as_array().unwrap().len(), 1, "{modules}");

    // Filters and pages out of range, and values of the wrong kind.
    for query in [
        "/api/v1/runs?limit=100000",
        "/api/v1/runs?limit=0",
        "/api/v1/runs?before=abc",
        "/api/v1/runs?state=exploded",
        "/api/v1/tasks?state=asleep",
        "/api/v1/tasks/hello/next?n=100000",
        "/api/v1/cron/next?expr=*%20*&n=5",
        "/api/v1/delays?state=late",
    ] {
        let answer = get(&api, query).send();
        assert!(
            (400..500).contains(&answer.status),
            "{query}: {} {}",
            answer.status,
            answer.body
        );
        assert!(!answer.error().1.is_empty(), "{query}: {}", answer.body);
    }
    // A delay whose body is over its cap names it.
    let body = "b".repeat(1024 * 1024 + 1);
    let delay = post(&api, "/api/v1/delays")
        .json(json!({"topic": "t", "key": "k", "delay": "1s",
                     "callback": {"url": "http://127.0.0.1:9/", "body": body}}))
        .send();
    assert_eq!(delay.status, 422, "{}", delay.body);
}

/// Signs in `name` and answers the session cookie (`carillon_session=…`)
/// and its CSRF token.
fn sign_in(api: &str, name: &str, password: &str) -> (String, String) {
    let answer = post(api, "/api/v1/login")
        .json(json!({"name": name, "password": password}))
        .send();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let set = answer.header("set-cookie").unwrap_or_default().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    let csrf = answer.json()["csrf_token"].as_str().unwrap().to_owned();
    (cookie, csrf)
}

#[test]
fn users_sign_in_with_a_password_their_changes_need_the_csrf_token_and_failures_are_limited() {
    let host = Host::start(&["hello"], &[]);
    let (api, url) = (host.api(), host.database_url());
    let add = |name: &str, role: &str, password: &str| {
        carillon_with_stdin(
            &["user", "add", name, "--role", role, "--database", &url],
            password,
        )
    };
    let short = add("alice", "admin", "short\n");
    assert_eq!(short.code, 2, "{}", short.stderr);
    assert!(short.stderr.contains("at least 8"), "{}", short.stderr);
    assert_eq!(add("alice", "admin", "correct horse battery\n").code, 0);
    assert_eq!(add("bob", "viewer", "bob's long password\n").code, 0);
    let taken = add("alice", "viewer", "another password\n");
    assert_eq!(taken.code, 2);
    assert!(taken.stderr.contains("exists"), "{}", taken.stderr);
    let listed = carillon(&["user", "list", "--json", "--database", &url]);
    assert!(listed.stdout.contains("\"alice\"") && listed.stdout.contains("\"bob\""));
    assert!(
        !listed.stdout.contains("argon2") && !listed.stdout.contains("horse"),
        "{}",
        listed.stdout
    );

    // A user exists: the loopback-only start is over.
    let anonymous = get(&api, "/api/v1/tasks").send();
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let wrong = post(&api, "/api/v1/login")
        .json(json!({"name": "alice", "password": "wrong horse battery"}))
        .send();
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong.header("set-cookie").is_none());

    let (cookie, csrf) = sign_in(&api, "alice", "correct horse battery");
    let me = get(&api, "/api/v1/session")
        .header("Cookie", &cookie)
        .send();
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["actor"], "user:alice");
    assert_eq!(me.json()["role"], "admin");
    assert_eq!(me.json()["csrf_token"], csrf.as_str());

    // A change through the session needs its CSRF token, so another site's
    // form cannot make one with the user's cookie.
    let task = json!({"name": "greet", "module": "hello", "schedule": "0 0 3 1 1 ? 2099"});
    let forged = post(&api, "/api/v1/tasks")
        .header("Cookie", &cookie)
        .json(task.clone())
        .send();
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("X-CSRF-Token"), "{}", forged.body);
    let wrong_token = post(&api, "/api/v1/tasks")
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", "0000")
        .json(task.clone())
        .send();
    assert_eq!(wrong_token.status, 403, "{}", wrong_token.body);
    let made = post(&api, "/api/v1/tasks")
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .json(task)
        .send();
    assert_eq!(made.status, 201, "{}", made.body);
    let audit = get(&api, "/api/v1/audit").header("Cookie", &cookie).send();
    assert!(
        audit.json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "user:alice" && e["action"] == "task.create"),
        "{}",
        audit.body
    );

    // An admin manages users over the API too; a password is checked.
    let weak = post(&api, "/api/v1/users")
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .json(json!({"name": "carol", "role": "operator", "password": "1234"}))
        .send();
    assert_eq!(weak.status, 422, "{}", weak.body);
    assert_eq!(weak.error(), ("invalid".to_owned(), "password".to_owned()));
    let carol = post(&api, "/api/v1/users")
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .json(
            json!({"name": "carol", "role": "operator", "groups": ["etl"],
                     "password": "carol's long password"}),
        )
        .send();
    assert_eq!(carol.status, 201, "{}", carol.body);
    assert!(!carol.body.contains("password"), "{}", carol.body);

    // A viewer signs in and reads, but changes nothing and sees no users.
    let (bob, bob_csrf) = sign_in(&api, "bob", "bob's long password");
    let read = get(&api, "/api/v1/tasks").header("Cookie", &bob).send();
    assert_eq!(read.status, 200, "{}", read.body);
    let paused = post(&api, "/api/v1/tasks/greet/pause")
        .header("Cookie", &bob)
        .header("X-CSRF-Token", &bob_csrf)
        .send();
    assert_eq!(paused.status, 403, "{}", paused.body);
    let users = get(&api, "/api/v1/users").header("Cookie", &bob).send();
    assert_eq!(users.status, 403, "{}", users.body);

    // Removing a user ends their sessions; signing out ends one.
    let removed = Request::new(&api, "DELETE", "/api/v1/users/bob")
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .send();
    assert_eq!(removed.status, 204, "{}", removed.body);
    let gone = get(&api, "/api/v1/tasks").header("Cookie", &bob).send();
    assert_eq!(gone.status, 401, "{}", gone.body);
    let out = post(&api, "/api/v1/logout")
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .send();
    assert_eq!(out.status, 204, "{}", out.body);
    assert!(
        out.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    let ended = get(&api, "/api/v1/session")
        .header("Cookie", &cookie)
        .send();
    assert_eq!(ended.status, 401, "{}", ended.body);

    // Failed sign-ins are limited: after five, even the right password
    // waits, and the answer says how long.
    for _ in 0..5 {
        let failed = post(&api, "/api/v1/login")
            .json(json!({"name": "alice", "password": "guess guess guess"}))
            .send();
        assert_eq!(failed.status, 401, "{}", failed.body);
    }
    let limited = post(&api, "/api/v1/login")
        .json(json!({"name": "alice", "password": "correct horse battery"}))
        .send();
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.error().0, "too-many-requests");
    assert!(
        limited
            .header("retry-after")
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|s| s > 0),
        "{:?}",
        limited.headers
    );
    assert!(
        !host.log().contains("correct horse") && !host.log().contains("guess guess"),
        "a password reached the log"
    );
}

#[test]
fn edits_sent_at_once_to_different_fields_all_stay() {
    let host = Host::start(&["hello"], &[]);
    let api = host.api();
    let created = post(&api, "/api/v1/tasks")
        .json(json!({"name": "edited", "module": "hello", "schedule": "every 1h"}))
        .send();
    assert_eq!(created.status, 201, "{}", created.body);

    // Each round, four editors change four different fields at the same
    // moment; none may undo another's change (a lost update).
    for round in 1..=5i64 {
        let fields = [
            json!({"timeout_ms": 1000 + round}),
            json!({"max_retries": round}),
            json!({"retry_backoff_ms": 100 + round}),
            json!({"keep_runs": 10 + round}),
        ];
        std::thread::scope(|scope| {
            for body in &fields {
                let api = &api;
                scope.spawn(move || {
                    let answer = Request::new(api, "PATCH", "/api/v1/tasks/edited")
                        .json(body.clone())
                        .send();
                    assert_eq!(answer.status, 200, "{}", answer.body);
                });
            }
        });
        let task = get(&api, "/api/v1/tasks/edited").send().json();
        assert_eq!(task["timeout_ms"], 1000 + round, "{task}");
        assert_eq!(task["max_retries"], round, "{task}");
        assert_eq!(task["retry_backoff_ms"], 100 + round, "{task}");
        assert_eq!(task["keep_runs"], 10 + round, "{task}");
    }
}
