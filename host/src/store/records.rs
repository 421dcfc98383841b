//! Recording what runs did: log lines and completions, written together in
//! one transaction per batch (lines first, so a run's log is stored by the
//! time it shows as finished). Completions are fenced: accepted only if the
//! row still names the node and attempt that ran, so a host declared dead
//! cannot overwrite the run's new owner.

use std::collections::HashSet;

use serde::Serialize;

use crate::store::sql::row_placeholders;
use crate::store::write::Tx;
use crate::store::{Backend, Store, StoreError};
use crate::vocab::RunState;

/// How a claimed attempt ended, as the dispatcher decided to record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// A final state (succeeded, failed, timed-out, cancelled), or
    /// [`RunState::Pending`] to run again at `retry_at`.
    pub state: RunState,
    /// When a retry may start (with state pending).
    pub retry_at: Option<i64>,
    /// The job's summary.
    pub summary: Option<String>,
    /// Items processed.
    pub items: Option<i64>,
    /// The reason, for anything but success.
    pub error: Option<String>,
    /// Digest of the module version that ran.
    pub module_digest: Option<String>,
    /// Give the attempt back (host shutdown): it does not count.
    pub refund_attempt: bool,
    /// When the attempt really started, if it did (a run claimed ahead of
    /// its slot starts at the slot, not at the claim).
    pub started_at: Option<i64>,
    /// Log lines of the attempt the host could not keep.
    pub log_lines_dropped: u64,
    /// What the attempt handed on (`output.set`), as a JSON object; `None`:
    /// nothing.
    pub outputs: Option<String>,
}

/// A completion to record for one attempt, fenced by node and attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FencedCompletion {
    /// The run.
    pub run_id: i64,
    /// The node that ran the attempt.
    pub node: String,
    /// The attempt.
    pub attempt: i64,
    /// Whether the run holds a page.
    pub paged: bool,
    /// How it ended.
    pub completion: Completion,
}

/// One stored log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
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
    /// Appends log lines, then records completions, in one transaction,
    /// with host `started.0`'s start watermark `started.1` (every run it
    /// holds due by then has begun). Returns, per completion, whether it was
    /// accepted (false: fenced out).
    pub async fn record(
        &self,
        lines: &[StoredLogLine],
        completions: &[FencedCompletion],
        started: Option<(&str, i64)>,
        now: i64,
    ) -> Result<Vec<bool>, StoreError> {
        if lines.is_empty() && completions.is_empty() && started.is_none() {
            return Ok(Vec::new());
        }
        let backend = self.backend;
        self.write_tx(|mut tx| async move {
            if let Some((node, through)) = started {
                sqlx::query(
                    "UPDATE nodes SET started_through = $1 WHERE id = $2 \
                     AND (started_through IS NULL OR started_through < $1)",
                )
                .bind(through)
                .bind(node)
                .execute(&mut *tx)
                .await?;
            }
            insert_lines(&mut tx, backend, lines).await?;
            let mut accepted = Vec::with_capacity(completions.len());
            let mut outbox_written = false;
            for chunk in completions.chunks(COMPLETIONS_PER_STATEMENT) {
                accepted.extend(complete(&mut tx, backend, chunk, now, &mut outbox_written).await?);
            }
            Ok((tx, (accepted, outbox_written)))
        })
        .await
        .map(|(accepted, outbox_written)| {
            if outbox_written {
                self.outbox_written.notify_one();
            }
            accepted
        })
    }

    /// The log of run `run_id`, every attempt, in order.
    pub async fn run_logs(&self, run_id: i64) -> Result<Vec<StoredLogLine>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT run_id, attempt, seq, at, level, source, message, fields FROM run_logs \
             WHERE run_id = $1 ORDER BY attempt, seq",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Store {
    /// Up to `limit` lines of run `run_id` after line `seq` of attempt
    /// `attempt`, in order: what a live view has not seen yet.
    pub async fn run_logs_after(
        &self,
        run_id: i64,
        (attempt, seq): (i64, i64),
        limit: i64,
    ) -> Result<Vec<StoredLogLine>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT run_id, attempt, seq, at, level, source, message, fields FROM run_logs \
             WHERE run_id = $1 AND (attempt > $2 OR (attempt = $2 AND seq > $3)) \
             ORDER BY attempt, seq LIMIT $4",
        )
        .bind(run_id)
        .bind(attempt)
        .bind(seq)
        .bind(limit.max(1))
        .fetch_all(&self.pool)
        .await?)
    }
}

async fn insert_lines(
    tx: &mut Tx,
    backend: Backend,
    lines: &[StoredLogLine],
) -> Result<(), StoreError> {
    for chunk in lines.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO run_logs (run_id, attempt, seq, at, level, source, message, fields) VALUES {} \
             ON CONFLICT (run_id, attempt, seq) DO NOTHING",
            row_placeholders(backend, chunk.len(), 8)
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

/// Completions per statement (15 parameters each).
const COMPLETIONS_PER_STATEMENT: usize = 200;

/// Records fenced completions in one statement (`UPDATE … FROM (VALUES …)`);
/// per completion, false when the row no longer names its node and attempt.
async fn complete(
    tx: &mut Tx,
    backend: Backend,
    batch: &[FencedCompletion],
    now: i64,
    outbox_written: &mut bool,
) -> Result<Vec<bool>, StoreError> {
    let sql = format!(
        "UPDATE runs SET state = v.column2, not_before = COALESCE(v.column3, runs.not_before), \
         summary = v.column4, items = v.column5, error = v.column6, \
         module_digest = COALESCE(v.column7, runs.module_digest), finished_at = v.column8, \
         node = CASE WHEN v.column9 = 1 THEN NULL ELSE runs.node END, attempt = runs.attempt - v.column10, \
         cancel_reason = NULL, started_at = COALESCE(v.column13, runs.started_at), \
         log_lines_dropped = runs.log_lines_dropped + v.column14, outputs = v.column15 \
         FROM (VALUES {}) AS v \
         WHERE runs.id = v.column1 AND runs.node = v.column11 AND runs.attempt = v.column12 AND runs.state = 'running' \
         RETURNING runs.id, CASE WHEN runs.state IN ('failed', 'timed-out', 'orphaned') \
           OR (runs.watched AND runs.state IN ('succeeded', 'cancelled')) THEN 1 ELSE 0 END AS followed",
        row_placeholders(backend, batch.len(), 15)
    );
    let mut query = sqlx::query_as::<_, (i64, i64)>(&sql);
    for fenced in batch {
        let completion = &fenced.completion;
        let retrying = completion.state == RunState::Pending;
        query = query
            .bind(fenced.run_id)
            .bind(completion.state.as_str())
            .bind(completion.retry_at)
            .bind(&completion.summary)
            .bind(completion.items)
            .bind(&completion.error)
            .bind(&completion.module_digest)
            .bind(if retrying { None } else { Some(now) })
            .bind(i64::from(retrying))
            .bind(i64::from(completion.refund_attempt))
            .bind(&fenced.node)
            .bind(fenced.attempt)
            .bind(completion.started_at)
            .bind(completion.log_lines_dropped as i64)
            .bind(&completion.outputs);
    }
    let rows = query.fetch_all(&mut **tx).await?;
    if rows.iter().any(|(_, followed)| *followed == 1) {
        *outbox_written = true;
    }
    let updated: HashSet<i64> = rows.into_iter().map(|(id, _)| id).collect();
    for fenced in batch
        .iter()
        .filter(|f| f.paged && updated.contains(&f.run_id))
    {
        // A page is done when its run succeeded; a retry keeps it; any
        // other end hands it back to be given out again.
        let page_update = match fenced.completion.state {
            RunState::Succeeded => "UPDATE task_pages SET state = 'done' WHERE run_id = $1",
            RunState::Pending => continue,
            _ => "UPDATE task_pages SET run_id = NULL WHERE run_id = $1",
        };
        sqlx::query(page_update)
            .bind(fenced.run_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(batch.iter().map(|f| updated.contains(&f.run_id)).collect())
}
