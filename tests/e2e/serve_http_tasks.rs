//! HTTP tasks (module `http`) on a real `carillon serve`, against a local
//! server: one SQL insert makes a task that calls its URL with the method,
//! headers and body of its params, the answer recorded on the run; a 500 or
//! a body without the expected text fails the run and it is retried; a call
//! past its timeout is stopped; the host's ceiling (`egress.allowed_hosts`)
//! and its refusal of internal addresses apply, named in the run's log; bad
//! params are an error on the row; no module may be called `http`.

use std::time::{Duration, Instant};

use crate::callbacks::CallbackServer;
use crate::host::{Host, wait_until};

/// The runs of `task` once `count` of them are final: (state, attempt,
/// summary, error), oldest first.
pub fn final_runs(host: &Host, task: &str, count: usize) -> Vec<Vec<String>> {
    wait_until(
        &format!("{count} final runs of {task}"),
        Duration::from_secs(20),
        || {
            let runs = host.query(&format!(
                "SELECT state, attempt, COALESCE(summary, ''), COALESCE(error, '') FROM runs \
                 WHERE task = '{task}' AND state IN ('succeeded', 'failed', 'timed-out', 'cancelled') \
                 ORDER BY id"
            ));
            (runs.len() >= count).then_some(runs)
        },
    )
}

/// Every log line of `task`'s runs, in order.
pub fn log_of(host: &Host, task: &str) -> String {
    host.query(&format!(
        "SELECT l.message FROM run_logs l JOIN runs r ON r.id = l.run_id \
         WHERE r.task = '{task}' ORDER BY l.run_id, l.attempt, l.seq"
    ))
    .into_iter()
    .map(|row| row[0].clone())
    .collect::<Vec<_>>()
    .join("\n")
}

fn allowing_loopback() -> [&'static str; 2] {
    ["--egress-allowed-hosts", "http://127.0.0.1:*"]
}

#[test]
fn an_http_task_made_with_one_sql_insert_calls_its_url_and_records_the_answer() {
    let server = CallbackServer::start();
    let host = Host::start(&[], &allowing_loopback());
    host.sql(&format!(
        "INSERT INTO tasks (name, module, schedule, params) VALUES ('ping', 'http', 'every 1s', \
         '{{\"url\": \"{}/hooks/ping\", \"method\": \"post\", \"headers\": \"X-Shop: berlin\\nAuthorization: Bearer t0k\", \
           \"body\": \"{{}}\", \"content_type\": \"application/json\"}}')",
        server.base()
    ));
    let runs = final_runs(&host, "ping", 2);
    for run in &runs {
        assert_eq!(run[0], "succeeded", "{runs:?}");
        assert!(run[2].starts_with("200 OK in "), "{runs:?}");
    }
    let got = server.to("/hooks/ping");
    assert!(got.len() >= 2, "{got:?}");
    let first = &got[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.body, "{}");
    assert_eq!(first.headers["x-shop"], "berlin");
    assert_eq!(first.headers["authorization"], "Bearer t0k");
    assert_eq!(first.headers["content-type"], "application/json");
    assert_eq!(first.headers["x-carillon-task"], "ping");
    assert_eq!(first.headers["x-carillon-shard"], "0/1");
    let log = log_of(&host, "ping");
    assert!(log.contains("answered 200 OK in"), "{log}");
    assert!(log.contains("body (first 2 bytes): ok"), "{log}");
    // A trigger's params are checked as the call they make.
    let api = host.api();
    let refused = crate::http::post(&api, "/api/v1/tasks/ping/trigger")
        .json(serde_json::json!({"params": {"expect_stauts": "200"}}))
        .send();
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("expect_stauts"), "{}", refused.body);
    let triggered = crate::http::post(&api, "/api/v1/tasks/ping/trigger")
        .json(serde_json::json!({"params": {"body": "now"}}))
        .send();
    assert_eq!(triggered.status, 200, "{}", triggered.body);
    wait_until("the triggered call", Duration::from_secs(10), || {
        server
            .to("/hooks/ping")
            .iter()
            .any(|r| r.body == "now")
            .then_some(())
    });
}

#[test]
fn a_500_or_a_body_without_the_expected_text_fails_the_run_and_it_is_retried() {
    let server = CallbackServer::answering(
        |request, _| {
            if request.path == "/broken" { 500 } else { 200 }
        },
    );
    let host = Host::start(&[], &allowing_loopback());
    let base = server.base();
    host.sql(&format!(
        "INSERT INTO tasks (name, module, schedule, params, max_retries, retry_backoff_ms) VALUES \
         ('broken', 'http', 'after 0s', '{{\"url\": \"{base}/broken\"}}', 2, 100), \
         ('unhealthy', 'http', 'after 0s', '{{\"url\": \"{base}/health\", \"expect_body_contains\": \"healthy\"}}', 0, 100), \
         ('accepts-500', 'http', 'after 0s', '{{\"url\": \"{base}/broken\", \"expect_status\": \"2xx,500\"}}', 0, 100)"
    ));
    let broken = final_runs(&host, "broken", 1);
    assert_eq!(broken[0][0], "failed", "{broken:?}");
    assert_eq!(broken[0][1], "3", "three attempts: {broken:?}");
    assert!(
        broken[0][3].contains("expected status 2xx, got 500"),
        "{broken:?}"
    );
    let unhealthy = final_runs(&host, "unhealthy", 1);
    assert_eq!(unhealthy[0][0], "failed", "{unhealthy:?}");
    assert!(
        unhealthy[0][3].contains("does not contain `healthy`"),
        "{unhealthy:?}"
    );
    let accepted = final_runs(&host, "accepts-500", 1);
    assert_eq!(accepted[0][0], "succeeded", "{accepted:?}");
    assert!(accepted[0][2].starts_with("500 "), "{accepted:?}");
    // Each attempt of `broken` called once (two `accepts-500` calls too).
    wait_until("every call to arrive", Duration::from_secs(5), || {
        (server.to("/broken").len() == 4).then_some(())
    });
}

#[test]
fn a_call_past_its_timeout_is_stopped() {
    let server = CallbackServer::answering(|_, _| {
        std::thread::sleep(Duration::from_secs(4));
        200
    });
    let host = Host::start(&[], &allowing_loopback());
    let inserted = Instant::now();
    host.sql(&format!(
        "INSERT INTO tasks (name, module, schedule, params) VALUES ('slow', 'http', 'after 0s', \
         '{{\"url\": \"{}/slow\", \"timeout\": \"300ms\"}}')",
        server.base()
    ));
    let runs = final_runs(&host, "slow", 1);
    assert_eq!(runs[0][0], "timed-out", "{runs:?}");
    assert!(
        inserted.elapsed() < Duration::from_secs(4),
        "it waited for the answer"
    );
    let log = log_of(&host, "slow");
    assert!(log.contains("no full answer within 300 ms"), "{log}");
}

#[test]
fn calls_outside_the_hosts_ceiling_or_to_internal_addresses_are_refused_and_named() {
    let server = CallbackServer::start();
    let port = server.port;
    // The default ceiling is any public host: loopback, by address or by a
    // name resolving to it, is internal and refused.
    let host = Host::start(&[], &[]);
    host.sql(&format!(
        "INSERT INTO tasks (name, module, schedule, params) VALUES \
         ('by-address', 'http', 'after 0s', '{{\"url\": \"http://127.0.0.1:{port}/a\"}}'), \
         ('by-name', 'http', 'after 0s', '{{\"url\": \"http://localhost:{port}/b\"}}')"
    ));
    for task in ["by-address", "by-name"] {
        let runs = final_runs(&host, task, 1);
        assert_eq!(runs[0][0], "failed", "{runs:?}");
        assert!(runs[0][3].contains("internal addresses"), "{runs:?}");
        assert!(runs[0][3].contains("egress.allow_private"), "{runs:?}");
        assert!(log_of(&host, task).contains("internal addresses"));
    }
    drop(host);
    // A ceiling that does not list the target refuses it by name.
    let host = Host::start(&[], &["--egress-allowed-hosts", "https://api.example.com"]);
    host.sql(&format!(
        "INSERT INTO tasks (name, module, schedule, params, max_retries) VALUES \
         ('outside', 'http', 'after 0s', '{{\"url\": \"http://127.0.0.1:{port}/c\"}}', 3)"
    ));
    let runs = final_runs(&host, "outside", 1);
    assert_eq!(runs[0][0], "failed", "{runs:?}");
    assert_eq!(runs[0][1], "1", "a refusal is not retried: {runs:?}");
    assert!(
        runs[0][3].contains(&format!("http://127.0.0.1:{port} is not allowed"))
            && runs[0][3].contains("egress.allowed_hosts"),
        "{runs:?}"
    );
    assert!(server.received().is_empty(), "{:?}", server.received());
}

#[test]
fn bad_params_are_an_error_on_the_row_and_no_module_may_be_called_http() {
    let host = Host::start(&[], &allowing_loopback());
    host.sql(
        "INSERT INTO tasks (name, module, schedule, params) VALUES \
         ('no-url', 'http', 'every 1s', '{}'), \
         ('typo', 'http', 'every 1s', '{\"url\": \"http://127.0.0.1:1/\", \"expect_stauts\": \"200\"}')",
    );
    let errors = wait_until("both rows to get errors", Duration::from_secs(10), || {
        let rows = host.query(
            "SELECT name, COALESCE(error, '') FROM tasks WHERE error IS NOT NULL ORDER BY name",
        );
        (rows.len() == 2).then_some(rows)
    });
    assert_eq!(errors[0][0], "no-url");
    assert!(
        errors[0][1].starts_with("column `params`")
            && errors[0][1].contains("param `url` is missing"),
        "{errors:?}"
    );
    assert!(
        errors[1][1].contains("param `expect_stauts` is not one an HTTP task reads"),
        "{errors:?}"
    );
    // A module file called http.wasm is refused, with the reason.
    std::fs::copy(
        crate::examples::path("hello"),
        host.plugins().join("http.wasm"),
    )
    .unwrap();
    wait_until("the refusal in the log", Duration::from_secs(10), || {
        host.log()
            .contains("the module name `http` is kept for HTTP tasks")
            .then_some(())
    });
    assert!(
        host.query("SELECT name FROM modules WHERE name = 'http'")
            .is_empty()
    );
}
