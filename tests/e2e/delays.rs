//! Delay tasks on a real `carillon serve`: created over the API (a resend
//! does not double one, not even sent at the same moment; each new one
//! audited once), a cancelled one is never called, called back once
//! at their time with the headers and body asked for, retried on non-2xx
//! until their retries run out, rows written by plain SQL called too (a bad
//! one failed with the reason), callbacks the host does not allow refused
//! (a name resolving to loopback included), HTTPS with a configured CA, the
//! CLI, and exactly one successful callback per delay across two hosts on
//! PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::callbacks::CallbackServer;
use crate::host::{Host, wait_until};
use crate::http::{Request, get, post};
use crate::pg::TestDatabase;
use crate::support::carillon;

fn allowing(server: &CallbackServer) -> Vec<String> {
    vec![
        "--delays-allowed-hosts".to_owned(),
        server.base(),
        "--delays-retry-backoff".to_owned(),
        "100ms".to_owned(),
    ]
}

fn start(database: Option<String>, node: &str, extra: &[String]) -> Host {
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    Host::start_node(database, node, &[], &extra)
}

fn delay(topic: &str, key: &str, url: &str, wait: &str) -> serde_json::Value {
    json!({"topic": topic, "key": key, "delay": wait, "callback": {"url": url}})
}

/// The delay's state once it is no longer pending or delivering.
fn settled(api: &str, topic: &str, key: &str) -> serde_json::Value {
    wait_until(
        &format!("delay {topic}/{key} to settle"),
        Duration::from_secs(20),
        || {
            let got = get(api, &format!("/api/v1/delays/{topic}/{key}"))
                .send()
                .json();
            let state = got["state"].as_str().unwrap_or("").to_owned();
            (state != "pending" && state != "delivering").then_some(got)
        },
    )
}

#[test]
fn a_delay_is_called_back_once_at_its_time_and_a_resend_does_not_double_it() {
    let server = CallbackServer::start();
    let host = start(None, "test-node", &allowing(&server));
    let api = host.api();
    let hook = format!("{}/orders/42/timeout", server.base());

    let body = json!({
        "topic": "order-timeout", "key": "order-42", "delay": "1s", "retries": 2,
        "callback": {"url": hook, "method": "PUT", "headers": {"X-Shop": "berlin"},
                     "body": "{\"order\":42}", "content_type": "application/json"}
    });
    let created = post(&api, "/api/v1/delays").json(body.clone()).send();
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["state"], "pending");
    let again = post(&api, "/api/v1/delays").json(body).send();
    assert_eq!(again.status, 200, "{}", again.body);
    let other = post(&api, "/api/v1/delays")
        .json(delay(
            "order-timeout",
            "order-42",
            &format!("{}/elsewhere", server.base()),
            "1s",
        ))
        .send();
    assert_eq!(other.status, 409, "{}", other.body);

    // The order was paid: its timeout is cancelled and never called.
    let paid = format!("{}/orders/43/timeout", server.base());
    let created = post(&api, "/api/v1/delays")
        .json(delay("order-timeout", "order-43", &paid, "1s"))
        .send();
    assert_eq!(created.status, 201, "{}", created.body);
    let cancelled = Request::new(&api, "DELETE", "/api/v1/delays/order-timeout/order-43").send();
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.json()["state"], "cancelled");
    let twice = Request::new(&api, "DELETE", "/api/v1/delays/order-timeout/order-43").send();
    assert_eq!(twice.status, 409, "{}", twice.body);

    let done = settled(&api, "order-timeout", "order-42");
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["last_status"], 200);
    let made = &done["attempts_made"][0];
    assert_eq!(made["status"], 200);
    assert!(
        made["started_at"].as_i64().unwrap() >= made["due_at"].as_i64().unwrap(),
        "{done}"
    );
    let calls = server.to("/orders/42/timeout");
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(call.method, "PUT");
    assert_eq!(call.body, "{\"order\":42}");
    assert_eq!(call.headers["x-shop"], "berlin");
    assert_eq!(call.headers["content-type"], "application/json");
    assert_eq!(call.headers["carillon-delay"], "order-timeout/order-42");
    assert_eq!(call.headers["carillon-attempt"], "1");

    // A delay due after the cancelled one has been called: the cancelled
    // one, due before it, was not.
    let marker = post(&api, "/api/v1/delays")
        .json(delay(
            "order-timeout",
            "marker",
            &format!("{}/marker", server.base()),
            "300ms",
        ))
        .send();
    assert_eq!(marker.status, 201, "{}", marker.body);
    assert_eq!(
        settled(&api, "order-timeout", "marker")["state"],
        "succeeded"
    );
    assert!(server.to("/orders/43/timeout").is_empty());

    let listed = get(&api, "/api/v1/delays?topic=order-timeout&state=cancelled")
        .send()
        .json();
    assert_eq!(listed["delays"].as_array().unwrap().len(), 1, "{listed}");
    let audit = get(&api, "/api/v1/audit").send().json();
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"delay.create") && actions.contains(&"delay.cancel"),
        "{audit}"
    );
}

#[test]
fn creations_sent_together_are_each_stored_once_and_audited_once() {
    creations_sent_together(None);
}

#[test]
fn creations_sent_together_are_each_stored_once_on_postgresql_too() {
    let database = TestDatabase::create("delays_together");
    creations_sent_together(Some(database.url()));
}

fn creations_sent_together(database: Option<String>) {
    let server = CallbackServer::start();
    let host = start(database, "test-node", &allowing(&server));
    let api = host.api();
    let hook = format!("{}/reminder", server.base());

    // 60 requests at once, each of 30 keys sent twice: the writer commits
    // them in batches, and a key sent twice in one batch is still stored
    // once.
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let sent: Vec<_> = (0..60)
            .map(|n| {
                let (api, hook) = (&api, &hook);
                scope.spawn(move || {
                    post(api, "/api/v1/delays")
                        .json(delay("reminders", &format!("user-{}", n % 30), hook, "1h"))
                        .send()
                        .status
                })
            })
            .collect();
        sent.into_iter().map(|s| s.join().unwrap()).collect()
    });
    let created = answers.iter().filter(|&&status| status == 201).count();
    let resent = answers.iter().filter(|&&status| status == 200).count();
    assert_eq!((created, resent), (30, 30), "{answers:?}");

    let listed = get(&api, "/api/v1/delays?topic=reminders&limit=100")
        .send()
        .json();
    assert_eq!(listed["delays"].as_array().unwrap().len(), 30, "{listed}");
    let audit = get(&api, "/api/v1/audit?limit=100").send().json();
    let mut targets: Vec<String> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["action"] == "delay.create")
        .map(|event| event["target"].as_str().unwrap().to_owned())
        .collect();
    targets.sort();
    let mut expected: Vec<String> = (0..30).map(|n| format!("reminders/user-{n}")).collect();
    expected.sort();
    assert_eq!(targets, expected);
    let one = get(&api, "/api/v1/audit?limit=100").send().json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["target"] == "reminders/user-7")
        .cloned()
        .unwrap();
    assert_eq!(one["actor"], "loopback", "{one}");
    assert_eq!(one["after"]["callback"]["url"], hook.as_str(), "{one}");
}

#[test]
fn failed_callbacks_are_retried_until_their_retries_run_out() {
    // /flaky answers 500 twice, then 200; /down always 503.
    let server = CallbackServer::answering(|request, before| match request.path.as_str() {
        "/flaky" if before < 2 => 500,
        "/flaky" => 200,
        _ => 503,
    });
    let host = start(None, "test-node", &allowing(&server));
    let api = host.api();
    for (key, path, retries) in [("flaky", "/flaky", 3), ("down", "/down", 1)] {
        let created = post(&api, "/api/v1/delays")
            .json(
                json!({"topic": "t", "key": key, "delay": "10ms", "retries": retries,
                         "callback": {"url": format!("{}{path}", server.base())}}),
            )
            .send();
        assert_eq!(created.status, 201, "{}", created.body);
    }
    let flaky = settled(&api, "t", "flaky");
    assert_eq!(flaky["state"], "succeeded", "{flaky}");
    let statuses: Vec<i64> = flaky["attempts_made"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 200], "{flaky}");
    // Each retry waited at least its backoff (100 ms, then 200 ms).
    let started: Vec<i64> = flaky["attempts_made"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["started_at"].as_i64().unwrap())
        .collect();
    assert!(
        started[1] - started[0] >= 100 && started[2] - started[1] >= 200,
        "{flaky}"
    );

    let down = settled(&api, "t", "down");
    assert_eq!(down["state"], "failed", "{down}");
    assert_eq!(down["attempts"], 2);
    assert_eq!(down["last_status"], 503);
    assert!(
        down["last_error"]
            .as_str()
            .unwrap()
            .contains("answered 503"),
        "{down}"
    );
    assert_eq!(server.to("/down").len(), 2);
}

#[test]
fn rows_written_with_sql_are_called_and_refused_ones_say_why() {
    let server = CallbackServer::start();
    let mut extra = allowing(&server);
    // A name this host resolves to loopback: allowed by the list, refused
    // as an internal address.
    extra[1] = format!("{},http://localhost:{}", server.base(), server.port);
    let host = start(None, "test-node", &extra);
    let api = host.api();
    let now = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";
    let base = server.base();
    host.sql(&format!(
        "INSERT INTO delays (topic, key, due_at, url) VALUES ('sql', 'plain', {now}, '{base}/plain')"
    ));
    host.sql(&format!(
        "INSERT INTO delays (topic, key, due_at, url, headers) VALUES ('sql', 'bad-headers', {now}, '{base}/x', '[1, 2]')"
    ));
    host.sql(&format!(
        "INSERT INTO delays (topic, key, due_at, url) VALUES ('sql', 'elsewhere', {now}, 'http://10.1.2.3:80/x')"
    ));
    host.sql(&format!(
        "INSERT INTO delays (topic, key, due_at, url) VALUES ('sql', 'by-name', {now}, 'http://localhost:{}/x')",
        server.port
    ));
    // The table refuses a wrongly typed value at once.
    let refused = host.try_sql(
        "INSERT INTO delays (topic, key, due_at, url) VALUES ('sql', 'typed', 'tomorrow', 'http://x')",
    );
    assert!(refused.is_err(), "a text due_at was stored");

    assert_eq!(settled(&api, "sql", "plain")["state"], "succeeded");
    assert_eq!(server.to("/plain").len(), 1);
    for (key, says) in [
        ("bad-headers", "headers is not a JSON object of strings"),
        ("elsewhere", "not in delays.allowed_hosts"),
        ("by-name", "internal addresses (127.0.0.1)"),
    ] {
        let done = settled(&api, "sql", key);
        assert_eq!(done["state"], "failed", "{done}");
        assert_eq!(
            done["attempts"], 1,
            "a refused callback is not retried: {done}"
        );
        let error = done["last_error"].as_str().unwrap();
        assert!(error.contains(says), "{key}: {error}");
    }
    assert!(server.to("/x").is_empty());

    // The API refuses what the host would not call, naming the field.
    let refused = post(&api, "/api/v1/delays")
        .json(delay(
            "t",
            "k",
            "http://169.254.169.254/latest/meta-data",
            "1s",
        ))
        .send();
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.json()["error"]["field"], "callback.url");
    for (body, field) in [
        (
            json!({"topic": "t", "key": "k", "callback": {"url": base}}),
            "delay",
        ),
        (
            json!({"topic": "t", "key": "k", "at": "soon", "callback": {"url": base}}),
            "at",
        ),
        (
            json!({"topic": "", "key": "k", "delay": "1s", "callback": {"url": base}}),
            "topic",
        ),
        (
            json!({"topic": "t", "key": "k", "delay": "1s", "retries": 101, "callback": {"url": base}}),
            "retries",
        ),
        (
            json!({"topic": "t", "key": "k", "delay": "1s",
                "callback": {"url": base, "headers": {"X": "a\r\nInjected: 1"}}}),
            "callback.headers",
        ),
    ] {
        let answer = post(&api, "/api/v1/delays").json(body.clone()).send();
        assert_eq!(answer.status, 422, "{body}: {}", answer.body);
        assert_eq!(
            answer.json()["error"]["field"],
            field,
            "{body}: {}",
            answer.body
        );
    }
}

/// A CA, and a TLS configuration for 127.0.0.1 with a certificate it signed.
pub fn test_ca() -> (String, Arc<rustls::ServerConfig>) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca =
        rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    (ca.pem(), Arc::new(config))
}

#[test]
fn https_callbacks_trust_the_configured_ca_and_no_other() {
    let (ca_pem, trusted) = test_ca();
    let (_, untrusted) = test_ca();
    let (secure, stranger) = (CallbackServer::tls(trusted), CallbackServer::tls(untrusted));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let extra = [
        "--delays-allowed-hosts".to_owned(),
        format!(
            "https://127.0.0.1:{},https://127.0.0.1:{}",
            secure.port, stranger.port
        ),
        "--egress-ca-roots".to_owned(),
        ca_file.display().to_string(),
    ];
    let host = start(None, "test-node", &extra);
    let api = host.api();
    for (key, port) in [("trusted", secure.port), ("stranger", stranger.port)] {
        let created = post(&api, "/api/v1/delays")
            .json(
                json!({"topic": "tls", "key": key, "delay": "10ms", "retries": 0,
                         "callback": {"url": format!("https://127.0.0.1:{port}/hook")}}),
            )
            .send();
        assert_eq!(created.status, 201, "{}", created.body);
    }
    let trusted = settled(&api, "tls", "trusted");
    assert_eq!(trusted["state"], "succeeded", "{trusted}");
    assert_eq!(secure.to("/hook").len(), 1);
    let refused = settled(&api, "tls", "stranger");
    assert_eq!(refused["state"], "failed", "{refused}");
    let error = refused["last_error"].as_str().unwrap();
    assert!(error.contains("TLS with https://127.0.0.1"), "{error}");
    assert!(stranger.to("/hook").is_empty());
}

#[test]
fn the_cli_adds_lists_and_cancels_delays() {
    let host = Host::start(&[], &[]);
    let url = host.database_url();
    let run = |args: &[&str]| {
        let mut all = vec!["delay"];
        all.extend(args);
        all.extend(["--database", url.as_str()]);
        carillon(&all)
    };
    let added = run(&[
        "add",
        "reminder",
        "mail-7",
        "--url",
        "http://127.0.0.1:9/x",
        "--in",
        "1h",
        "--header",
        "X-A: b",
    ]);
    assert_eq!(added.code, 0, "{}", added.stderr);
    assert!(
        added
            .stdout
            .starts_with("delay reminder/mail-7 added, due "),
        "{}",
        added.stdout
    );
    let again = run(&[
        "add",
        "reminder",
        "mail-7",
        "--url",
        "http://127.0.0.1:9/x",
        "--in",
        "1h",
    ]);
    assert_eq!(again.code, 2);
    assert!(
        again
            .stderr
            .contains("delay reminder/mail-7 exists (pending)"),
        "{}",
        again.stderr
    );
    let bad = run(&[
        "add", "reminder", "mail-8", "--url", "ftp://x", "--in", "1h",
    ]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--url"), "{}", bad.stderr);
    let listed = run(&["list"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(
        listed.stdout.contains("reminder") && listed.stdout.contains("pending"),
        "{}",
        listed.stdout
    );
    let cancelled = run(&["cancel", "reminder", "mail-7"]);
    assert_eq!(cancelled.code, 0, "{}", cancelled.stderr);
    let json = run(&["list", "--state", "cancelled", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(rows[0]["key"], "mail-7", "{rows}");
    assert_eq!(rows[0]["callback"]["headers"]["X-A"], "b", "{rows}");
    let missing = run(&["cancel", "reminder", "nope"]);
    assert!(
        missing.stderr.contains("there is no delay reminder/nope"),
        "{}",
        missing.stderr
    );
}

#[test]
fn two_hosts_on_postgresql_call_each_delay_exactly_once() {
    let database = TestDatabase::create("delays_two_hosts");
    let server = CallbackServer::start();
    let extra = allowing(&server);
    let first = start(Some(database.url()), "delays-a", &extra);
    let second = start(Some(database.url()), "delays-b", &extra);
    let (api_a, api_b) = (first.api(), second.api());
    let count = 300;
    for i in 0..count {
        let api = if i % 2 == 0 { &api_a } else { &api_b };
        let created = post(api, "/api/v1/delays")
            .json(delay(
                "burst",
                &format!("k{i}"),
                &format!("{}/k{i}", server.base()),
                "1s",
            ))
            .send();
        assert_eq!(created.status, 201, "{}", created.body);
    }
    wait_until("every delay to succeed", Duration::from_secs(30), || {
        let rows = first.query("SELECT COUNT(*) FROM delays WHERE state = 'succeeded'");
        (rows[0][0] == count.to_string()).then_some(())
    });
    let calls = server.received();
    assert_eq!(calls.len(), count, "callbacks made");
    let mut paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(paths.len(), count, "a delay was called twice");
    let attempts =
        first.query("SELECT COUNT(*), COUNT(DISTINCT node) FROM delay_attempts WHERE status = 200");
    assert_eq!(attempts[0][0], count.to_string());
    assert_eq!(attempts[0][1], "2", "both hosts took a share");
}

#[test]
fn roles_decide_who_creates_cancels_and_reads_delays() {
    let server = CallbackServer::start();
    let host = start(None, "test-node", &allowing(&server));
    let (api, url) = (host.api(), host.database_url());
    let token = |name: &str, role: &str, extra: &[&str]| {
        let mut args = vec![
            "token",
            "create",
            name,
            "--role",
            role,
            "--database",
            url.as_str(),
        ];
        args.extend(extra);
        let out = carillon(&args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout.trim().to_owned()
    };
    let viewer = token("viewer", "viewer", &[]);
    let operator = token("operator", "operator", &[]);
    let editor = token("editor", "editor", &[]);
    let etl = token("etl", "editor", &["--groups", "etl"]);
    let body = delay("t", "k", &format!("{}/k", server.base()), "1h");
    for (who, token) in [("viewer", &viewer), ("operator", &operator), ("etl", &etl)] {
        let refused = post(&api, "/api/v1/delays")
            .token(token)
            .json(body.clone())
            .send();
        assert_eq!(refused.status, 403, "{who}: {}", refused.body);
    }
    let created = post(&api, "/api/v1/delays")
        .token(&editor)
        .json(body)
        .send();
    assert_eq!(created.status, 201, "{}", created.body);
    let read = get(&api, "/api/v1/delays/t/k").token(&viewer).send();
    assert_eq!(read.status, 200, "{}", read.body);
    let refused = Request::new(&api, "DELETE", "/api/v1/delays/t/k")
        .token(&viewer)
        .send();
    assert_eq!(refused.status, 403, "{}", refused.body);
    let cancelled = Request::new(&api, "DELETE", "/api/v1/delays/t/k")
        .token(&operator)
        .send();
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    let missing = get(&api, "/api/v1/delays/t/nope").token(&viewer).send();
    assert_eq!(missing.status, 404, "{}", missing.body);
}
