//! `run_logs`: log lines of runs, written in batches.

use serde::Serialize;
use sqlx::Row;

use crate::store::{Store, StoreError, placeholders, retry_transient};

/// One stored log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredLogLine {
    /// The run.
    pub run_id: i64,
    /// The attempt that wrote it.
    pub attempt: i64,
    /// Position within the attempt's log.
    pub seq: i64,
    /// When (ms).
    pub at: i64,
    /// trace … error.
    pub level: String,
    /// guest, stdout, stderr or host.
    pub source: String,
    /// The text.
    pub message: String,
    /// Fields as a JSON array of [key, value] pairs.
    pub fields: Option<String>,
}

/// Rows per INSERT statement (8 columns each, well under both databases'
/// parameter limits).
const ROWS_PER_INSERT: usize = 100;

impl Store {
    /// Appends log lines (any runs) in as few statements as possible.
    pub async fn append_logs(&self, lines: &[StoredLogLine]) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            let mut tx = self.pool.begin().await?;
            for chunk in lines.chunks(ROWS_PER_INSERT) {
                let values: Vec<String> = (0..chunk.len())
                    .map(|i| format!("({})", placeholders(i * 8, 8)))
                    .collect();
                let sql = format!(
                    "INSERT INTO run_logs (run_id, attempt, seq, at, level, source, message, fields) VALUES {} \
                     ON CONFLICT (run_id, attempt, seq) DO NOTHING",
                    values.join(", ")
                );
                let mut query = sqlx::query(&sql);
                for line in chunk {
                    query = query
                        .bind(line.run_id)
                        .bind(line.attempt)
                        .bind(line.seq)
                        .bind(line.at)
                        .bind(&line.level)
                        .bind(&line.source)
                        .bind(&line.message)
                        .bind(&line.fields);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// The log of run `run_id`, every attempt, in order.
    pub async fn run_logs(&self, run_id: i64) -> Result<Vec<StoredLogLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT run_id, attempt, seq, at, level, source, message, fields FROM run_logs \
             WHERE run_id = $1 ORDER BY attempt, seq",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredLogLine {
                    run_id: row.try_get("run_id")?,
                    attempt: row.try_get("attempt")?,
                    seq: row.try_get("seq")?,
                    at: row.try_get("at")?,
                    level: row.try_get("level")?,
                    source: row.try_get("source")?,
                    message: row.try_get("message")?,
                    fields: row.try_get("fields")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}
