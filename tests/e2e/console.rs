//! The web console in a real browser: Debian's chromium, driven by
//! playwright-core from npm (`scripts/test.sh` installs both and names them
//! in `CARILLON_CHROMIUM` and `CARILLON_PLAYWRIGHT`). The host, its users
//! and tasks are real; `tests/browser/console.mjs` holds the scenarios
//! (sign in; a bad cron refused on its field, fixed, previewed, created and
//! fired; a live log and cancel; pause; a bulk pause over a filter;
//! Chinese; a phone's width; a viewer who cannot edit) and saves a
//! screenshot of each page under `target/console-shots/`.

use std::path::PathBuf;
use std::process::Command;

use crate::host::Host;
use crate::support::carillon_with_stdin;

/// Where the screenshots go: beside the build, so a person can look.
fn shots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("console-shots")
}

#[test]
fn an_operator_does_the_daily_work_in_a_real_browser() {
    let (Some(playwright), Some(chromium)) = (
        std::env::var_os("CARILLON_PLAYWRIGHT"),
        std::env::var_os("CARILLON_CHROMIUM"),
    ) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser tests: scripts/test.sh installs chromium and playwright-core \
             and sets CARILLON_CHROMIUM and CARILLON_PLAYWRIGHT"
        );
        eprintln!("skipped: set CARILLON_CHROMIUM and CARILLON_PLAYWRIGHT to run it");
        return;
    };
    let host = Host::start(&["hello", "sleepy"], &[]);
    let url = host.database_url();
    for (name, role, password) in [
        ("ada", "admin", "ada's long password"),
        ("vic", "viewer", "vic's long password"),
    ] {
        let added = carillon_with_stdin(
            &["user", "add", name, "--role", role, "--database", &url],
            &format!("{password}\n"),
        );
        assert_eq!(added.code, 0, "{}", added.stderr);
    }
    host.sql(
        "INSERT INTO tasks (name, module, schedule, timeout_ms, concurrency) \
         VALUES ('sleepy', 'sleepy', 'every 1h', 120000, 'allow')",
    );
    host.sql("INSERT INTO tasks (name, module, schedule) VALUES ('bulk-a', 'hello', 'every 1h')");
    host.sql("INSERT INTO tasks (name, module, schedule) VALUES ('bulk-b', 'hello', 'every 1h')");
    // A workflow and an alert rule, for their pages.
    host.sql("INSERT INTO tasks (name, module, schedule) VALUES ('greet', 'hello', 'every 1h')");
    host.sql("INSERT INTO workflows (name, description) VALUES ('greetings', 'Greets, then greets twice more')");
    host.sql(
        "INSERT INTO workflow_steps (workflow, name, task, after, params, position) VALUES \
         ('greetings', 'first', 'greet', NULL, '{}', 0), \
         ('greetings', 'left', 'greet', 'first', '{\"name\": \"${first.greeted} (left)\"}', 1), \
         ('greetings', 'right', 'greet', 'first', '{}', 2), \
         ('greetings', 'both', 'greet', 'left, right', '{}', 3)",
    );
    host.sql(
        "INSERT INTO alert_channels (name, kind, target) VALUES ('ops', 'slack', 'https://hooks.slack.com/services/T0/B0/X')",
    );
    host.sql("INSERT INTO alert_rules (name, event, channels, silence_ms) VALUES ('failures', 'failed', 'ops', 1800000)");

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/browser/console.mjs");
    let out = Command::new("node")
        .arg(script)
        .env("CONSOLE_URL", host.api())
        .env("PLAYWRIGHT", playwright)
        .env("CHROMIUM", chromium)
        .env("SHOTS", shots())
        .env("ADMIN", "ada:ada's long password")
        .env("VIEWER", "vic:vic's long password")
        .output()
        .expect("cannot start node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\nscreenshots in {}\nhost log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        shots().display(),
        host.log()
    );
    assert!(stdout.contains("all console scenarios passed"), "{stdout}");
}

#[test]
fn the_schedule_helper_reads_cron_in_english_and_chinese() {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/browser/schedule_words.mjs");
    let out = Command::new("node")
        .arg(script)
        .output()
        .expect("cannot start node (scripts/test.sh installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
