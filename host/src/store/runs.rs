//! The `runs` table outside firing, claiming and recording: listings,
//! checkpoints (fenced by node and attempt) and cancel requests.

use serde::Serialize;
use sqlx::{FromRow, Row};

use crate::store::{Store, StoreError};
use crate::vocab::{CancelReason, RunState, parse_step_cause};

/// A run, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RunRow {
    /// Run id.
    pub id: i64,
    /// Task name.
    pub task: String,
    /// The task's group when it fired.
    pub task_group: String,
    /// 0-based shard.
    pub shard_index: i64,
    /// Shards in the fire.
    pub shard_total: i64,
    /// The slot (ms).
    pub scheduled_at: i64,
    /// When the last attempt started (ms).
    pub started_at: Option<i64>,
    /// When it ended (ms).
    pub finished_at: Option<i64>,
    /// Where the run is in its life.
    #[sqlx(try_from = "String")]
    pub state: RunState,
    /// Attempts made.
    pub attempt: i64,
    /// Why it did not succeed.
    pub error: Option<String>,
    /// The module version that ran.
    pub module_digest: Option<String>,
    /// The node holding or last holding it.
    pub node: Option<String>,
    /// The job's summary.
    pub summary: Option<String>,
    /// Items processed.
    pub items: Option<i64>,
    /// The page, for paged tasks.
    pub page_index: Option<i64>,
    /// What it handed on (`output.set`), a JSON object of strings.
    pub outputs: Option<String>,
    /// Why it exists outside its task's schedule (chained, a workflow step).
    pub cause: Option<String>,
}

/// The columns a [`RunRow`] is read from.
/// A value bound to a listing's condition.
enum Value<'a> {
    Text(&'a str),
    Number(i64),
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    values: &[Value<'q>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for value in values {
        query = match value {
            Value::Text(text) => query.bind(*text),
            Value::Number(number) => query.bind(*number),
        };
    }
    query
}

/// Up to how many matches a listing reads through a small index and sorts,
/// rather than walking the ids for them (see [`Store::list_runs`]).
const FEW_RUNS: i64 = 5_000;

const RUN_ROW_COLUMNS: &str = "id, task, task_group, shard_index, shard_total, scheduled_at, started_at, finished_at, state, \
    attempt, error, module_digest, node, summary, items, page_index, outputs, cause";

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this task's.
    pub task: Option<String>,
    /// Only in this state.
    pub state: Option<RunState>,
    /// Only held (or last held) by this node.
    pub node: Option<String>,
    /// Only slots at or after this time (ms).
    pub from: Option<i64>,
    /// Only slots before this time (ms).
    pub to: Option<i64>,
    /// Only ids below this one (the next page of a listing).
    pub before_id: Option<i64>,
    /// Only runs of tasks in these groups (what the caller may see);
    /// `None`: every run.
    pub visible_groups: Option<Vec<String>>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// What a cancel request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// A pending run, now cancelled.
    Cancelled,
    /// A running run: its host was asked to stop it.
    Requested,
    /// The run had already ended, in this state.
    AlreadyOver(RunState),
    /// There is no such run.
    NotFound,
}

/// What a retry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The run is pending again, as a new attempt.
    Retried,
    /// The run is in this state, which is not retried (still going, or it
    /// succeeded or was skipped).
    NotRetryable(RunState),
    /// A paged run: its page is handed to the task's later runs instead.
    Paged,
    /// A workflow step's run: the step is retried instead, so the
    /// workflow goes on from it.
    WorkflowStep {
        /// The workflow run.
        workflow_run: i64,
        /// The step.
        step: String,
    },
    /// There is no such run.
    NotFound,
}

impl Store {
    /// Runs matching `filter`, newest first. Only the filters given become
    /// conditions, so the planner can use `runs_by_task` (a `$1 IS NULL OR
    /// …` condition hides it).
    ///
    /// Newest first is a walk down the ids, which stops after `limit`
    /// matches: quick when matches are common, a scan of the whole table
    /// when they are rare. So when the filter can be answered from an index
    /// that is small for it (pending or running runs, a time range), matches
    /// are first counted there, up to [`FEW_RUNS`]; if fewer match, they are
    /// read through that index and sorted instead; if more match a range
    /// with both ends, the walk starts at the newest run in the range.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>, StoreError> {
        let mut conditions: Vec<String> = Vec::new();
        let mut values: Vec<Value<'_>> = Vec::new();
        let mut add = |condition: &str, value| {
            values.push(value);
            conditions.push(condition.replace('?', &format!("${}", values.len())));
        };
        if let Some(task) = &filter.task {
            add("task = ?", Value::Text(task));
        }
        if let Some(node) = &filter.node {
            add("node = ?", Value::Text(node));
        }
        if let Some(before) = filter.before_id {
            add("id < ?", Value::Number(before));
        }
        if let Some(from) = filter.from {
            add("scheduled_at >= ?", Value::Number(from));
        }
        if let Some(to) = filter.to {
            add("scheduled_at < ?", Value::Number(to));
        }
        // The time range alone, for bounding a walk down the ids below.
        let range = usize::from(filter.from.is_some()) + usize::from(filter.to.is_some());
        let slots = conditions[conditions.len() - range..].join(" AND ");
        if let Some(state) = filter.state {
            // Written out, not bound: a partial index on one state
            // (`runs_pending`, `runs_running`) serves only a query whose
            // text names that state.
            conditions.push(format!("state = '{}'", state.as_str()));
        }
        if let Some(groups) = &filter.visible_groups {
            if groups.is_empty() {
                conditions.push("FALSE".to_owned());
            } else {
                let first = values.len() + 1;
                values.extend(groups.iter().map(|g| Value::Text(g)));
                let list: Vec<String> = (first..=values.len()).map(|i| format!("${i}")).collect();
                conditions.push(format!("task_group IN ({})", list.join(", ")));
            }
        }
        let mut conditions = if conditions.is_empty() {
            "TRUE".to_owned()
        } else {
            conditions.join(" AND ")
        };
        let limit = format!("${}", values.len() + 1);
        let narrow = filter.task.is_none()
            && (matches!(filter.state, Some(RunState::Pending | RunState::Running))
                || filter.from.is_some()
                || filter.to.is_some());
        // `id + 0` orders the same but is no column, so the planner cannot
        // walk the ids for it and reads the matches through the small index.
        let mut order = "id";
        if narrow {
            let sql = format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM runs WHERE {conditions} LIMIT {limit}) AS probe"
            );
            let probe = bind_all(sqlx::query(&sql), &values)
                .bind(FEW_RUNS + 1)
                .fetch_one(&self.pool)
                .await?;
            if probe.try_get::<i64, _>(0)? <= FEW_RUNS {
                order = "id + 0";
            } else if filter.from.is_some() && filter.to.is_some() {
                // Many runs in a range that may lie far in the past: start
                // the walk at the newest of them, not at the newest run.
                conditions =
                    format!("{conditions} AND id <= (SELECT MAX(id) FROM runs WHERE {slots})");
            }
        }
        let sql = format!(
            "SELECT {RUN_ROW_COLUMNS} FROM runs WHERE {conditions} ORDER BY {order} DESC LIMIT {limit}"
        );
        let rows = bind_all(sqlx::query(&sql), &values)
            .bind(filter.limit.max(1))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(RunRow::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Cancels run `id`: a pending run ends `cancelled` at once (with
    /// `reason` as its error); a running one is asked to stop (its host
    /// sees the request within a poll interval and ends it `cancelled`).
    pub async fn cancel_run(
        &self,
        id: i64,
        reason: &str,
        now: i64,
    ) -> Result<CancelOutcome, StoreError> {
        let outcome = self
            .write_tx(|mut tx| async move {
                let ended = sqlx::query(
                    "UPDATE runs SET state = 'cancelled', finished_at = $1, error = $2 \
                     WHERE id = $3 AND state = 'pending'",
                )
                .bind(now)
                .bind(reason)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if ended > 0 {
                    // A paged run's page goes back to be handed out again.
                    sqlx::query("UPDATE task_pages SET run_id = NULL WHERE run_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    return Ok((tx, Some(CancelOutcome::Cancelled)));
                }
                let asked = sqlx::query(
                    "UPDATE runs SET cancel_reason = $1 WHERE id = $2 AND state = 'running'",
                )
                .bind(reason)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                Ok((tx, (asked > 0).then_some(CancelOutcome::Requested)))
            })
            .await?;
        if let Some(outcome) = outcome {
            return Ok(outcome);
        }
        Ok(match self.get_run(id).await? {
            Some(run) => CancelOutcome::AlreadyOver(run.state),
            None => CancelOutcome::NotFound,
        })
    }

    /// Runs run `id` again, as a new attempt, if it ended failed, timed
    /// out, orphaned or cancelled: it becomes pending, due now, and any host
    /// may claim it. A paged run is not retried (its page went back to the
    /// task's later runs when it ended), nor a workflow step's (its step is).
    pub async fn retry_run(&self, id: i64, now: i64) -> Result<RetryOutcome, StoreError> {
        let retried = self
            .write_rows(
                "UPDATE runs SET state = 'pending', not_before = $1, error = NULL, \
                 finished_at = NULL, cancel_reason = NULL, offered_to = NULL \
                 WHERE id = $2 AND state IN ('failed', 'timed-out', 'orphaned', 'cancelled') \
                 AND page_index IS NULL AND (cause IS NULL OR cause NOT LIKE 'workflow %')",
                |query| query.bind(now).bind(id),
            )
            .await?;
        if retried > 0 {
            return Ok(RetryOutcome::Retried);
        }
        let run = self.get_run(id).await?;
        let step = run
            .as_ref()
            .and_then(|run| run.cause.as_deref())
            .and_then(parse_step_cause);
        Ok(match (run, step) {
            (Some(run), _) if run.page_index.is_some() => RetryOutcome::Paged,
            (Some(_), Some((workflow_run, step, _))) => {
                RetryOutcome::WorkflowStep { workflow_run, step }
            }
            (Some(run), None) => RetryOutcome::NotRetryable(run.state),
            (None, _) => RetryOutcome::NotFound,
        })
    }

    /// Runs pending and running, across the cluster.
    pub async fn active_run_counts(&self) -> Result<(i64, i64), StoreError> {
        let counts: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) FROM runs WHERE state IN ('pending', 'running') GROUP BY state",
        )
        .fetch_all(&self.pool)
        .await?;
        let count = |wanted: &str| {
            counts
                .iter()
                .find(|(state, _)| state == wanted)
                .map_or(0, |(_, n)| *n)
        };
        Ok((count("pending"), count("running")))
    }

    /// How many runs were made (fired, triggered, caught up) in each hour
    /// of `from..to` (ms), by the task's group and the run's state: `(hour
    /// start, group, state, runs)`, hours with no run left out. An hour
    /// once past gets no new run, whatever slot a run is for.
    pub async fn count_runs_by_hour(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, String, String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT (created_at / 3600000) * 3600000, task_group, state, COUNT(*) FROM runs \
             WHERE created_at >= $1 AND created_at < $2 GROUP BY 1, 2, 3",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// One run.
    pub async fn get_run(&self, id: i64) -> Result<Option<RunRow>, StoreError> {
        Ok(
            sqlx::query_as(&format!("SELECT {RUN_ROW_COLUMNS} FROM runs WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Saves a checkpoint for the attempt that owns the run. Fails if this
    /// node and attempt no longer own it.
    pub async fn save_checkpoint(
        &self,
        id: i64,
        node: &str,
        attempt: i64,
        data: &[u8],
    ) -> Result<bool, StoreError> {
        let saved = self
            .write_rows(
                "UPDATE runs SET checkpoint = $1 WHERE id = $2 AND node = $3 AND attempt = $4 AND state = 'running'",
                |query| query.bind(data).bind(id).bind(node).bind(attempt),
            )
            .await?;
        Ok(saved > 0)
    }

    /// Runs held by `node` that someone asked to cancel, with the reason
    /// (always [`CancelReason::Requested`]: whatever a row says, it is a
    /// request).
    pub async fn cancel_requests(
        &self,
        node: &str,
    ) -> Result<Vec<(i64, CancelReason)>, StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, cancel_reason FROM runs WHERE node = $1 AND state = 'running' AND cancel_reason IS NOT NULL",
        )
        .bind(node)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, reason)| (id, CancelReason::Requested(reason)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 12,000 runs a second apart, in id order, every 1,000th pending and
    /// every 10th failed; then 50 more with slots in the middle of the
    /// others (catch-ups and backfills: high ids, old slots).
    async fn store_with_runs() -> (tempfile::TempDir, Store, Vec<(i64, i64, String)>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("runs.db").display());
        let store = Store::connect(&url).await.unwrap();
        let insert = |count: i64, task: &str, first_slot: i64, step: i64| {
            format!(
                "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < {count} - 1) \
                 INSERT INTO runs (task, module, shard_index, shard_total, scheduled_at, not_before, \
                 state, created_at) SELECT '{task}', 'noop', 0, 1, {first_slot} + i * {step}, 0, \
                 CASE WHEN i % 1000 = 7 THEN 'pending' WHEN i % 10 = 3 THEN 'failed' \
                 ELSE 'succeeded' END, 0 FROM c"
            )
        };
        for sql in [
            insert(12_000, "steady", 0, 1000),
            insert(50, "late", 3_000_500, 1000),
        ] {
            sqlx::query(&sql).execute(&store.pool).await.unwrap();
        }
        let all: Vec<(i64, i64, String)> =
            sqlx::query_as("SELECT id, scheduled_at, state FROM runs ORDER BY id DESC")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        (dir, store, all)
    }

    #[tokio::test]
    async fn every_way_of_listing_runs_gives_the_newest_matches_in_order() {
        let (_dir, store, all) = store_with_runs().await;
        let filters = [
            ("pending (few)", None, None, Some(RunState::Pending), None),
            ("failed (many)", None, None, Some(RunState::Failed), None),
            (
                "an hour in the past (few)",
                Some(3_000_000),
                Some(3_600_000),
                None,
                None,
            ),
            (
                "two hours in the past (many)",
                Some(2_000_000),
                Some(9_200_000),
                None,
                None,
            ),
            ("since a time (many)", Some(1_000_000), None, None, None),
            ("until a time (many)", None, Some(9_000_000), None, None),
            (
                "a range, a page deep",
                Some(2_000_000),
                Some(9_200_000),
                None,
                Some(8_000),
            ),
            (
                "pending in a range",
                Some(0),
                Some(6_000_000),
                Some(RunState::Pending),
                None,
            ),
        ];
        for (name, from, to, state, before_id) in filters {
            let filter = RunFilter {
                from,
                to,
                state,
                before_id,
                limit: 100,
                ..RunFilter::default()
            };
            let listed: Vec<i64> = store
                .list_runs(&filter)
                .await
                .unwrap()
                .iter()
                .map(|run| run.id)
                .collect();
            let expected: Vec<i64> = all
                .iter()
                .filter(|(id, slot, run_state)| {
                    from.is_none_or(|from| *slot >= from)
                        && to.is_none_or(|to| *slot < to)
                        && state.is_none_or(|state| run_state == state.as_str())
                        && before_id.is_none_or(|before| *id < before)
                })
                .map(|(id, ..)| *id)
                .take(100)
                .collect();
            assert!(
                !expected.is_empty(),
                "{name}: the test should match some runs"
            );
            assert_eq!(listed, expected, "{name}");
        }
    }
}
