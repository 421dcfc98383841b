//! The plugins folder: drop, replace, break and remove a module while a host
//! serves it; manifests declare tasks.

use std::time::Duration;

use carillon::digest::Digest;

use crate::examples;
use crate::host::{Host, deploy, wait_until};

fn digests_run(host: &Host, task: &str) -> Vec<String> {
    host.query(&format!(
        "SELECT DISTINCT module_digest FROM runs WHERE task = '{task}' AND state = 'succeeded' AND module_digest IS NOT NULL"
    ))
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

#[test]
fn replacing_breaking_and_removing_a_module_while_serving() {
    let host = Host::start(&["hello"], &[]);
    let module = host.plugins().join("hello.wasm");
    host.sql("INSERT INTO tasks (name, module, schedule) VALUES ('greet', 'hello', 'every 1s')");
    let first = Digest::of(&examples::bytes("hello")).to_string();
    wait_until(
        "a run on the first version",
        Duration::from_secs(15),
        || digests_run(&host, "greet").contains(&first).then_some(()),
    );

    // Replace: the next runs use the new digest.
    deploy("pager", &module);
    let second = Digest::of(&examples::bytes("pager")).to_string();
    wait_until(
        "a run on the replaced version",
        Duration::from_secs(15),
        || digests_run(&host, "greet").contains(&second).then_some(()),
    );

    // Break: rejected with a clear log line; the previous version stays live.
    std::fs::write(&module, b"\0asm\x0d\0\x01\0 truncated garbage").unwrap();
    wait_until(
        "the broken file to be rejected",
        Duration::from_secs(10),
        || host.log().contains("plugin rejected").then_some(()),
    );
    assert!(
        host.log()
            .contains(&format!("version {} stays live", &second[..12])),
        "{}",
        host.log()
    );
    let before: usize = host.query("SELECT COUNT(*) FROM runs WHERE task = 'greet'")[0][0]
        .parse()
        .unwrap();
    wait_until(
        "runs to go on with the live version",
        Duration::from_secs(10),
        || {
            let rows = host.query(&format!(
            "SELECT COUNT(*) FROM runs WHERE task = 'greet' AND state = 'succeeded' AND module_digest = '{second}'"
        ));
            (rows[0][0].parse::<usize>().unwrap() > before).then_some(())
        },
    );

    // Remove: its tasks stop firing, with the reason on the task.
    std::fs::remove_file(&module).unwrap();
    let error = wait_until(
        "the task to record why it stopped",
        Duration::from_secs(10),
        || {
            let rows = host.query("SELECT COALESCE(error, '') FROM tasks WHERE name = 'greet'");
            (!rows[0][0].is_empty()).then(|| rows[0][0].clone())
        },
    );
    assert!(error.starts_with("module `hello` is not loaded"), "{error}");
    let code = host.query("SELECT error_code FROM tasks WHERE name = 'greet'");
    assert_eq!(code[0][0], "missing-module");

    // Back again: the task is unblocked by its error code, whatever the
    // message says (a host of another version may word it differently).
    host.sql(
        "UPDATE tasks SET error = 'module hello went away (in other words)' WHERE name = 'greet'",
    );
    let succeeded = |host: &Host| -> usize {
        host.query("SELECT COUNT(*) FROM runs WHERE task = 'greet' AND state = 'succeeded'")[0][0]
            .parse()
            .unwrap()
    };
    let before = succeeded(&host);
    deploy("hello", &module);
    wait_until(
        "the task to fire again once its module is back",
        Duration::from_secs(15),
        || (succeeded(&host) > before).then_some(()),
    );
    let error = host.query(
        "SELECT COALESCE(error, ''), COALESCE(error_code, '') FROM tasks WHERE name = 'greet'",
    );
    assert_eq!(error, [["", ""]]);
}

#[test]
fn a_dropped_module_with_a_manifest_is_enough() {
    let host = Host::start(&[], &[]);
    std::fs::write(
        host.plugins().join("sharded_sum.toml"),
        "[[task]]\nname = \"sum\"\nschedule = \"every 1s\"\nshards = 2\nparams = { to = 10 }\n",
    )
    .unwrap();
    deploy("sharded-sum", &host.plugins().join("sharded_sum.wasm"));
    wait_until(
        "both shards of the manifest's task to succeed",
        Duration::from_secs(20),
        || {
            let rows = host.query("SELECT COUNT(DISTINCT shard_index) FROM runs WHERE task = 'sum' AND state = 'succeeded'");
            (rows[0][0] == "2").then_some(())
        },
    );
}

#[test]
fn a_module_pushed_to_the_database_is_loaded_by_the_host() {
    let host = Host::start(&[], &[]);
    let out = crate::support::carillon(&[
        "module",
        "push",
        "greeter",
        &crate::support::wasm("hello"),
        "--database",
        &host.database_url(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("module `greeter` pushed"),
        "{}",
        out.stdout
    );
    host.sql("INSERT INTO tasks (name, module, schedule) VALUES ('greet', 'greeter', 'every 1s')");
    wait_until(
        "a run of the pushed module",
        Duration::from_secs(20),
        || {
            let rows = host
                .query("SELECT COUNT(*) FROM runs WHERE task = 'greet' AND state = 'succeeded'");
            (rows[0][0] != "0").then_some(())
        },
    );
    // A broken file is refused before it reaches the database.
    let (_dir, path) = crate::support::scratch_file("broken.wasm", b"not wasm");
    let out = crate::support::carillon(&[
        "module",
        "push",
        "x",
        path.to_str().unwrap(),
        "--database",
        &host.database_url(),
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("not a WebAssembly file"),
        "{}",
        out.stderr
    );
}
