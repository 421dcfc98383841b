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

#[test]
fn a_closed_pipe_ends_output_quietly_and_successfully() {
    let (dir, _) = scratch_file("x", b"");
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let out = carillon(&[
        "task",
        "add",
        "first",
        "--module",
        "hello",
        "--schedule",
        "every 1h",
        "--database",
        &url,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Far more than a pipe holds, so the writer is still writing when the
    // reader goes.
    crate::host::query_db(
        &url,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
         INSERT INTO tasks (name, module, schedule) SELECT 'task-' || i, 'hello', 'every 1h' FROM n",
    );
    // `carillon task list | head -1`: the reader leaves after one line.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_carillon"))
        .args(["task", "list", "--database", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first).unwrap();
    // The reader (and its end of the pipe) is gone now.
    let output = child.wait_with_output().unwrap();
    assert!(first.starts_with("NAME"), "{first}");
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
}

#[test]
fn control_characters_in_names_are_escaped_in_tables() {
    let (dir, path) = scratch_file("c.db", b"");
    std::fs::remove_file(&path).unwrap();
    let url = format!("sqlite://{}", path.display());
    assert_eq!(
        carillon(&[
            "task",
            "add",
            "plain",
            "--module",
            "m",
            "--schedule",
            "every 1h",
            "--database",
            &url
        ])
        .code,
        0
    );
    crate::host::query_db(
        &url,
        "UPDATE tasks SET task_group = 'x', name = 'evil' || char(27) || '[2J' || char(10) || 'line' WHERE name = 'plain'",
    );
    let out = carillon(&["task", "list", "--database", &url]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains('\u{1b}'), "{:?}", out.stdout);
    assert!(
        out.stdout.contains("evil\\u{1b}[2J\\nline"),
        "{}",
        out.stdout
    );
    drop(dir);
}

#[test]
fn read_only_commands_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo.db");
    let url = format!("sqlite://{}", missing.display());
    for args in [
        &["task", "list"][..],
        &["runs"],
        &["logs", "1"],
        &["module", "list"],
        &["nodes"],
    ] {
        let out = carillon(&[args, &["--database", &url][..]].concat());
        assert_eq!(out.code, 2, "{args:?}");
        assert!(
            out.stderr
                .contains(&format!("there is no database at {url}")),
            "{args:?}: {}",
            out.stderr
        );
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }
}
