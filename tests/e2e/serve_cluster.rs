//! Cluster mode: several real `carillon serve` processes on one PostgreSQL
//! database (each test its own database). Shards spread over the hosts, a
//! module pushed once reaches them all, a killed host's runs finish
//! elsewhere from their checkpoints, a host cut off the database fences
//! itself, and racing hosts never make a slot twice. Checked on the tables.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::db_proxy::DbProxy;
use crate::host::{Host, wait_until};
use crate::pg::TestDatabase;

/// Cluster timings short enough for tests: dead after 2 s of silence.
const FAST: &[&str] = &["--heartbeat-interval", "500ms", "--node-timeout", "2s"];

fn start(url: &str, node: &str, modules: &[&str]) -> Host {
    Host::start_node(Some(url.to_owned()), node, modules, FAST)
}

/// Waits until every host counts exactly `live` (comma-separated) as live.
fn wait_for_live(hosts: &[&Host], live: &str) {
    for host in hosts {
        wait_until(
            &format!("{} to see live hosts {live}", host.node_id),
            Duration::from_secs(20),
            || {
                host.log()
                    .lines()
                    .rfind(|l| l.contains("live hosts changed"))
                    .filter(|l| l.contains(&format!("live={live}")))
                    .map(|_| ())
            },
        );
    }
}

/// (scheduled_at → nodes that ran a shard of it) for succeeded runs of `task`
/// matching `summary_like`.
fn nodes_per_slot(
    host: &Host,
    task: &str,
    summary_like: &str,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut slots: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in host.query(&format!(
        "SELECT CAST(scheduled_at AS TEXT), node FROM runs WHERE task = '{task}' \
         AND state = 'succeeded' AND summary LIKE '{summary_like}'"
    )) {
        slots
            .entry(row[0].clone())
            .or_default()
            .insert(row[1].clone());
    }
    slots
}

#[test]
fn three_hosts_share_a_sharded_task_a_module_pushed_once_and_sql_edits() {
    let database = TestDatabase::create("cluster_spread");
    let url = database.url();
    // Only `a` has the module in its folder; `b` and `c` load it from the database.
    let a = start(&url, "a", &["hello"]);
    let b = start(&url, "b", &[]);
    let mut flags = FAST.to_vec();
    flags.extend(["--labels", "disk=ssd"]);
    let c = Host::start_node(Some(url.clone()), "c", &[], &flags);
    wait_for_live(&[&a, &b, &c], "a,b,c");

    a.sql(
        "INSERT INTO tasks (name, module, schedule, shard_total, selector) VALUES \
         ('spread', 'hello', 'every 1s', 3, NULL), ('pinned', 'hello', 'every 1s', 3, 'disk=ssd')",
    );
    wait_until(
        "a fire whose three shards ran on three different hosts",
        Duration::from_secs(20),
        || {
            nodes_per_slot(&a, "spread", "said hello to world%")
                .values()
                .any(|nodes| nodes.len() == 3)
                .then_some(())
        },
    );

    // Runs are made ahead of their slot but none starts before it.
    let early = a.query(
        "SELECT CAST(COUNT(*) AS TEXT) FROM runs WHERE state = 'succeeded' AND started_at < scheduled_at",
    );
    assert_eq!(early[0][0], "0", "no run started before its slot");

    // A selector pins a task to the hosts whose labels match.
    wait_until(
        "a fire of the pinned task to succeed",
        Duration::from_secs(10),
        || (!nodes_per_slot(&a, "pinned", "%").is_empty()).then_some(()),
    );
    let pinned =
        a.query("SELECT DISTINCT node FROM runs WHERE task = 'pinned' AND node IS NOT NULL");
    assert_eq!(pinned, [["c"]], "only host c has disk=ssd");

    // An edit made with plain SQL reaches every host.
    a.sql("UPDATE tasks SET params = '{\"name\": \"cluster\"}' WHERE name = 'spread'");
    wait_until(
        "a fire with the new params on all three hosts",
        Duration::from_secs(20),
        || {
            nodes_per_slot(&a, "spread", "said hello to cluster%")
                .values()
                .any(|nodes| nodes.len() == 3)
                .then_some(())
        },
    );

    // Paused with plain SQL: no host fires it any more.
    a.sql("UPDATE tasks SET paused = TRUE");
    let paused_at: i64 = a
        .query("SELECT CAST((extract(epoch from clock_timestamp()) * 1000)::BIGINT AS TEXT)")[0][0]
        .parse()
        .unwrap();
    // Proof that the hosts have looked since: a task added after the pause
    // fires its second slot (a second after its first) on some host.
    a.sql("INSERT INTO tasks (name, module, schedule) VALUES ('witness', 'hello', 'every 1s')");
    wait_until(
        "two fires of a task added after the pause",
        Duration::from_secs(20),
        || {
            let fired = a.query("SELECT CAST(COUNT(*) AS TEXT) FROM runs WHERE task = 'witness'");
            (fired[0][0].parse::<i64>().unwrap_or(0) >= 2).then_some(())
        },
    );
    let late = a.query(&format!(
        "SELECT CAST(COUNT(*) AS TEXT) FROM runs WHERE task <> 'witness' AND created_at > {}",
        paused_at + 200
    ));
    assert_eq!(late[0][0], "0", "no host fired the paused tasks");

    // `carillon nodes` shows the three hosts alive.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carillon"))
        .args(["nodes", "--json", "--database", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let alive: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["alive"] == true)
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(alive, ["a", "b", "c"]);
}

#[test]
fn kill_9_of_a_host_moves_its_runs_to_the_others_from_their_checkpoints() {
    let database = TestDatabase::create("cluster_failover");
    let url = database.url();
    let a = start(&url, "a", &["sleepy"]);
    let b = start(&url, "b", &[]);
    let c = start(&url, "c", &[]);
    wait_for_live(&[&a, &b, &c], "a,b,c");
    let hosts = [a, b, c];

    // Three shards of 4 s of work each, checkpointing every 0.5 s.
    hosts[0].sql(
        "INSERT INTO tasks (name, module, schedule, shard_total, max_retries, params) VALUES \
         ('long', 'sleepy', 'at 2020-01-01T00:00:00Z', 3, 2, '{\"seconds\": 4, \"checkpoint_every\": 10}')",
    );
    let running = wait_until(
        "each shard running on its own host with a checkpoint saved",
        Duration::from_secs(20),
        || {
            let rows = hosts[0].query(
                "SELECT CAST(shard_index AS TEXT), node FROM runs WHERE task = 'long' \
                 AND state = 'running' AND checkpoint IS NOT NULL ORDER BY shard_index",
            );
            let nodes: BTreeSet<&String> = rows.iter().map(|r| &r[1]).collect();
            (rows.len() == 3 && nodes.len() == 3).then_some(rows)
        },
    );
    let (victim_shard, victim) = (running[1][0].clone(), running[1][1].clone());
    let mut hosts = hosts;
    let index = hosts.iter().position(|h| h.node_id == victim).unwrap();
    hosts[index].kill9();
    let survivor = &hosts[(index + 1) % 3];

    let rows = wait_until(
        "all three shards to succeed",
        Duration::from_secs(30),
        || {
            let rows = survivor.query(
                "SELECT CAST(shard_index AS TEXT), state, CAST(attempt AS TEXT), node, summary \
                 FROM runs WHERE task = 'long' ORDER BY shard_index",
            );
            rows.iter().all(|r| r[1] == "succeeded").then_some(rows)
        },
    );
    assert_eq!(rows.len(), 3, "one row per shard, none doubled: {rows:?}");
    let moved = &rows[victim_shard.parse::<usize>().unwrap()];
    assert_eq!(
        moved[2], "2",
        "the dead host's shard ran again as attempt 2: {moved:?}"
    );
    assert_ne!(moved[3], victim, "on another host: {moved:?}");
    let resumed_at: u64 = moved[4]
        .rsplit("resumed at step ")
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("summary names the resume step: {moved:?}"));
    assert!(
        resumed_at >= 10,
        "it resumed from the checkpoint, not from the start: {moved:?}"
    );
    assert!(
        survivor
            .log()
            .contains("host missed its heartbeat: rescued its runs")
            || hosts[(index + 2) % 3]
                .log()
                .contains("host missed its heartbeat: rescued its runs"),
        "a survivor says it rescued the runs"
    );
    for row in rows.iter().filter(|r| r[0] != victim_shard) {
        assert_eq!(row[2], "1", "the other shards were not disturbed: {row:?}");
    }
}

#[test]
fn a_host_cut_off_the_database_stops_its_runs_and_its_late_completion_is_rejected() {
    let database = TestDatabase::create("cluster_fence");
    let proxy = DbProxy::start("127.0.0.1:5432");
    let through_proxy = database.url_via(proxy.port());
    let cut = start(&through_proxy, "cut", &["sleepy"]);
    let other = start(&database.url(), "other", &["sleepy"]);
    wait_for_live(&[&cut, &other], "cut,other");

    other.sql(
        "INSERT INTO tasks (name, module, schedule, shard_total, max_retries, params) VALUES \
         ('long', 'sleepy', 'at 2020-01-01T00:00:00Z', 2, 2, '{\"seconds\": 5, \"checkpoint_every\": 5}')",
    );
    let shard = wait_until(
        "a shard running on the host to be cut, with a checkpoint",
        Duration::from_secs(20),
        || {
            let rows = other.query(
                "SELECT CAST(id AS TEXT) FROM runs WHERE task = 'long' AND state = 'running' \
                 AND node = 'cut' AND checkpoint IS NOT NULL",
            );
            rows.first().map(|r| r[0].clone())
        },
    );
    proxy.cut();
    wait_until(
        "the cut-off host to fence itself",
        Duration::from_secs(10),
        || {
            cut.log()
                .contains("fenced: no heartbeat reached the database")
                .then_some(())
        },
    );
    assert!(
        cut.log().contains("runs=1"),
        "it stopped its one run:\n{}",
        cut.log()
    );
    let taken = wait_until(
        "the other host to take the run over",
        Duration::from_secs(15),
        || {
            let rows = other.query(&format!(
                "SELECT state, node, CAST(attempt AS TEXT) FROM runs WHERE id = {shard}"
            ));
            (rows[0][0] == "running" && rows[0][1] == "other").then(|| rows[0].clone())
        },
    );
    assert_eq!(taken[2], "2");

    // Back on the network: the held completion arrives late and is rejected.
    proxy.restore();
    wait_until(
        "the late completion to be rejected",
        Duration::from_secs(20),
        || cut.log().contains("completion rejected").then_some(()),
    );
    let row = wait_until(
        "the run to finish on the other host",
        Duration::from_secs(20),
        || {
            let rows = other.query(&format!(
                "SELECT state, node, CAST(attempt AS TEXT) FROM runs WHERE id = {shard}"
            ));
            (rows[0][0] == "succeeded").then(|| rows[0].clone())
        },
    );
    assert_eq!(
        row,
        ["succeeded", "other", "2"],
        "the new owner's outcome stands"
    );
    wait_until(
        "the cut-off host to claim again",
        Duration::from_secs(10),
        || cut.log().contains("database reachable again").then_some(()),
    );
}

#[test]
fn two_hosts_racing_on_1000_due_slots_make_exactly_1000_runs() {
    let database = TestDatabase::create("cluster_race");
    let url = database.url();
    let a = start(&url, "a", &["hello"]);
    let b = start(&url, "b", &[]);
    wait_for_live(&[&a, &b], "a,b");
    // 1,000 one-shot tasks due at the same moment, 2 s from now: both hosts'
    // schedulers reach for all of them at once.
    a.sql(
        "INSERT INTO tasks (name, module, schedule) \
         SELECT 'race-' || i, 'hello', 'at ' || to_char((now() + interval '2 seconds') AT TIME ZONE 'UTC', \
         'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM generate_series(1, 1000) AS i",
    );
    wait_until("1,000 runs to succeed", Duration::from_secs(60), || {
        let rows = a.query("SELECT CAST(COUNT(*) AS TEXT) FROM runs WHERE state = 'succeeded'");
        (rows[0][0] == "1000").then_some(())
    });
    let totals = a.query(
        "SELECT CAST(COUNT(*) AS TEXT), CAST(COUNT(DISTINCT task) AS TEXT), CAST(MAX(attempt) AS TEXT) FROM runs",
    );
    assert_eq!(
        totals[0],
        ["1000", "1000", "1"],
        "exactly one run per slot, each run once"
    );
    let per_node =
        a.query("SELECT node, CAST(COUNT(*) AS TEXT) FROM runs GROUP BY node ORDER BY node");
    assert_eq!(per_node.len(), 2, "both hosts ran some: {per_node:?}");
}

#[test]
fn a_task_added_with_sql_fires_long_before_the_poll_interval() {
    let database = TestDatabase::create("cluster_notify");
    let mut flags = FAST.to_vec();
    flags.extend(["--poll-interval", "30s"]);
    let host = Host::start_node(Some(database.url()), "n", &["hello"], &flags);
    host.sql("INSERT INTO tasks (name, module, schedule) VALUES ('quick', 'hello', 'at 2020-01-01T00:00:00Z')");
    // Without a notification the host would look at the table in 30 s.
    wait_until("the new task to run", Duration::from_secs(10), || {
        let rows = host.query("SELECT state FROM runs WHERE task = 'quick'");
        (rows.first().map(|r| r[0].as_str()) == Some("succeeded")).then_some(())
    });
}
