//! Databases: a task's `databases` column grants the host config's
//! `[databases.NAME]` connections, and a job queries and writes them through
//! the contract's `sql` import: `order-tally` pages through a PostgreSQL
//! table with checkpoints and resumes after a failure; a connection the task
//! is not granted is refused, naming it; a statement outliving the run's
//! timeout is cancelled; every statement is counted in the run's log.

use std::time::{Duration, Instant};

use crate::host::{Host, query_db};
use crate::pg::TestDatabase;
use crate::serve_http_tasks::{final_runs, log_of};

#[test]
fn a_job_pages_through_a_granted_postgres_table_and_is_refused_an_ungranted_one() {
    let shop = TestDatabase::create("job_sql_shop");
    let other = TestDatabase::create("job_sql_other");
    for statement in [
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, amount BIGINT NOT NULL)",
        "CREATE TABLE order_totals (run_id BIGINT, orders BIGINT, total BIGINT)",
        "INSERT INTO orders SELECT i, i * 10 FROM generate_series(1, 250) AS i",
    ] {
        query_db(&shop.url(), statement);
    }
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!(
            "[databases.shop]\nurl = \"{}\"\nmax_rows = 200\n\n[databases.other]\nurl = \"{}\"\n",
            shop.url(),
            other.url()
        ),
    )
    .unwrap();
    let host = Host::start(
        &["order-tally", "hostile"],
        &["--config", config.path().to_str().unwrap()],
    );
    host.sql(
        "INSERT INTO tasks (name, module, schedule, params, databases, max_retries, retry_backoff_ms) VALUES \
         ('tally', 'order_tally', 'after 0s', '{\"batch\": \"100\", \"fail_after_batches\": \"1\"}', 'shop', 1, 0), \
         ('ungranted', 'order_tally', 'after 0s', '{\"database\": \"other\"}', 'shop', 0, 0), \
         ('too-many', 'hostile', 'after 0s', \
          '{\"mode\": \"sql\", \"database\": \"shop\", \"statement\": \"SELECT id FROM orders\"}', 'shop', 0, 0)",
    );

    // The first attempt stops after one batch of 100; the retry resumes
    // from its checkpoint and reads the other 150 in two batches.
    let runs = final_runs(&host, "tally", 1);
    assert_eq!(
        runs[0][..3],
        [
            "succeeded",
            "2",
            "250 orders, total 313750, in 2 batches this attempt"
        ],
        "{runs:?}"
    );
    let log = log_of(&host, "tally");
    assert!(log.contains("resuming after order 100"), "{log}");
    assert!(
        log.contains("SQL: 4 statements, 150 rows returned, 1 affected"),
        "every statement is counted: {log}"
    );
    let run_id = host.query("SELECT id FROM runs WHERE task = 'tally'")[0][0].clone();
    assert_eq!(
        query_db(
            &shop.url(),
            "SELECT run_id, orders, total FROM order_totals"
        ),
        [[run_id, "250".to_owned(), "313750".to_owned()]]
    );

    let runs = final_runs(&host, "ungranted", 1);
    assert_eq!(runs[0][0], "failed", "{runs:?}");
    assert!(
        runs[0][3].contains(
            "task `ungranted` is not granted database `other`; add it to the task's databases column"
        ),
        "{runs:?}"
    );
    assert!(
        log_of(&host, "ungranted").contains("SQL statement on database `other` failed"),
        "the host logs the refusal itself"
    );

    let runs = final_runs(&host, "too-many", 1);
    assert!(
        runs[0][3].contains("the query returned more than 200 rows, the cap of database `shop`"),
        "{runs:?}"
    );
}

#[test]
fn a_statement_outliving_the_run_timeout_is_cancelled() {
    let shop = TestDatabase::create("job_sql_slow");
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!("[databases.shop]\nurl = \"{}\"\n", shop.url()),
    )
    .unwrap();
    let host = Host::start(&["hostile"], &["--config", config.path().to_str().unwrap()]);
    let started = Instant::now();
    host.sql(
        "INSERT INTO tasks (name, module, schedule, params, databases, timeout_ms) VALUES \
         ('slow', 'hostile', 'after 0s', \
          '{\"mode\": \"sql\", \"database\": \"shop\", \"statement\": \"SELECT pg_sleep(60)\"}', 'shop', 1000)",
    );
    let runs = final_runs(&host, "slow", 1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the run ended at its timeout, not after the statement's minute"
    );
    assert!(
        runs[0][0] == "timed-out"
            || runs[0][3].contains("the statement outlived the run's timeout and was cancelled"),
        "{runs:?}"
    );
}
