//! `carillon runs`: runs, newest first, as a table or JSON.

use clap::Args;
use serde_json::json;

use crate::cli::database::DbArgs;
use crate::cli::output::say;
use crate::cli::output::{rfc3339_ms, table};
use crate::store::RunFilter;
use crate::vocab::RunState;

#[derive(Debug, Args)]
pub(crate) struct RunsArgs {
    /// Only this task's runs.
    #[arg(long)]
    task: Option<String>,
    /// Only runs in this state (pending, running, succeeded, failed, timed-out, cancelled, orphaned, skipped).
    #[arg(long)]
    state: Option<RunState>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 20)]
    limit: i64,
    /// Print a JSON array.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn runs(db: &DbArgs, args: RunsArgs) -> anyhow::Result<()> {
    let store = db.open_existing().await?;
    let runs = store
        .list_runs(&RunFilter {
            task: args.task,
            state: args.state,
            limit: args.limit,
            ..RunFilter::default()
        })
        .await?;
    if args.json {
        let items: Vec<_> = runs
            .iter()
            .map(|r| {
                json!({
                    "id": r.id, "task": r.task, "shard_index": r.shard_index, "shard_total": r.shard_total,
                    "scheduled_at": rfc3339_ms(r.scheduled_at),
                    "started_at": r.started_at.map(rfc3339_ms), "finished_at": r.finished_at.map(rfc3339_ms),
                    "state": r.state, "attempt": r.attempt, "error": r.error, "module_digest": r.module_digest,
                    "node": r.node, "summary": r.summary, "items": r.items, "page_index": r.page_index,
                })
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.task.clone(),
                format!("{}/{}", r.shard_index, r.shard_total),
                rfc3339_ms(r.scheduled_at),
                r.state.to_string(),
                r.attempt.to_string(),
                r.error
                    .clone()
                    .or_else(|| r.summary.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "TASK",
            "SHARD",
            "SCHEDULED",
            "STATE",
            "ATTEMPT",
            "SUMMARY / ERROR",
        ],
        &rows,
    )?;
    Ok(())
}
