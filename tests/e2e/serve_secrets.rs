//! Secrets: `carillon secret set` reads the value from stdin and keeps it
//! sealed (a key file beside a SQLite database, made on first use; on
//! PostgreSQL only a configured key); a run reads a secret through
//! wasi:config only if its task's `secrets` column grants it, and its value
//! never reaches the run's log, summary or error; `notify` posts with a
//! bearer token read from a secret.

use std::os::unix::fs::PermissionsExt as _;

use crate::callbacks::CallbackServer;
use crate::host::Host;
use crate::pg::TestDatabase;
use crate::serve_http_tasks::{final_runs, log_of};
use crate::support::{carillon, carillon_with_stdin};

const VALUE: &str = "hunter22-t0k3n";

#[test]
fn a_granted_secret_is_readable_redacted_and_an_ungranted_one_is_not() {
    let server = CallbackServer::start();
    let origin = format!("http://127.0.0.1:{}", server.port);
    let host = Host::start(
        &["hostile", "notify"],
        &["--egress-allowed-hosts", "http://127.0.0.1:*"],
    );
    let db = host.database_url();
    for name in ["api_token", "notify_token"] {
        let set = carillon_with_stdin(
            &["secret", "set", name, "--database", &db],
            &format!("{VALUE}\n"),
        );
        assert_eq!(set.code, 0, "{}", set.stderr);
        assert!(
            set.stdout.contains(&format!("secret `{name}` set")),
            "{}",
            set.stdout
        );
    }
    // At rest: sealed, under a key only the owner can read.
    let key_file = format!("{}.secrets-key", db.trim_start_matches("sqlite://"));
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{key_file}");
    assert_eq!(
        host.query(&format!(
            "SELECT count(*) FROM secrets WHERE instr(sealed, '{VALUE}') > 0"
        )),
        [["0"]]
    );
    let listed = carillon(&["secret", "list", "--database", &db]);
    assert!(
        listed.stdout.contains("api_token") && !listed.stdout.contains(VALUE),
        "{}",
        listed.stdout
    );

    host.sql(
        "INSERT INTO tasks (name, module, schedule, params, secrets) VALUES \
         ('leaky', 'hostile', 'after 0s', '{\"mode\": \"leak-secret\", \"name\": \"api_token\"}', 'api_token'), \
         ('ungranted', 'hostile', 'after 0s', '{\"mode\": \"leak-secret\", \"name\": \"api_token\"}', 'notify_token')",
    );
    host.sql(&format!(
        "INSERT INTO tasks (name, module, schedule, params, secrets, allowed_hosts) VALUES \
         ('notify', 'notify', 'after 0s', '{{\"url\": \"{origin}/hook\", \"text\": \"nightly done\"}}', \
          'notify_token', '{origin}')"
    ));

    let runs = final_runs(&host, "leaky", 1);
    assert_eq!(runs[0][0], "succeeded", "{runs:?}");
    assert_eq!(runs[0][2], "leaked [redacted]");
    let log = log_of(&host, "leaky");
    assert!(
        log.contains("the secret is [redacted]") && log.contains("printed: [redacted]"),
        "{log}"
    );
    let fields = host.query(
        "SELECT l.fields FROM run_logs l JOIN runs r ON r.id = l.run_id WHERE r.task = 'leaky'",
    );
    assert!(!format!("{fields:?}{log}").contains(VALUE), "{fields:?}");

    let runs = final_runs(&host, "ungranted", 1);
    assert_eq!(runs[0][0], "failed", "{runs:?}");
    assert!(
        runs[0][3].contains("task `ungranted` is not granted secret `api_token`; add it to the task's secrets column"),
        "{runs:?}"
    );

    let runs = final_runs(&host, "notify", 1);
    assert_eq!(runs[0][0], "succeeded", "{runs:?}");
    let got = server.to("/hook");
    assert_eq!(got[0].headers["authorization"], format!("Bearer {VALUE}"));
    assert_eq!(got[0].body, "{\"text\": \"nightly done\"}");
    assert!(!log_of(&host, "notify").contains(VALUE));

    // Removed: a granted run can no longer read it.
    let removed = carillon(&["secret", "remove", "api_token", "--database", &db]);
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    let triggered = crate::http::post(&host.api(), "/api/v1/tasks/leaky/trigger").send();
    assert_eq!(triggered.status, 200, "{}", triggered.body);
    let runs = final_runs(&host, "leaky", 2);
    assert_eq!(runs[1][0], "failed", "{runs:?}");
    assert!(
        runs[1][3].contains("secret `api_token` is not set"),
        "{runs:?}"
    );
}

#[test]
fn on_postgresql_secrets_need_a_configured_key() {
    let database = TestDatabase::create("secrets_key");
    let url = database.url();
    let refused = carillon_with_stdin(&["secret", "set", "api_token", "--database", &url], VALUE);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("this host has no secrets key: set secrets.key"),
        "{}",
        refused.stderr
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("carillon.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{url}\"\n[secrets]\nkey = \"{}\"\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let set = carillon_with_stdin(&["secret", "set", "api_token", "--config", config], VALUE);
    assert_eq!(set.code, 0, "{}", set.stderr);
    let listed = carillon(&["secret", "list", "--json", "--config", config]);
    let rows: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(rows[0]["name"], "api_token", "{rows}");
    assert!(!listed.stdout.contains(VALUE));
}
