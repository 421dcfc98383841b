//! Workflows on a real `carillon serve`: a fan-in waits for both its
//! parents and gets their outputs; a failure skips the success branch and
//! runs the failure branch; retrying the failed step (after fixing its
//! task) continues the run, and marking one succeeded does too; a workflow
//! file with a schedule in the plugins folder runs on it; one defined with
//! plain SQL runs from the CLI; on PostgreSQL two hosts run each step of
//! each run once.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::host::{Host, query_db, wait_until};
use crate::http::{Request, get, post};
use crate::pg::TestDatabase;
use crate::support::carillon;

/// Workflow run `id` as the API reads it, once it is over.
fn finished(api: &str, id: i64) -> Value {
    wait_until("the workflow run to end", Duration::from_secs(30), || {
        let run = get(api, &format!("/api/v1/workflow-runs/{id}"))
            .send()
            .json();
        (run["state"] != "running").then_some(run)
    })
}

/// Step `name` of a workflow run read from the API.
fn step<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {run}"))
}

fn put_workflow(api: &str, name: &str, steps: Value) -> crate::http::Answer {
    Request::new(api, "PUT", &format!("/api/v1/workflows/{name}"))
        .json(json!({"steps": steps}))
        .send()
}

fn trigger(api: &str, name: &str) -> i64 {
    let started = post(api, &format!("/api/v1/workflows/{name}/trigger")).send();
    assert_eq!(started.status, 200, "{}", started.body);
    started.json()["workflow_run"].as_i64().unwrap()
}

#[test]
fn a_fan_in_waits_for_both_parents_and_a_failure_takes_the_other_branch_until_retried() {
    let host = Host::start(&["hello", "sleepy", "flaky"], &[]);
    let api = host.api();
    host.sql(
        "INSERT INTO tasks (name, module, schedule) VALUES \
         ('greet', 'hello', 'manual'), ('nap', 'sleepy', 'manual'), ('report', 'hello', 'manual'), \
         ('alarm', 'hello', 'manual')",
    );
    host.sql(
        "INSERT INTO tasks (name, module, schedule, params) VALUES \
         ('shaky', 'flaky', 'manual', '{\"succeed_on\": \"2\"}')",
    );
    let refused = put_workflow(&api, "bad", json!([{"name": "a", "task": "nope"}]));
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("`nope`, which is not a task"),
        "{}",
        refused.body
    );
    let cycle = put_workflow(
        &api,
        "bad",
        json!([{"name": "a", "task": "greet", "after": ["b"]}, {"name": "b", "task": "greet", "after": ["a"]}]),
    );
    assert_eq!(cycle.status, 422, "{}", cycle.body);
    assert!(cycle.body.contains("circle"), "{}", cycle.body);

    let made = put_workflow(
        &api,
        "fan-in",
        json!([
            {"name": "a", "task": "greet", "params": {"name": "Ada"}},
            {"name": "b", "task": "nap", "params": {"seconds": "1"}},
            {"name": "join", "task": "report", "after": ["a", "b"], "params": {"name": "after ${a.greeted}"}},
            {"name": "oops", "task": "alarm", "after": ["a", "b"], "when": "failure"}
        ]),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let run = finished(&api, trigger(&api, "fan-in"));
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(step(&run, "oops")["state"], "skipped");
    let join = step(&run, "join");
    assert_eq!(join["state"], "succeeded");
    // The fan-in started only once both parents were over.
    let b_done = step(&run, "b")["finished_at"].as_i64().unwrap();
    assert!(join["started_at"].as_i64().unwrap() >= b_done, "{run}");
    let params: BTreeMap<String, String> = serde_json::from_str(
        &host.query(&format!(
            "SELECT params FROM runs WHERE id = {}",
            join["run_id"]
        ))[0][0],
    )
    .unwrap();
    assert_eq!(
        params["name"], "after Ada",
        "the parent's output reached the fan-in"
    );
    assert_eq!(params["workflow.name"], "fan-in");
    assert_eq!(params["workflow.step"], "join");

    // Cancelled while a step runs: the step's run is stopped, the rest skipped.
    host.sql("UPDATE tasks SET params = '{\"seconds\": \"30\"}' WHERE name = 'nap'");
    let id = trigger(&api, "fan-in");
    wait_until("the long step running", Duration::from_secs(20), || {
        let run = get(&api, &format!("/api/v1/workflow-runs/{id}"))
            .send()
            .json();
        (step(&run, "b")["state"] == "running" && step(&run, "a")["state"] == "succeeded")
            .then_some(())
    });
    let cancelled = post(&api, &format!("/api/v1/workflow-runs/{id}/cancel")).send();
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    let run = finished(&api, id);
    assert_eq!(run["state"], "cancelled", "{run}");
    assert_eq!(step(&run, "join")["state"], "skipped");
    let nap_run = step(&run, "b")["run_id"].as_i64().unwrap();
    let stopped = wait_until(
        "the long step's run stopped",
        Duration::from_secs(20),
        || {
            let state =
                host.query(&format!("SELECT state FROM runs WHERE id = {nap_run}"))[0][0].clone();
            (state != "running" && state != "pending").then_some(state)
        },
    );
    assert!(stopped == "cancelled" || stopped == "failed", "{stopped}");
    let again = post(&api, &format!("/api/v1/workflow-runs/{id}/cancel")).send();
    assert_eq!(again.status, 409, "{}", again.body);
    wait_until("the stopped step recorded", Duration::from_secs(10), || {
        let run = get(&api, &format!("/api/v1/workflow-runs/{id}"))
            .send()
            .json();
        (step(&run, "b")["state"] == "failed").then_some(())
    });
    let revived = post(&api, &format!("/api/v1/workflow-runs/{id}/steps/b/retry")).send();
    assert_eq!(
        revived.status, 409,
        "a cancelled run stays cancelled: {}",
        revived.body
    );

    // A step that fails: the success branch is skipped, the failure branch runs.
    put_workflow(
        &api,
        "fragile",
        json!([
            {"name": "try", "task": "shaky"},
            {"name": "then", "task": "report", "after": ["try"]},
            {"name": "cleanup", "task": "alarm", "after": ["try"], "when": "failure"}
        ]),
    );
    let id = trigger(&api, "fragile");
    let run = finished(&api, id);
    assert_eq!(run["state"], "failed", "{run}");
    assert_eq!(step(&run, "try")["state"], "failed");
    assert!(
        step(&run, "try")["error"]
            .as_str()
            .unwrap()
            .contains("fails on purpose"),
        "{run}"
    );
    assert_eq!(step(&run, "then")["state"], "skipped");
    assert_eq!(step(&run, "cleanup")["state"], "succeeded");
    // Its run alone is not retried (the workflow would not hear of it):
    // the answer points to the step.
    let step_run = step(&run, "try")["run_id"].as_i64().unwrap();
    let refused = post(&api, &format!("/api/v1/runs/{step_run}/retry")).send();
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused
            .body
            .contains(&format!("/api/v1/workflow-runs/{id}/steps/try/retry")),
        "{}",
        refused.body
    );
    // Fixed, the failed step is retried and the run goes on from there.
    host.sql("UPDATE tasks SET params = '{\"succeed_on\": \"1\"}' WHERE name = 'shaky'");
    let retried = post(&api, &format!("/api/v1/workflow-runs/{id}/steps/try/retry")).send();
    assert_eq!(retried.status, 200, "{}", retried.body);
    let again = post(&api, &format!("/api/v1/workflow-runs/{id}/steps/try/retry")).send();
    assert_eq!(
        again.status, 409,
        "a running step is not retried: {}",
        again.body
    );
    let run = finished(&api, id);
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(step(&run, "try")["tries"], 2);
    assert_eq!(step(&run, "then")["state"], "succeeded");

    // Or marked succeeded by an operator, from the CLI.
    host.sql("UPDATE tasks SET params = '{\"succeed_on\": \"5\"}' WHERE name = 'shaky'");
    let id = trigger(&api, "fragile");
    assert_eq!(finished(&api, id)["state"], "failed");
    let database = host.database_url();
    let marked = carillon(&[
        "workflow",
        "succeed",
        &id.to_string(),
        "try",
        "--database",
        &database,
    ]);
    assert_eq!(marked.code, 0, "{}", marked.stderr);
    let run = finished(&api, id);
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(step(&run, "try")["error"], "marked succeeded by cli");
    let shown = carillon(&["workflow", "run", &id.to_string(), "--database", &database]);
    assert!(
        shown.stdout.contains("then") && shown.stdout.contains("succeeded"),
        "{}",
        shown.stdout
    );
}

#[test]
fn a_workflow_file_with_a_schedule_runs_on_it_and_one_written_with_sql_runs_from_the_cli() {
    let host = Host::start(&["hello"], &[]);
    host.sql("INSERT INTO tasks (name, module, schedule) VALUES ('greet', 'hello', 'manual')");
    std::fs::write(
        host.plugins().join("ticking.workflow.toml"),
        r#"
description = "Greets twice, in order"
schedule = "every 1s"
params = { name = "Bo" }

[[step]]
name = "first"
task = "greet"

[[step]]
name = "second"
task = "greet"
after = ["first"]
params = { name = "${first.greeted} again" }
"#,
    )
    .unwrap();
    let runs = wait_until(
        "two scheduled workflow runs",
        Duration::from_secs(30),
        || {
            let rows = host.query(
            "SELECT id, started_by FROM workflow_runs WHERE workflow = 'ticking' AND state = 'succeeded' ORDER BY id",
        );
            (rows.len() >= 2).then_some(rows)
        },
    );
    assert!(runs[0][1].starts_with("task ticking run "), "{runs:?}");
    let second = host.query(&format!(
        "SELECT r.params FROM workflow_run_steps s JOIN runs r ON r.id = s.run_id \
         WHERE s.workflow_run = {} AND s.step = 'second'",
        runs[0][0]
    ));
    let params: BTreeMap<String, String> = serde_json::from_str(&second[0][0]).unwrap();
    assert_eq!(params["name"], "Bo again");
    host.sql("UPDATE tasks SET paused = TRUE WHERE name = 'ticking'");

    // Plain SQL defines one; the CLI starts it and shows it.
    host.sql("INSERT INTO workflows (name) VALUES ('by-sql')");
    host.sql(
        "INSERT INTO workflow_steps (workflow, name, task, after) VALUES \
         ('by-sql', 'one', 'greet', NULL), ('by-sql', 'two', 'greet', 'one')",
    );
    let database = host.database_url();
    let started = carillon(&["workflow", "trigger", "by-sql", "--database", &database]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let id: i64 = started
        .stdout
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    let state = wait_until(
        "the SQL-defined run to end",
        Duration::from_secs(20),
        || {
            let rows = host.query(&format!("SELECT state FROM workflow_runs WHERE id = {id}"));
            (rows[0][0] != "running").then(|| rows[0][0].clone())
        },
    );
    assert_eq!(state, "succeeded");
    let listed = carillon(&[
        "workflow",
        "runs",
        "--workflow",
        "by-sql",
        "--database",
        &database,
    ]);
    assert!(
        listed.stdout.contains("by-sql") && listed.stdout.contains("succeeded"),
        "{}",
        listed.stdout
    );
    // A step naming a task that is gone fails the run, saying so.
    host.sql("UPDATE workflow_steps SET task = 'gone' WHERE name = 'two'");
    let started = carillon(&["workflow", "trigger", "by-sql", "--database", &database]);
    let id: i64 = started
        .stdout
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    let error = wait_until("the failed step", Duration::from_secs(20), || {
        let rows = host.query(&format!(
            "SELECT COALESCE(s.error, ''), w.state FROM workflow_run_steps s JOIN workflow_runs w ON w.id = s.workflow_run \
             WHERE s.workflow_run = {id} AND s.step = 'two'"
        ));
        (rows[0][1] == "failed").then(|| rows[0][0].clone())
    });
    assert_eq!(error, "task `gone` does not exist");
    // A typo in a column written with SQL is not read as its default: the
    // workflow is refused, the column named.
    host.sql(
        "UPDATE workflow_steps SET task = 'greet', run_when = 'on-failure' WHERE name = 'two'",
    );
    let refused = carillon(&["workflow", "trigger", "by-sql", "--database", &database]);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("step `two`: column `run_when`: `on-failure` is not when a step runs"),
        "{}",
        refused.stderr
    );
}

#[test]
fn two_hosts_on_postgresql_run_each_step_of_each_run_once() {
    let database = TestDatabase::create("workflows");
    let url = database.url();
    let first = Host::start_node(Some(url.clone()), "wf-a", &["hello"], &[]);
    let _second = Host::start_node(Some(url.clone()), "wf-b", &["hello"], &[]);
    first.sql("INSERT INTO tasks (name, module, schedule) VALUES ('greet', 'hello', 'manual')");
    let mut steps = vec![json!({"name": "start", "task": "greet"})];
    for i in 0..20 {
        steps.push(json!({"name": format!("fan-{i}"), "task": "greet", "after": ["start"]}));
    }
    let fans: Vec<String> = (0..20).map(|i| format!("fan-{i}")).collect();
    steps.push(json!({"name": "join", "task": "greet", "after": fans}));
    let api = first.api();
    assert_eq!(put_workflow(&api, "wide", json!(steps)).status, 201);
    let ids: Vec<i64> = (0..3).map(|_| trigger(&api, "wide")).collect();
    for id in &ids {
        assert_eq!(finished(&api, *id)["state"], "succeeded");
    }
    let count = |sql: &str| query_db(&url, sql)[0][0].parse::<i64>().unwrap();
    assert_eq!(
        count("SELECT COUNT(*) FROM runs WHERE cause LIKE 'workflow %'"),
        3 * 22,
        "one run per step of each workflow run"
    );
    assert_eq!(
        count("SELECT COUNT(DISTINCT cause) FROM runs WHERE cause LIKE 'workflow %'"),
        3 * 22
    );
    assert_eq!(
        count("SELECT COUNT(DISTINCT node) FROM runs WHERE cause LIKE 'workflow %'"),
        2,
        "both hosts ran steps"
    );
}
