//! Vacuuming for a PostgreSQL server whose autovacuum is off (the default on some
//! packaged servers, and on the machine these benchmarks ran on). Without it
//! the planner keeps the statistics of an empty `runs` table and picks plans
//! that sort the whole backlog for every claim, and `tasks`, rewritten on every
//! fire, bloats without end. So one host of the cluster (whichever holds an
//! advisory lock on its own connection) does what autovacuum would do for
//! Carillon's busy tables, with autovacuum's default thresholds: every
//! [`VACUUM_EVERY`] it vacuums a table with more dead rows than 20 % of its
//! live ones (+50) and analyzes one with more changes than 10 % (+50) since
//! its last analyze, sampling lightly (a full-size ANALYZE of a large `runs`
//! stalls the scheduler for a second). With autovacuum on, this does nothing.

use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection, Row};
use tokio::sync::watch;

use crate::store::{Backend, Store};

/// How often the vacuuming host looks at the tables.
const VACUUM_EVERY: Duration = Duration::from_secs(10);

/// The advisory lock key that makes one host the vacuuming host ("carillon").
const VACUUM_LOCK: i64 = 0x6361_7269_6c6c_6f6e;

/// Autovacuum's default thresholds (PostgreSQL 15).
const VACUUM_SCALE: f64 = 0.2;
const ANALYZE_SCALE: f64 = 0.1;
const THRESHOLD: f64 = 50.0;

impl Store {
    /// Runs until `stopped`: on a PostgreSQL server whose autovacuum is off,
    /// keeps the busy tables vacuumed and analyzed while this host holds the
    /// vacuum lock. Returns at once on SQLite or with autovacuum on.
    pub async fn keep_vacuumed(&self, mut stopped: watch::Receiver<bool>) {
        if self.backend != Backend::Postgres {
            return;
        }
        let mut connection: Option<PgConnection> = None;
        let mut holder = false;
        while !*stopped.borrow() {
            if connection.is_none() {
                holder = false;
                connection = PgConnection::connect(&self.url).await.ok();
            }
            if let Some(conn) = connection.as_mut() {
                match vacuum_once(conn, &mut holder).await {
                    Ok(false) => return,
                    Ok(true) => {}
                    Err(error) => {
                        tracing::debug!("database vacuum skipped: {error}");
                        connection = None;
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(VACUUM_EVERY) => {}
                _ = stopped.changed() => {}
            }
        }
    }
}

/// One round. Returns false when there is nothing to do (autovacuum is on).
async fn vacuum_once(conn: &mut PgConnection, holder: &mut bool) -> Result<bool, sqlx::Error> {
    let autovacuum: String = sqlx::query("SELECT current_setting('autovacuum') AS v")
        .fetch_one(&mut *conn)
        .await?
        .try_get("v")?;
    if autovacuum == "on" {
        return Ok(false);
    }
    if !*holder {
        *holder = sqlx::query("SELECT pg_try_advisory_lock($1) AS got")
            .bind(VACUUM_LOCK)
            .fetch_one(&mut *conn)
            .await?
            .try_get("got")?;
        if *holder {
            tracing::warn!(
                "autovacuum is off on this PostgreSQL server: this host vacuums and analyzes \
                 Carillon's busy tables itself; turn autovacuum on to leave it to the server"
            );
            conn.execute("SET default_statistics_target = 10").await?;
        }
    }
    if !*holder {
        return Ok(true);
    }
    let tables = sqlx::query(
        "SELECT relname, n_live_tup, n_dead_tup, n_mod_since_analyze FROM pg_stat_user_tables \
         WHERE relname IN ('tasks', 'runs', 'nodes', 'task_pages', 'page_cursors', 'run_logs')",
    )
    .fetch_all(&mut *conn)
    .await?;
    for table in tables {
        let name: String = table.try_get("relname")?;
        let live = table.try_get::<i64, _>("n_live_tup")? as f64;
        let dead = table.try_get::<i64, _>("n_dead_tup")? as f64;
        let changed = table.try_get::<i64, _>("n_mod_since_analyze")? as f64;
        let vacuum = dead > THRESHOLD + VACUUM_SCALE * live;
        let analyze = changed > THRESHOLD + ANALYZE_SCALE * live;
        let statement = match (vacuum, analyze) {
            (true, true) => format!("VACUUM (ANALYZE) {name}"),
            (true, false) => format!("VACUUM {name}"),
            (false, true) => format!("ANALYZE {name}"),
            (false, false) => continue,
        };
        conn.execute(statement.as_str()).await?;
    }
    Ok(true)
}
