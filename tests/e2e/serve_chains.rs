//! Chaining on a real `carillon serve`: a task named in `on_success` fires
//! once when every shard of a fire of its parent succeeded, with the
//! parent's run id, state, summary and outputs in its params; `on_failure`
//! fires once when a fire failed for good (after its retries); a `manual`
//! task fires only so; a loop is refused by the API and the CLI when it is
//! defined, and one written with SQL is refused when it would fire; an
//! HTTP task chained or as a workflow step makes its own call; on
//! PostgreSQL two hosts make each chained run once.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::host::{Host, query_db, wait_until};
use crate::http::{Request, post};
use crate::pg::TestDatabase;
use crate::support::carillon;

/// The params of run `id`, as a map.
fn params(host: &Host, id: &str) -> BTreeMap<String, String> {
    let rows = host.query(&format!("SELECT params FROM runs WHERE id = {id}"));
    serde_json::from_str(&rows[0][0]).unwrap()
}

/// The runs of `task` in `state`: (id, cause).
fn runs_of(host: &Host, task: &str, state: &str) -> Vec<(String, String)> {
    host.query(&format!(
        "SELECT id, COALESCE(cause, '') FROM runs WHERE task = '{task}' AND state = '{state}' ORDER BY id"
    ))
    .into_iter()
    .map(|row| (row[0].clone(), row[1].clone()))
    .collect()
}

/// The log of run `id`, one line each.
fn log_of(host: &Host, id: &str) -> String {
    host.query(&format!(
        "SELECT message FROM run_logs WHERE run_id = {id} ORDER BY attempt, seq"
    ))
    .into_iter()
    .map(|row| row[0].clone())
    .collect::<Vec<_>>()
    .join("\n")
}

#[test]
fn a_child_fires_once_after_its_parent_with_its_outputs_and_failures_take_the_other_branch() {
    let host = Host::start(&["hello", "flaky"], &[]);
    host.sql(
        "INSERT INTO tasks (name, module, schedule) VALUES \
         ('greet-back', 'hello', 'manual'), ('page-oncall', 'hello', 'manual')",
    );
    // Manual tasks wait for a trigger, a chain or a workflow, and are not in error.
    let manual = wait_until("the manual task's note", Duration::from_secs(10), || {
        let rows = host.query(
            "SELECT COALESCE(error_code, ''), COALESCE(next_fire_at, -1) FROM tasks WHERE name = 'greet-back'",
        );
        (rows[0][0] == "manual").then(|| rows[0].clone())
    });
    assert_eq!(manual[1], "-1");
    // A fire of two shards that succeeds: the child fires once, for the fire.
    host.sql(
        "INSERT INTO tasks (name, module, schedule, shard_total, params, on_success, on_failure) VALUES \
         ('greeter', 'hello', 'after 1s', 2, '{\"name\": \"Ada\"}', 'greet-back', 'page-oncall')",
    );
    let child = wait_until("the chained run", Duration::from_secs(20), || {
        runs_of(&host, "greet-back", "succeeded").into_iter().next()
    });
    let parents = runs_of(&host, "greeter", "succeeded");
    assert_eq!(parents.len(), 2, "both shards ran: {parents:?}");
    let slot =
        host.query("SELECT scheduled_at FROM runs WHERE task = 'greeter' LIMIT 1")[0][0].clone();
    assert_eq!(child.1, format!("after greeter@{slot} succeeded"));
    let got = params(&host, &child.0);
    assert_eq!(got["parent.task"], "greeter");
    assert_eq!(got["parent.run_id"], parents[0].0);
    assert_eq!(got["parent.state"], "succeeded");
    assert_eq!(got["parent.output.greeted"], "Ada");
    assert!(
        got["parent.summary"].contains("said hello to Ada"),
        "{got:?}"
    );
    // The parent's log says what its end set off.
    let first_shard_log = log_of(&host, &parents[0].0) + &log_of(&host, &parents[1].0);
    assert!(
        first_shard_log.contains(&format!("on_success: fired `greet-back` (run {})", child.0)),
        "{first_shard_log}"
    );
    // Its own outputs are on it too; nothing else fired.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(runs_of(&host, "greet-back", "succeeded").len(), 1);
    assert!(
        host.query("SELECT id FROM runs WHERE task = 'page-oncall'")
            .is_empty()
    );
    let outputs = host.query(&format!("SELECT outputs FROM runs WHERE id = {}", child.0));
    assert_eq!(outputs[0][0], r#"{"greeted":"world"}"#);

    // An entry the host cannot read (a run whose state was overwritten by
    // hand) is dropped, named in the host's log; the rest go on.
    host.sql(&format!(
        "UPDATE runs SET state = 'exploded' WHERE id = {}",
        child.0
    ));
    host.sql(&format!(
        "INSERT INTO outbox (kind, task, subject, state, at) VALUES ('run-ended', 'greet-back', {}, 'succeeded', 0)",
        child.0
    ));
    wait_until("the bad entry dropped", Duration::from_secs(10), || {
        host.log()
            .contains("was not followed up and is dropped")
            .then_some(())
    });

    // A fire that fails for good, after its retry: the failure branch, once.
    host.sql(
        "INSERT INTO tasks (name, module, schedule, max_retries, retry_backoff_ms, params, on_success, on_failure) VALUES \
         ('breaks', 'flaky', 'after 1s', 1, 100, '{\"succeed_on\": \"9\"}', 'greet-back', 'page-oncall')",
    );
    let paged = wait_until("the failure branch", Duration::from_secs(20), || {
        runs_of(&host, "page-oncall", "succeeded")
            .into_iter()
            .next()
    });
    let failed = host.query("SELECT id, attempt FROM runs WHERE task = 'breaks'");
    assert_eq!(failed[0][1], "2", "the parent was retried before it failed");
    let got = params(&host, &paged.0);
    assert_eq!(got["parent.state"], "failed");
    assert!(got["parent.error"].contains("fails on purpose"), "{got:?}");
    assert_eq!(
        host.query("SELECT id FROM runs WHERE task = 'greet-back'")
            .len(),
        1,
        "no success branch"
    );
}

#[test]
fn an_http_task_follows_a_failure_and_runs_as_a_workflow_step_with_its_own_call() {
    let server = crate::callbacks::CallbackServer::start();
    let host = Host::start(
        &["flaky"],
        &["--egress-allowed-hosts", "http://127.0.0.1:*"],
    );
    let api = host.api();
    // The webhook is called with what its task says: the parent's params
    // the host adds (`parent.*`) are not params of the call.
    host.sql(&format!(
        "INSERT INTO tasks (name, module, schedule, params) VALUES ('hook', 'http', 'manual', \
         '{{\"url\": \"{}/hooks/failed\", \"method\": \"post\", \"body\": \"it broke\"}}')",
        server.base()
    ));
    host.sql(
        "INSERT INTO tasks (name, module, schedule, params, on_failure) VALUES \
         ('breaks', 'flaky', 'after 1s', '{\"succeed_on\": \"9\"}', 'hook')",
    );
    let called = wait_until("the chained call", Duration::from_secs(20), || {
        runs_of(&host, "hook", "succeeded").into_iter().next()
    });
    assert!(called.1.starts_with("after breaks@"), "{called:?}");
    let hooks = server.to("/hooks/failed");
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(
        (hooks[0].method.as_str(), hooks[0].body.as_str()),
        ("POST", "it broke")
    );

    // As a workflow step, the same: and the run's params (an operator's)
    // do not reach its call.
    let put = Request::new(&api, "PUT", "/api/v1/workflows/notify")
        .json(json!({"steps": [{"name": "call", "task": "hook"}]}))
        .send();
    assert_eq!(put.status, 201, "{}", put.body);
    let started = post(&api, "/api/v1/workflows/notify/trigger")
        .json(json!({"params": {"url": "http://127.0.0.1:9/elsewhere"}}))
        .send();
    assert_eq!(started.status, 200, "{}", started.body);
    let id = started.json()["workflow_run"].as_i64().unwrap();
    let state = wait_until("the workflow run", Duration::from_secs(20), || {
        let rows = host.query(&format!("SELECT state FROM workflow_runs WHERE id = {id}"));
        (rows[0][0] != "running").then(|| rows[0][0].clone())
    });
    assert_eq!(state, "succeeded");
    assert_eq!(server.to("/hooks/failed").len(), 2);
}

#[test]
fn a_loop_is_refused_by_the_api_and_the_cli_and_one_made_with_sql_never_fires() {
    let host = Host::start(&["hello"], &[]);
    let api = host.api();
    let created = post(&api, "/api/v1/tasks")
        .json(json!({"name": "first", "module": "hello", "schedule": "manual", "on_success": "second"}))
        .send();
    assert_eq!(created.status, 422, "{}", created.body);
    assert_eq!(created.error(), ("invalid".into(), "on_success".into()));
    assert!(
        created.body.contains("`second`, which is not a task"),
        "{}",
        created.body
    );
    for (name, next) in [("second", None), ("first", Some("second"))] {
        let mut body = json!({"name": name, "module": "hello", "schedule": "manual"});
        if let Some(next) = next {
            body["on_success"] = json!(next);
        }
        let made = post(&api, "/api/v1/tasks").json(body).send();
        assert_eq!(made.status, 201, "{}", made.body);
    }
    let looped = Request::new(&api, "PATCH", "/api/v1/tasks/second")
        .json(json!({"on_failure": "first"}))
        .send();
    assert_eq!(looped.status, 422, "{}", looped.body);
    assert_eq!(looped.error(), ("invalid".into(), "on_failure".into()));
    assert!(
        looped
            .body
            .contains("makes a loop: second → first → second"),
        "{}",
        looped.body
    );
    let database = host.database_url();
    let cli = carillon(&[
        "task",
        "edit",
        "second",
        "--database",
        &database,
        "--on-success",
        "first",
    ]);
    assert_ne!(cli.code, 0);
    assert!(
        cli.stderr.contains("makes a loop: second → first → second"),
        "{}",
        cli.stderr
    );

    // Written with SQL, the loop is refused when it would fire.
    host.sql("UPDATE tasks SET on_success = 'first' WHERE name = 'second'");
    let fired = post(&api, "/api/v1/tasks/first/trigger").send();
    assert_eq!(fired.status, 200, "{}", fired.body);
    let first = wait_until("the triggered run", Duration::from_secs(20), || {
        runs_of(&host, "first", "succeeded").into_iter().next()
    });
    let note = wait_until("the refusal on its log", Duration::from_secs(10), || {
        let log = log_of(&host, &first.0);
        log.contains("not fired").then_some(log)
    });
    assert!(
        note.contains("on_success: `second` not fired: the chain loops (first → second → first)"),
        "{note}"
    );
    assert!(
        host.query("SELECT id FROM runs WHERE task = 'second'")
            .is_empty()
    );
}

#[test]
fn two_hosts_on_postgresql_make_each_chained_run_once() {
    let database = TestDatabase::create("chains");
    let url = database.url();
    let first = Host::start_node(Some(url.clone()), "chain-a", &["hello"], &[]);
    let second = Host::start_node(Some(url.clone()), "chain-b", &["hello"], &[]);
    first.sql("INSERT INTO tasks (name, module, schedule) VALUES ('after', 'hello', 'manual')");
    first.sql(
        "INSERT INTO tasks (name, module, schedule, shard_total, on_success) VALUES \
         ('every', 'hello', 'every 1s', 4, 'after')",
    );
    wait_until("eight chained runs", Duration::from_secs(30), || {
        (query_db(
            &url,
            "SELECT COUNT(*) FROM runs WHERE task = 'after' AND state = 'succeeded'",
        )[0][0]
            .parse::<i64>()
            .unwrap()
            >= 8)
            .then_some(())
    });
    first.sql("UPDATE tasks SET paused = TRUE WHERE name = 'every'");
    let count = |sql: &str| query_db(&url, sql)[0][0].parse::<i64>().unwrap();
    // Every fire that was under way ends and is followed up.
    let (fires, chained) = wait_until(
        "the last fires followed up",
        Duration::from_secs(20),
        || {
            let settled = count("SELECT COUNT(*) FROM runs WHERE state IN ('pending', 'running')")
                == 0
                && count("SELECT COUNT(*) FROM outbox") == 0;
            let fires = count("SELECT COUNT(DISTINCT scheduled_at) FROM runs WHERE task = 'every'");
            let chained = count("SELECT COUNT(*) FROM runs WHERE task = 'after'");
            (settled && fires == chained).then_some((fires, chained))
        },
    );
    assert!(fires >= 8, "{fires} fires, {chained} chained runs");
    // One chained run per parent fire, whichever host took its end.
    let per_fire = query_db(
        &url,
        "SELECT cause, COUNT(*) FROM runs WHERE task = 'after' GROUP BY cause HAVING COUNT(*) > 1",
    );
    assert!(per_fire.is_empty(), "chained twice: {per_fire:?}");
    let nodes = query_db(
        &url,
        "SELECT COUNT(DISTINCT node) FROM runs WHERE task = 'every'",
    )[0][0]
        .clone();
    assert_eq!(nodes, "2", "both hosts ran the parent's shards");
    drop(second);
}
