//! Alerts on real `carillon serve` processes, delivered to servers the test
//! starts on 127.0.0.1: a failing task's alert arrives once at a webhook
//! with two hosts serving one PostgreSQL database, and its repeats within
//! the silence window are suppressed and recorded; a DingTalk robot gets
//! its signed format mentioning the task's keeper; an e-mail alert arrives
//! at a local SMTP sink (aiosmtpd, from PyPI); a task that stops running
//! raises the stale-schedule alert; a run past its limit, failures within a
//! window and a misfire each raise theirs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::callbacks::CallbackServer;
use crate::host::{Host, query_db, wait_until};
use crate::pg::TestDatabase;
use crate::support::{carillon, carillon_with_stdin};

/// Runs `carillon alert ARGS --database URL`, which must succeed.
fn alert_cli(url: &str, args: &[&str]) {
    let mut all: Vec<&str> = vec!["alert"];
    all.extend(args);
    all.extend(["--database", url]);
    let out = carillon(&all);
    assert_eq!(out.code, 0, "carillon {all:?}: {}", out.stderr);
}

#[test]
fn a_failing_tasks_alert_arrives_once_with_two_hosts_and_repeats_are_suppressed() {
    let database = TestDatabase::create("alerts");
    let url = database.url();
    let hook = CallbackServer::start();
    let extra = ["--egress-allow-private", "true"];
    let first = Host::start_node(Some(url.clone()), "alert-a", &["flaky"], &extra);
    let _second = Host::start_node(Some(url.clone()), "alert-b", &["flaky"], &extra);
    let target = format!("{}/alerts", hook.base());
    alert_cli(
        &url,
        &[
            "channel", "set", "ops", "--kind", "webhook", "--target", &target,
        ],
    );
    alert_cli(
        &url,
        &[
            "rule",
            "set",
            "breaks",
            "--event",
            "failed",
            "--tasks",
            "breaks",
            "--channels",
            "ops",
            "--silence",
            "1h",
        ],
    );
    first.sql(
        "INSERT INTO tasks (name, module, schedule, shard_total, params) VALUES \
         ('breaks', 'flaky', 'every 1s', 2, '{\"succeed_on\": \"99\"}')",
    );
    wait_until("six failed runs", Duration::from_secs(30), || {
        let failed: i64 = query_db(
            &url,
            "SELECT COUNT(*) FROM runs WHERE task = 'breaks' AND state = 'failed'",
        )[0][0]
            .parse()
            .unwrap();
        (failed >= 6).then_some(())
    });
    first.sql("UPDATE tasks SET paused = TRUE WHERE name = 'breaks'");
    let count = |sql: &str| query_db(&url, sql)[0][0].parse::<i64>().unwrap();
    wait_until("every failure followed up", Duration::from_secs(20), || {
        (count(
            "SELECT COUNT(*) FROM runs WHERE task = 'breaks' AND state IN ('pending', 'running')",
        ) == 0
            && count("SELECT COUNT(*) FROM outbox") == 0
            && count("SELECT COUNT(*) FROM alert_deliveries WHERE state <> 'delivered'") == 0)
            .then_some(())
    });
    let failed = count("SELECT COUNT(*) FROM runs WHERE task = 'breaks' AND state = 'failed'");
    assert_eq!(
        count("SELECT COUNT(*) FROM alerts WHERE state = 'delivered'"),
        1
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM alerts WHERE state = 'suppressed'"),
        failed - 1,
        "every later failure is recorded, suppressed"
    );
    let arrived = hook.to("/alerts");
    assert_eq!(arrived.len(), 1, "{arrived:?}");
    let body: serde_json::Value = serde_json::from_str(&arrived[0].body).unwrap();
    assert_eq!(body["alert"]["task"], "breaks");
    assert_eq!(body["alert"]["event"], "failed");
    assert!(body["alert"]["run_id"].as_i64().is_some(), "{body}");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("failed for good after 1 attempt(s)"),
        "{body}"
    );
    assert!(
        body["alert"]["link"].as_str().unwrap().contains("/runs/"),
        "the alert links to the run's console page: {body}"
    );
}

#[test]
fn robots_email_and_every_kind_of_event_reach_their_channels() {
    let hook = CallbackServer::start();
    let smtp = SmtpSink::start();
    let host = Host::start(
        &["flaky", "sleepy"],
        &[
            "--egress-allow-private",
            "true",
            "--alerts-smtp-url",
            &format!("smtp://127.0.0.1:{}", smtp.port),
            "--alerts-email-from",
            "carillon@example.com",
        ],
    );
    let url = host.database_url();
    let set_secret = carillon_with_stdin(&["secret", "set", "ding", "--database", &url], "SECxyz");
    assert_eq!(set_secret.code, 0, "{}", set_secret.stderr);
    alert_cli(
        &url,
        &[
            "keeper",
            "set",
            "ada",
            "--email",
            "ada@example.com",
            "--mobile",
            "13800000000",
        ],
    );
    let robot = format!("{}/robot/send?access_token=t", hook.base());
    alert_cli(
        &url,
        &[
            "channel", "set", "ding", "--kind", "dingtalk", "--target", &robot, "--secret", "ding",
        ],
    );
    alert_cli(&url, &["channel", "set", "mail", "--kind", "email"]);
    let plain = format!("{}/events", hook.base());
    alert_cli(
        &url,
        &[
            "channel", "set", "events", "--kind", "webhook", "--target", &plain,
        ],
    );
    // A default rule for every task, and rules for the other events.
    alert_cli(
        &url,
        &[
            "rule",
            "set",
            "failures-to-robot",
            "--event",
            "failed",
            "--tasks",
            "breaks",
            "--channels",
            "ding,mail",
        ],
    );
    alert_cli(
        &url,
        &[
            "rule",
            "set",
            "slow",
            "--event",
            "long-running",
            "--threshold",
            "500ms",
            "--channels",
            "events",
        ],
    );
    alert_cli(
        &url,
        &[
            "rule",
            "set",
            "stale",
            "--event",
            "stale",
            "--threshold",
            "1s",
            "--channels",
            "events",
        ],
    );
    alert_cli(
        &url,
        &[
            "rule",
            "set",
            "twice",
            "--event",
            "failures",
            "--threshold",
            "1m",
            "--count",
            "2",
            "--tasks",
            "again",
            "--channels",
            "events",
        ],
    );
    alert_cli(
        &url,
        &[
            "rule",
            "set",
            "missed",
            "--event",
            "misfire",
            "--channels",
            "events",
        ],
    );

    host.sql(
        "INSERT INTO tasks (name, module, schedule, params, keepers) VALUES \
         ('breaks', 'flaky', 'after 0s', '{\"succeed_on\": \"9\"}', 'ada'), \
         ('again', 'flaky', 'every 1s', '{\"succeed_on\": \"9\"}', NULL), \
         ('slow', 'sleepy', 'after 0s', '{\"seconds\": \"3\"}', NULL)",
    );
    host.sql(
        "INSERT INTO tasks (name, module, schedule, selector) VALUES ('nowhere', 'flaky', 'every 1s', 'zone=nowhere')",
    );
    host.sql(
        "INSERT INTO misfires (task, first_slot, last_slot, missed, policy, recorded_at) \
         VALUES ('breaks', 1000, 5000, 5, 'skip', 6000)",
    );

    // The robot: its format, signed, mentioning the keeper.
    let ding = wait_until("the DingTalk message", Duration::from_secs(30), || {
        hook.received()
            .into_iter()
            .find(|r| r.path.starts_with("/robot/send") && r.body.contains("task breaks"))
    });
    assert!(
        ding.path.contains("&timestamp=") && ding.path.contains("&sign="),
        "{}",
        ding.path
    );
    let body: serde_json::Value = serde_json::from_str(&ding.body).unwrap();
    assert_eq!(body["msgtype"], "text");
    assert_eq!(body["at"]["atMobiles"][0], "13800000000");
    // The e-mail, to the keeper (the channel names no address).
    let mail = wait_until("the e-mail", Duration::from_secs(30), || {
        let text = smtp.output();
        text.contains("task breaks").then_some(text)
    });
    assert!(mail.contains("ada@example.com"), "{mail}");
    assert!(
        mail.contains("Subject: [Carillon] failed: task breaks"),
        "{mail}"
    );

    // Each other event, once, at the plain webhook.
    let events = |event: &str, task: &str| -> usize {
        hook.to("/events")
            .iter()
            .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
            .filter(|b| b["alert"]["event"] == event && b["alert"]["task"] == task)
            .count()
    };
    for (event, task) in [
        ("long-running", "slow"),
        ("stale", "nowhere"),
        ("failures", "again"),
        ("misfire", "breaks"),
    ] {
        wait_until(
            &format!("the {event} alert of {task}"),
            Duration::from_secs(30),
            || (events(event, task) >= 1).then_some(()),
        );
    }
    assert_eq!(events("long-running", "slow"), 1, "one alert per run");
    let listed = carillon(&["alert", "list", "--database", &url, "--state", "delivered"]);
    assert!(
        listed.stdout.contains("long-running") && listed.stdout.contains("slow"),
        "{}",
        listed.stdout
    );
}

/// aiosmtpd from PyPI, printing every message it takes.
struct SmtpSink {
    port: u16,
    child: Child,
    output: Arc<Mutex<String>>,
}

impl SmtpSink {
    fn start() -> Self {
        let python = std::env::var("CARILLON_AIOSMTPD_PYTHON").unwrap_or_else(|_| {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the e-mail test: scripts/test.sh installs aiosmtpd and sets CARILLON_AIOSMTPD_PYTHON"
            );
            "python3".to_owned()
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(python)
            .args([
                "-u",
                "-m",
                "aiosmtpd",
                "-n",
                "-c",
                "aiosmtpd.handlers.Debugging",
                "stdout",
                "-l",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start aiosmtpd: pip install aiosmtpd, or set CARILLON_AIOSMTPD_PYTHON");
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let mut text = output.lock().unwrap();
                    text.push_str(&line);
                    text.push('\n');
                }
            });
        }
        wait_until("aiosmtpd to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Self {
            port,
            child,
            output,
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
