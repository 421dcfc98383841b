//! Jobs' outbound HTTP (`wasi:http`) on a real `carillon serve`, with the
//! `fetch` example job against a local server: a request the task's
//! `allowed_hosts` grants reaches the server and its answer the job; one it
//! does not grant is refused inside the job and the host names the URL and
//! the list in the run's log; internal addresses stay refused unless the host
//! allows them, also through a name; a request outliving the run's timeout
//! is stopped with it; HTTPS trusts the configured CA and no other.

use std::time::{Duration, Instant};

use crate::callbacks::CallbackServer;
use crate::delays::test_ca;
use crate::host::Host;
use crate::serve_http_tasks::{final_runs, log_of};

fn fetch_task(name: &str, url: &str, allowed_hosts: Option<&str>, extra: &str) -> String {
    let hosts = allowed_hosts.map_or("NULL".to_owned(), |h| format!("'{h}'"));
    format!(
        "INSERT INTO tasks (name, module, schedule, params, allowed_hosts{}) VALUES \
         ('{name}', 'fetch', 'after 0s', '{{\"url\": \"{url}\"}}', {hosts}{})",
        if extra.is_empty() { "" } else { ", timeout_ms" },
        if extra.is_empty() {
            String::new()
        } else {
            format!(", {extra}")
        }
    )
}

#[test]
fn a_job_reaches_what_its_task_grants_and_nothing_else() {
    let server = CallbackServer::start();
    let (base, port) = (server.base(), server.port);
    let host = Host::start(
        &["fetch"],
        &["--egress-allowed-hosts", "http://127.0.0.1:*"],
    );
    let granted = format!("http://127.0.0.1:{port}");
    host.sql(&fetch_task(
        "granted",
        &format!("{base}/data?token=t0k"),
        Some(&granted),
        "",
    ));
    host.sql(&fetch_task(
        "ungranted",
        &format!("{base}/ungranted"),
        None,
        "",
    ));
    host.sql(&fetch_task(
        "elsewhere",
        &format!("{base}/elsewhere"),
        Some("https://api.example.com, http://127.0.0.1:1"),
        "",
    ));

    let runs = final_runs(&host, "granted", 1);
    assert_eq!(runs[0][0], "succeeded", "{runs:?}");
    assert_eq!(
        runs[0][2],
        format!("GET {base}/data?token=t0k: 200 (2 bytes)")
    );
    let got = server.to("/data?token=t0k");
    assert_eq!(got.len(), 1, "{:?}", server.received());
    assert_eq!(got[0].method, "GET");
    let log = log_of(&host, "granted");
    assert!(
        log.contains("HTTP: 1 request (200 ×1), 2 bytes received"),
        "{log}"
    );

    let runs = final_runs(&host, "ungranted", 1);
    assert_eq!(runs[0][0], "failed", "{runs:?}");
    assert_eq!(runs[0][1], "1", "a refusal is not retried: {runs:?}");
    assert!(runs[0][3].contains("refused by the host"), "{runs:?}");
    let log = log_of(&host, "ungranted");
    assert!(
        log.contains(&format!(
            "HTTP request GET {base}/ungranted refused: {granted} is not allowed: \
             task `ungranted`'s allowed_hosts grants nothing; add `{granted}` there to allow it"
        )),
        "{log}"
    );
    let log = log_of(&host, "elsewhere");
    assert!(
        log.contains(&format!(
            "refused: {granted} is not in task `elsewhere`'s allowed_hosts \
             (https://api.example.com, http://127.0.0.1:1)"
        )),
        "{log}"
    );
    assert!(server.to("/ungranted").is_empty() && server.to("/elsewhere").is_empty());
}

#[test]
fn internal_addresses_are_refused_unless_the_host_allows_them() {
    let server = CallbackServer::start();
    let port = server.port;
    // The default ceiling (any public host): a grant of loopback, by
    // address or by a name resolving to it, is not enough.
    let host = Host::start(&["fetch"], &[]);
    for (name, url_host) in [("by-address", "127.0.0.1"), ("by-name", "localhost")] {
        let origin = format!("http://{url_host}:{port}");
        host.sql(&fetch_task(
            name,
            &format!("{origin}/{name}"),
            Some(&origin),
            "",
        ));
    }
    for name in ["by-address", "by-name"] {
        let runs = final_runs(&host, name, 1);
        assert_eq!(runs[0][0], "failed", "{runs:?}");
        let log = log_of(&host, name);
        assert!(log.contains("resolves only to internal addresses"), "{log}");
        assert!(log.contains("egress.allow_private"), "{log}");
    }
    assert!(server.received().is_empty(), "{:?}", server.received());
    drop(host);
    // egress.allow_private lets a granted name reach it.
    let host = Host::start(&["fetch"], &["--egress-allow-private", "true"]);
    let origin = format!("http://localhost:{port}");
    host.sql(&fetch_task(
        "private",
        &format!("{origin}/private"),
        Some(&origin),
        "",
    ));
    let runs = final_runs(&host, "private", 1);
    assert_eq!(runs[0][0], "succeeded", "{runs:?}");
    assert_eq!(server.to("/private").len(), 1);
}

#[test]
fn a_request_outliving_the_runs_timeout_is_stopped_with_it() {
    let server = CallbackServer::answering(|_, _| {
        std::thread::sleep(Duration::from_secs(6));
        200
    });
    let origin = format!("http://127.0.0.1:{}", server.port);
    let host = Host::start(
        &["fetch"],
        &[
            "--egress-allowed-hosts",
            "http://127.0.0.1:*",
            "--cancel-grace",
            "200ms",
        ],
    );
    let inserted = Instant::now();
    host.sql(&fetch_task(
        "slow",
        &format!("{origin}/slow"),
        Some(&origin),
        "500",
    ));
    let runs = final_runs(&host, "slow", 1);
    assert_eq!(runs[0][0], "timed-out", "{runs:?}");
    assert!(
        inserted.elapsed() < Duration::from_secs(5),
        "the run waited for the answer: {:?}",
        inserted.elapsed()
    );
    let log = log_of(&host, "slow");
    assert!(
        log.contains(&format!("HTTP request GET {origin}/slow failed")),
        "{log}"
    );
}

#[test]
fn https_from_a_job_trusts_the_configured_ca_and_no_other() {
    let (ca_pem, trusted) = test_ca();
    let (_, untrusted) = test_ca();
    let (secure, stranger) = (CallbackServer::tls(trusted), CallbackServer::tls(untrusted));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let host = Host::start(
        &["fetch"],
        &[
            "--egress-allowed-hosts",
            "https://127.0.0.1:*",
            "--egress-ca-roots",
            ca_file.to_str().unwrap(),
        ],
    );
    for (name, port) in [("secure", secure.port), ("stranger", stranger.port)] {
        let origin = format!("https://127.0.0.1:{port}");
        host.sql(&fetch_task(
            name,
            &format!("{origin}/tls"),
            Some(&origin),
            "",
        ));
    }
    let runs = final_runs(&host, "secure", 1);
    assert_eq!(runs[0][0], "succeeded", "{runs:?}");
    assert_eq!(secure.to("/tls").len(), 1);
    let runs = final_runs(&host, "stranger", 1);
    assert_eq!(runs[0][0], "failed", "{runs:?}");
    let log = log_of(&host, "stranger");
    assert!(log.contains("TLS with https://127.0.0.1"), "{log}");
    assert!(stranger.to("/tls").is_empty());
}
