//! `carillon run FILE.wasm`: the job author's inner loop, through the real binary.

use crate::support::{carillon, scratch_file, wasm};

#[test]
fn hello_prints_its_log_with_shard_and_param_then_its_outcome() {
    let out = carillon(&["run", &wasm("hello"), "--shard", "1/4", "--param", "name=x"]);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].contains("INFO  hello from shard 1 of 4"),
        "{}",
        out.stdout
    );
    assert!(
        lines[0].starts_with("20"),
        "log lines start with an RFC 3339 time: {}",
        lines[0]
    );
    assert!(out.stdout.contains("param name value=x"), "{}", out.stdout);
    assert!(
        out.stdout.contains("\noutput greeted = x\n"),
        "{}",
        out.stdout
    );
    let last = lines.last().unwrap();
    assert!(last.starts_with("succeeded in"), "{last}");
    assert!(last.contains("said hello to x"), "{last}");
}

#[test]
fn json_output_is_one_object_with_logs_and_outcome() {
    let out = carillon(&[
        "run",
        &wasm("sharded-sum"),
        "--shard",
        "0/2",
        "--param",
        "to=10",
        "--json",
    ]);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).expect("stdout is JSON");
    assert_eq!(value["outcome"]["state"], "succeeded");
    assert_eq!(value["outcome"]["summary"], "sum of [0, 5) = 10");
    assert_eq!(value["outcome"]["items"], 5);
    assert_eq!(value["logs"][0]["level"], "info");
    assert_eq!(value["digest"].as_str().unwrap().len(), 64);
}

#[test]
fn hog_exits_2_naming_the_memory_cap() {
    let out = carillon(&["run", &wasm("hog"), "--memory", "32MiB"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("exceeded its memory cap of 32 MiB"),
        "{}",
        out.stderr
    );
}

#[test]
fn sleepy_with_a_timeout_exits_2_as_timed_out() {
    let out = carillon(&["run", &wasm("sleepy"), "--timeout", "1s"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("timed out after 1s"), "{}", out.stderr);
    // Asked to stop at the deadline, it saved how far it got.
    assert!(out.stdout.contains("last checkpoint:"), "{}", out.stdout);
}

#[test]
fn a_file_that_is_not_wasm_exits_2_saying_so() {
    let (_dir, path) = scratch_file("notes.wasm", b"these are not the bytes you are looking for");
    let out = carillon(&["run", path.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("notes.wasm"), "{}", out.stderr);
    assert!(
        out.stderr.contains("not a WebAssembly file"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_missing_file_exits_2_naming_it() {
    let out = carillon(&["run", "/no/such/job.wasm"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("cannot read job file /no/such/job.wasm"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_core_module_exits_2_asking_for_a_component() {
    let (_dir, path) = scratch_file("core.wasm", b"\0asm\x01\0\0\0");
    let out = carillon(&["run", path.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("core WebAssembly module, not a component"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_job_error_exits_1_with_the_jobs_message() {
    let out = carillon(&[
        "run",
        &wasm("hostile"),
        "--param",
        "mode=bad-param",
        "--param",
        "n=abc",
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("param `n`: expected u32, got `abc`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("not retryable"), "{}", out.stderr);
}

#[test]
fn attempt_and_checkpoint_flags_reach_the_job() {
    let out = carillon(&["run", &wasm("flaky"), "--attempt", "3"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("succeeded on attempt 3"),
        "{}",
        out.stdout
    );

    let out = carillon(&[
        "run",
        &wasm("pager"),
        "--page",
        "2:50",
        "--checkpoint",
        "120",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("resuming page 2 from checkpoint item=120"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("30 processed this attempt"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("last checkpoint: 150"),
        "{}",
        out.stdout
    );
}

#[test]
fn bad_flags_exit_2_saying_how_to_write_them() {
    let out = carillon(&["run", &wasm("hello"), "--shard", "4/4"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("INDEX/TOTAL"), "{}", out.stderr);
    let out = carillon(&["run", &wasm("hello"), "--timeout", "soon"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("not a valid duration"),
        "{}",
        out.stderr
    );
    let out = carillon(&["run", &wasm("hello"), "--memory", "lots"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("not a valid size"), "{}", out.stderr);
}

#[test]
fn a_job_reaches_over_http_only_what_allow_host_grants() {
    let server = crate::callbacks::CallbackServer::start();
    let origin = format!("http://127.0.0.1:{}", server.port);
    let url = format!("url={origin}/x");
    let refused = carillon(&["run", &wasm("fetch"), "--param", &url]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.stdout.contains(&format!(
            "refused: {origin} is not allowed: --allow-host grants nothing"
        )),
        "{}",
        refused.stdout
    );
    assert!(server.received().is_empty());
    let out = carillon(&[
        "run",
        &wasm("fetch"),
        "--param",
        &url,
        "--allow-host",
        &origin,
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).expect("stdout is JSON");
    assert_eq!(value["http"]["requests"], 1, "{value}");
    assert_eq!(value["http"]["statuses"]["200"], 1, "{value}");
    assert_eq!(server.to("/x").len(), 1);
}
