//! Plain SQL from the benchmarks, on SQLite or PostgreSQL alike (sqlx's
//! `Any` driver), and the task rows both benchmarks load.

use sqlx::Row;
use sqlx::any::AnyPoolOptions;

/// Runs `future` on a small runtime of its own.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

async fn connect(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap()
}

/// Runs statements on `url`, one after the other.
pub(crate) fn sql(url: &str, statements: &[String]) {
    block_on(async {
        let pool = connect(url).await;
        for statement in statements {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool.close().await;
    });
}

/// Rows of `statement`, every column read as an i64 (NULL as 0).
pub(crate) fn query(url: &str, statement: &str) -> Vec<Vec<i64>> {
    block_on(async {
        let pool = connect(url).await;
        let rows = sqlx::query(statement).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get::<i64, _>(i).unwrap_or(0))
                    .collect()
            })
            .collect()
    })
}

/// `INSERT` statements for `count` tasks named `{prefix}{i}` running the
/// trivial job (`noop`, mode ok) on `schedule`. With `spread`, each is
/// anchored (`start_at`) at its own point of the second, evenly spread;
/// without, all at the same instant, due on the same millisecond.
pub(crate) fn insert_tasks_sql(
    prefix: &str,
    count: usize,
    schedule: &str,
    spread: bool,
) -> Vec<String> {
    let base = carillon::clock::now_ms() / 1000 * 1000;
    (0..count)
        .collect::<Vec<_>>()
        .chunks(500)
        .map(|chunk| {
            let values: Vec<String> = chunk
                .iter()
                .map(|i| {
                    let start = if spread {
                        base + (*i as i64 * 1000) / count as i64
                    } else {
                        base
                    };
                    format!("('{prefix}{i}', 'noop', '{schedule}', '{{\"mode\":\"ok\"}}', {start})")
                })
                .collect();
            format!(
                "INSERT INTO tasks (name, module, schedule, params, start_at) VALUES {}",
                values.join(", ")
            )
        })
        .collect()
}
