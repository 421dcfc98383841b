//! Recording what runs did: log lines and completions, written together in
//! one transaction per batch (lines first, so a run's log is stored by the
//! time it shows as finished). Completions are fenced: accepted only if the
//! row still names the node and attempt that ran, so a host declared dead
//! cannot overwrite the run's new owner.

use serde::Serialize;
use sqlx::{Any, Row, Transaction};

use crate::store::runs::FencedCompletion;
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
    /// Appends log lines, then records completions, in one transaction.
    /// Returns, per completion, whether it was accepted (false: fenced out).
    pub async fn record(
        &self,
        lines: &[StoredLogLine],
        completions: &[FencedCompletion],
        now: i64,
    ) -> Result<Vec<bool>, StoreError> {
        if lines.is_empty() && completions.is_empty() {
            return Ok(Vec::new());
        }
        retry_transient(|| async {
            let _guard = self.write_guard().await;
            let mut tx = self.pool.begin().await?;
            insert_lines(&mut tx, lines).await?;
            let mut accepted = Vec::with_capacity(completions.len());
            for completion in completions {
                accepted.push(complete(&mut tx, completion, now).await?);
            }
            tx.commit().await?;
            Ok(accepted)
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

async fn insert_lines(
    tx: &mut Transaction<'_, Any>,
    lines: &[StoredLogLine],
) -> Result<(), StoreError> {
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
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Records one fenced completion; false when the row no longer names this
/// node and attempt.
async fn complete(
    tx: &mut Transaction<'_, Any>,
    fenced: &FencedCompletion,
    now: i64,
) -> Result<bool, StoreError> {
    let completion = &fenced.completion;
    let retrying = completion.state == "pending";
    let done = sqlx::query(
        "UPDATE runs SET state = $1, not_before = COALESCE($2, not_before), summary = $3, items = $4, \
         error = $5, module_digest = COALESCE($6, module_digest), finished_at = $7, \
         node = CASE WHEN $8 THEN NULL ELSE node END, attempt = attempt - $9, cancel_reason = NULL \
         WHERE id = $10 AND node = $11 AND attempt = $12 AND state = 'running'",
    )
    .bind(completion.state)
    .bind(completion.retry_at)
    .bind(&completion.summary)
    .bind(completion.items)
    .bind(&completion.error)
    .bind(&completion.module_digest)
    .bind(if retrying { None } else { Some(now) })
    .bind(retrying)
    .bind(i64::from(completion.refund_attempt))
    .bind(fenced.run_id)
    .bind(&fenced.node)
    .bind(fenced.attempt)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    if fenced.paged {
        let page_update = match completion.state {
            "succeeded" => Some("UPDATE task_pages SET state = 'done' WHERE run_id = $1"),
            "pending" => None,
            _ => Some("UPDATE task_pages SET run_id = NULL WHERE run_id = $1"),
        };
        if let Some(sql) = page_update {
            sqlx::query(sql)
                .bind(fenced.run_id)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(true)
}
