//! Run-history retention against a real database: finished runs past their
//! age or beyond their task's `keep_runs` are deleted with their log lines,
//! in batches; unfinished runs and young ones stay. Finished delays go by
//! the same ages, with their attempts, on SQLite and PostgreSQL; and
//! finished workflow runs and alerts.

use std::time::Duration;

use carillon::retention::{BATCH, Retention, purge_once};
use carillon::store::Store;
use carillon::vocab::TaskSpec;

use crate::host::query_db;
use crate::support::block_on;

const DAY: i64 = 86_400_000;

/// Inserts `count` runs of `task`, finished `age_days` ago in `state`, each
/// with a log line.
fn add_runs(url: &str, task: &str, state: &str, count: usize, age_days: i64, first_slot: i64) {
    let now = carillon::clock::now_ms();
    let finished = now - age_days * DAY;
    for i in 0..count {
        let slot = first_slot + i as i64;
        let finished_at = if state == "pending" || state == "running" {
            "NULL".to_owned()
        } else {
            finished.to_string()
        };
        query_db(
            url,
            &format!(
                "INSERT INTO runs (task, scheduled_at, shard_index, shard_total, module, state, not_before, created_at, finished_at) \
                 VALUES ('{task}', {slot}, 0, 1, 'hello', '{state}', {slot}, {slot}, {finished_at})"
            ),
        );
        query_db(
            url,
            &format!(
                "INSERT INTO run_logs (run_id, attempt, seq, at, level, source, message) \
                 SELECT id, 1, 0, 0, 'info', 'guest', 'x' FROM runs WHERE task = '{task}' AND scheduled_at = {slot}"
            ),
        );
    }
}

fn count(url: &str, sql: &str) -> i64 {
    query_db(url, sql)[0][0].parse().unwrap()
}

#[test]
fn old_and_surplus_runs_are_purged_with_their_logs() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let store = block_on(Store::connect(&url)).unwrap();
    let mut kept = TaskSpec::new("kept", "hello", "every 1h");
    kept.keep_runs = Some(3);
    block_on(store.upsert_task(&kept)).unwrap();

    add_runs(&url, "old", "succeeded", BATCH as usize + 20, 8, 0);
    add_runs(&url, "old", "failed", 5, 8, 10_000);
    add_runs(&url, "young", "succeeded", 5, 1, 20_000);
    add_runs(&url, "young", "failed", 5, 20, 30_000);
    add_runs(&url, "young", "pending", 2, 0, 40_000);
    add_runs(&url, "kept", "succeeded", 10, 0, 50_000);

    let retention = Retention {
        succeeded: Duration::from_secs(7 * 86_400),
        failed: Duration::from_secs(30 * 86_400),
    };
    let (_, stopped) = tokio::sync::watch::channel(false);
    let deleted = block_on(purge_once(&store, retention, &stopped)).unwrap();

    // Old succeeded runs go after 7 days, in more than one batch; failed
    // ones stay 30 days; unfinished ones always stay; `kept` keeps its 3.
    assert_eq!(deleted, BATCH as u64 + 20 + 7);
    assert_eq!(
        count(&url, "SELECT COUNT(*) FROM runs WHERE task = 'old'"),
        5
    );
    assert_eq!(
        count(&url, "SELECT COUNT(*) FROM runs WHERE task = 'young'"),
        12
    );
    assert_eq!(
        count(&url, "SELECT COUNT(*) FROM runs WHERE task = 'kept'"),
        3
    );
    assert_eq!(
        count(
            &url,
            "SELECT MIN(scheduled_at) FROM runs WHERE task = 'kept'"
        ),
        50_007,
        "the newest are kept"
    );
    assert_eq!(
        count(
            &url,
            "SELECT COUNT(*) FROM run_logs l WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = l.run_id)"
        ),
        0,
        "log lines go with their runs"
    );
    // A second round finds nothing more.
    assert_eq!(
        block_on(purge_once(&store, retention, &stopped)).unwrap(),
        0
    );
}

/// Inserts `count` delays of `topic` in `state`, finished `age_days` ago
/// (pending ones unfinished), each with one attempt.
fn add_delays(url: &str, topic: &str, state: &str, count: usize, age_days: i64) {
    let finished_at = match state {
        "pending" => "NULL".to_owned(),
        _ => (carillon::clock::now_ms() - age_days * DAY).to_string(),
    };
    query_db(
        url,
        &format!(
            "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < {count} - 1) \
             INSERT INTO delays (topic, key, due_at, url, state, attempts, created_at, finished_at) \
             SELECT '{topic}', 'k' || i, 0, 'http://127.0.0.1:9/', '{state}', 1, 0, {finished_at} FROM c"
        ),
    );
    query_db(
        url,
        &format!(
            "INSERT INTO delay_attempts (delay_id, attempt, node, due_at, started_at, finished_at, status) \
             SELECT id, 1, 'n', 0, 0, 0, 200 FROM delays WHERE topic = '{topic}'"
        ),
    );
}

fn finished_delays_are_purged_by_age_with_their_attempts(url: &str) {
    let store = block_on(Store::connect(url)).unwrap();
    add_delays(url, "old-ok", "succeeded", BATCH as usize + 5, 8);
    add_delays(url, "old-failed", "failed", 3, 31);
    add_delays(url, "old-cancelled", "cancelled", 2, 31);
    add_delays(url, "young-ok", "succeeded", 4, 1);
    add_delays(url, "young-failed", "failed", 3, 8);
    add_delays(url, "waiting", "pending", 2, 0);

    let retention = Retention {
        succeeded: Duration::from_secs(7 * 86_400),
        failed: Duration::from_secs(30 * 86_400),
    };
    let (_, stopped) = tokio::sync::watch::channel(false);
    let deleted = block_on(purge_once(&store, retention, &stopped)).unwrap();

    // Succeeded delays go after 7 days (in more than one batch), failed and
    // cancelled ones after 30; pending ones always stay.
    assert_eq!(deleted, BATCH as u64 + 5 + 3 + 2);
    let left = query_db(
        url,
        "SELECT topic, COUNT(*) FROM delays GROUP BY topic ORDER BY topic",
    );
    assert_eq!(
        left,
        vec![
            vec!["waiting".to_owned(), "2".to_owned()],
            vec!["young-failed".to_owned(), "3".to_owned()],
            vec!["young-ok".to_owned(), "4".to_owned()],
        ]
    );
    assert_eq!(
        count(
            url,
            "SELECT COUNT(*) FROM delay_attempts a WHERE NOT EXISTS (SELECT 1 FROM delays d WHERE d.id = a.delay_id)"
        ),
        0,
        "attempts go with their delays"
    );
    assert_eq!(count(url, "SELECT COUNT(*) FROM delay_attempts"), 9);
}

#[test]
fn finished_delays_are_purged_by_age_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    finished_delays_are_purged_by_age_with_their_attempts(&url);
}

#[test]
fn finished_delays_are_purged_by_age_on_postgresql() {
    let database = crate::pg::TestDatabase::create("delay_retention");
    finished_delays_are_purged_by_age_with_their_attempts(&database.url());
}

#[test]
fn finished_workflow_runs_and_alerts_are_purged_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("f.db").display());
    let store = block_on(Store::connect(&url)).unwrap();
    let day = DAY;
    let now = carillon::clock::now_ms();
    let mut statements = Vec::new();
    for (id, state, age, finished) in [
        (1, "succeeded", 8, true),
        (2, "failed", 8, true),
        (3, "failed", 31, true),
        (4, "running", 40, false),
    ] {
        let finished_at = if finished {
            (now - age * day).to_string()
        } else {
            "NULL".to_owned()
        };
        statements.push(format!(
            "INSERT INTO workflow_runs (id, workflow, state, started_by, definition, created_at, finished_at) \
             VALUES ({id}, 'w', '{state}', 'test', '[]', 0, {finished_at})"
        ));
        statements.push(format!(
            "INSERT INTO workflow_run_steps (workflow_run, step, task, state) VALUES ({id}, 's', 't', '{state}')"
        ));
    }
    for (id, state, age) in [
        (1, "delivered", 8),
        (2, "suppressed", 8),
        (3, "failed", 8),
        (4, "failed", 31),
        (5, "pending", 40),
    ] {
        let finished_at = if state == "pending" {
            "NULL".to_owned()
        } else {
            (now - age * day).to_string()
        };
        statements.push(format!(
            "INSERT INTO alerts (id, rule, event, task, subject, message, state, raised_at, finished_at) \
             VALUES ({id}, 'r', 'failed', 't', 's{id}', 'm', '{state}', 0, {finished_at})"
        ));
        statements.push(format!(
            "INSERT INTO alert_deliveries (alert_id, channel, state, next_at) VALUES ({id}, 'c', 'delivered', 0)"
        ));
    }
    for statement in &statements {
        query_db(&url, statement);
    }
    let retention = Retention {
        succeeded: Duration::from_secs(7 * 86_400),
        failed: Duration::from_secs(30 * 86_400),
    };
    let (_, stopped) = tokio::sync::watch::channel(false);
    block_on(purge_once(&store, retention, &stopped)).unwrap();
    // Succeeded runs and delivered or suppressed alerts after 7 days, failed
    // ones after 30; what is not over stays.
    assert_eq!(
        query_db(&url, "SELECT id FROM workflow_runs ORDER BY id"),
        vec![vec!["2".to_owned()], vec!["4".to_owned()]]
    );
    assert_eq!(count(&url, "SELECT COUNT(*) FROM workflow_run_steps"), 2);
    assert_eq!(
        query_db(&url, "SELECT id FROM alerts ORDER BY id"),
        vec![vec!["3".to_owned()], vec!["5".to_owned()]]
    );
    assert_eq!(count(&url, "SELECT COUNT(*) FROM alert_deliveries"), 2);
}
