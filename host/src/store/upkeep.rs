//! Upkeep of a PostgreSQL server whose autovacuum is off (the default on some
//! packaged servers, and on the machine these benchmarks ran on). Without it
//! the planner keeps the statistics of an empty `runs` table and picks plans
//! that sort the whole backlog for every claim, and `tasks`, rewritten on every
//! fire, bloats without end. So one host of the cluster (whichever holds an
//! advisory lock on its own connection) runs `VACUUM (ANALYZE)` on the tables
//! the host rewrites all the time, every [`UPKEEP_EVERY`]. With autovacuum on,
//! this does nothing.

use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection, Row};
use tokio::sync::watch;

/// How often the upkeep host vacuums.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(10);

/// The advisory lock key that makes one host the upkeep host ("carillon").
const UPKEEP_LOCK: i64 = 0x6361_7269_6c6c_6f6e;

/// The tables written on every fire and run.
const HOT_TABLES: &str = "tasks, runs, nodes, task_pages, page_cursors";

/// Runs until `stopped`: if the server's autovacuum is off, vacuums the hot
/// tables every [`UPKEEP_EVERY`] while this host holds the upkeep lock.
pub async fn upkeep_loop(url: String, mut stopped: watch::Receiver<bool>) {
    let mut connection: Option<PgConnection> = None;
    let mut holder = false;
    let mut warned = false;
    while !*stopped.borrow() {
        if connection.is_none() {
            holder = false;
            connection = PgConnection::connect(&url).await.ok();
        }
        if let Some(conn) = connection.as_mut() {
            match upkeep_once(conn, &mut holder, &mut warned).await {
                Ok(false) => return,
                Ok(true) => {}
                Err(error) => {
                    tracing::debug!("database upkeep skipped: {error}");
                    connection = None;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(UPKEEP_EVERY) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// One round. Returns false when there is nothing to do (autovacuum is on).
async fn upkeep_once(
    conn: &mut PgConnection,
    holder: &mut bool,
    warned: &mut bool,
) -> Result<bool, sqlx::Error> {
    let autovacuum: String = sqlx::query("SELECT current_setting('autovacuum') AS v")
        .fetch_one(&mut *conn)
        .await?
        .try_get("v")?;
    if autovacuum == "on" {
        return Ok(false);
    }
    if !*holder {
        *holder = sqlx::query("SELECT pg_try_advisory_lock($1) AS got")
            .bind(UPKEEP_LOCK)
            .fetch_one(&mut *conn)
            .await?
            .try_get("got")?;
    }
    if *holder {
        if !*warned {
            tracing::warn!(
                "autovacuum is off on this PostgreSQL server: this host vacuums and analyzes \
                 Carillon's busy tables every {UPKEEP_EVERY:?}; turn autovacuum on to leave it to the server"
            );
            *warned = true;
        }
        conn.execute(format!("VACUUM (ANALYZE) {HOT_TABLES}").as_str())
            .await?;
    }
    Ok(true)
}
