//! Upkeep of a PostgreSQL server whose autovacuum is off (the default on some
//! packaged servers, and on the machine these benchmarks ran on). Without it
//! the planner keeps the statistics of an empty `runs` table and picks plans
//! that sort the whole backlog for every claim, and `tasks`, rewritten on every
//! fire, bloats without end. So one host of the cluster (whichever holds an
//! advisory lock on its own connection) vacuums and analyzes `tasks` and
//! analyzes `runs` every [`UPKEEP_EVERY`], and vacuums the other busy tables
//! every [`FULL_UPKEEP_ROUNDS`] rounds (vacuuming `runs` scans all its
//! indexes, which grows with the run history: too slow to do often). With
//! autovacuum on, this does nothing.

use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection, Row};
use tokio::sync::watch;

/// How often the upkeep host vacuums.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(3);

/// The advisory lock key that makes one host the upkeep host ("carillon").
const UPKEEP_LOCK: i64 = 0x6361_7269_6c6c_6f6e;

/// Every this many upkeep rounds, [`BUSY_TABLES`] are vacuumed too.
const FULL_UPKEEP_ROUNDS: u32 = 6;

/// The tables written on every run, besides `tasks`.
const BUSY_TABLES: &str = "runs, nodes, task_pages, page_cursors";

/// Runs until `stopped`: if the server's autovacuum is off, vacuums the hot
/// tables every [`UPKEEP_EVERY`] while this host holds the upkeep lock.
pub async fn upkeep_loop(url: String, mut stopped: watch::Receiver<bool>) {
    let mut connection: Option<PgConnection> = None;
    let mut holder = false;
    let mut warned = false;
    let mut round: u32 = 0;
    while !*stopped.borrow() {
        if connection.is_none() {
            holder = false;
            connection = PgConnection::connect(&url).await.ok();
        }
        if let Some(conn) = connection.as_mut() {
            let full = round.is_multiple_of(FULL_UPKEEP_ROUNDS);
            round = round.wrapping_add(1);
            match upkeep_once(conn, full, &mut holder, &mut warned).await {
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

/// One round (`full`: vacuum the busy tables too). Returns false when there
/// is nothing to do (autovacuum is on).
async fn upkeep_once(
    conn: &mut PgConnection,
    full: bool,
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
        conn.execute("VACUUM (ANALYZE) tasks").await?;
        conn.execute("ANALYZE runs").await?;
        if full {
            conn.execute(format!("VACUUM {BUSY_TABLES}").as_str())
                .await?;
        }
    }
    Ok(true)
}
