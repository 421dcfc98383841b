//! The CLI on the database (`task`, `runs`, `logs`) and `cron next`.

use crate::support::{carillon, scratch_file};

#[test]
fn cron_next_prints_only_rfc3339_utc_lines() {
    let out = carillon(&[
        "cron",
        "next",
        "0 15 10 ? * 6L",
        "-n",
        "3",
        "--from",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "2026-01-30T10:15:00Z\n2026-02-27T10:15:00Z\n2026-03-27T10:15:00Z\n"
    );
    let out = carillon(&[
        "cron",
        "next",
        "0 30 2 * * ?",
        "-n",
        "1",
        "--from",
        "2026-03-08T00:00:00Z",
        "--tz",
        "America/New_York",
    ]);
    assert_eq!(
        out.stdout, "2026-03-08T07:00:00Z\n",
        "the DST gap fires when the clocks jump"
    );
}

#[test]
fn cron_next_rejects_a_bad_expression_naming_the_field() {
    let out = carillon(&["cron", "next", "0 0 12 32 * ?"]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr
            .contains("day-of-month `32`: 32 is out of range 1-31"),
        "{}",
        out.stderr
    );
}

#[test]
fn tasks_managed_from_the_cli_and_runs_listed_as_json() {
    let (dir, _) = scratch_file("x", b"");
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let db = ["--database", url.as_str()];
    let run = |args: &[&str]| carillon(&[args, &db[..]].concat());

    let out = run(&[
        "task",
        "add",
        "nightly",
        "--module",
        "hello",
        "--schedule",
        "0 0 2 * * ?",
        "--shards",
        "2",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(&[
        "task",
        "add",
        "nightly",
        "--module",
        "hello",
        "--schedule",
        "0 0 2 * * ?",
    ]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    let out = run(&[
        "task",
        "add",
        "broken",
        "--module",
        "hello",
        "--schedule",
        "0 0 2 * *",
    ]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("column `schedule`"), "{}", out.stderr);

    assert_eq!(run(&["task", "pause", "nightly"]).code, 0);
    let out = run(&["task", "show", "nightly", "--json"]);
    let task: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(task["paused"], true);
    assert_eq!(task["shard_total"], 2);
    assert_eq!(
        run(&["task", "edit", "nightly", "--schedule", "every 1h"]).code,
        0
    );
    let out = run(&["task", "list"]);
    assert!(
        out.stdout.contains("nightly") && out.stdout.contains("every 1h"),
        "{}",
        out.stdout
    );

    let out = run(&["task", "trigger", "nightly", "--param", "name=Ada"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("2 run(s) pending"), "{}", out.stdout);
    let out = run(&["runs", "--json"]);
    let runs: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for key in [
        "id",
        "task",
        "shard_index",
        "shard_total",
        "scheduled_at",
        "started_at",
        "finished_at",
        "state",
        "attempt",
        "error",
        "module_digest",
    ] {
        assert!(runs[0].get(key).is_some(), "runs --json has `{key}`");
    }
    assert_eq!(runs[0]["state"], "pending");

    assert_eq!(run(&["task", "remove", "nightly"]).code, 0);
    let out = run(&["task", "remove", "nightly"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("there is no task `nightly`"),
        "{}",
        out.stderr
    );
    let out = run(&["logs", "999"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("there is no run 999"), "{}", out.stderr);
}
