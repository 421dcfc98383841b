//! The outbox: what happened that something must follow up (a watched run
//! ended, a run failed for good, a fire was missed), written by the
//! schema's triggers in the transaction that made it happen, whoever wrote
//! it. [`Store::follow_up`] takes a batch (`SKIP LOCKED` on PostgreSQL, so
//! each entry is taken by one host of a cluster), does what follows from
//! each and deletes them, in one transaction: a chained run is made once,
//! however many hosts look, and a workflow step's end moves its workflow
//! run on (`workflows.rs`); a failure for good or a misfire raises the
//! alerts its rules ask for (`alerts.rs`).
//!
//! What follows is decided by rules in `vocab` (how a fire ended, a chained
//! run's params, loops); this file reads the rows they need and makes the
//! result durable.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::Row;

use crate::store::alerts::{self, NewAlert};
use crate::store::new_runs::{Stamps, fire_caused};
use crate::store::task_rows::read_task;
use crate::store::workflows;
use crate::store::write::Tx;
use crate::store::{Store, StoreError};
use crate::vocab::{
    AlertEvent, AlertRule, FireEnd, MAX_TEXT_BYTES, Parent, RunState, TaskDefinition, TaskRow,
    fails_a_fire, fire_end, parse_outputs, parse_step_cause, parse_task_list, rules_for,
};

/// What one [`Store::follow_up`] pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowedUp {
    /// Outbox entries taken.
    pub entries: usize,
    /// Runs created (chained tasks, workflow steps).
    pub runs_created: usize,
    /// Alerts raised (run failures, misfires).
    pub alerts_raised: usize,
}

/// One outbox entry.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Entry {
    id: i64,
    kind: String,
    task: String,
    subject: i64,
}

/// A run whose end is followed up.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Ended {
    id: i64,
    task: String,
    task_group: String,
    scheduled_at: i64,
    #[sqlx(try_from = "String")]
    state: RunState,
    attempt: i64,
    summary: Option<String>,
    error: Option<String>,
    outputs: Option<String>,
    cause: Option<String>,
}

const ENDED_COLUMNS: &str =
    "id, task, task_group, scheduled_at, state, attempt, summary, error, outputs, cause";

/// The alert rules, read once per pass when an entry needs them, and the
/// alerts raised.
#[derive(Default)]
struct Alerting {
    rules: Option<Vec<AlertRule>>,
    raised: Vec<NewAlert>,
}

impl Alerting {
    async fn rules(&mut self, tx: &mut Tx) -> Result<&[AlertRule], StoreError> {
        if self.rules.is_none() {
            self.rules = Some(alerts::active_rules(tx).await?);
        }
        Ok(self.rules.as_deref().unwrap_or_default())
    }
}

/// `2026-12-07T10:00:00Z` for ms since the epoch.
fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Runs `body` in a savepoint: what one entry sets off cannot stop the
/// others. A failure that may pass (the database out of reach, a lock)
/// fails the whole pass, to be tried again; any other (a row holding what
/// the host cannot read) is rolled back to the savepoint and logged naming
/// `what`, and the pass goes on: `Ok(None)`.
async fn isolated<T>(
    tx: &mut Tx,
    what: &str,
    body: impl AsyncFnOnce(&mut Tx) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    sqlx::query("SAVEPOINT follow_up")
        .execute(&mut **tx)
        .await?;
    match body(tx).await {
        Ok(value) => {
            sqlx::query("RELEASE SAVEPOINT follow_up")
                .execute(&mut **tx)
                .await?;
            Ok(Some(value))
        }
        Err(error) if error.may_pass() => Err(error),
        Err(error) => {
            sqlx::query("ROLLBACK TO SAVEPOINT follow_up")
                .execute(&mut **tx)
                .await?;
            sqlx::query("RELEASE SAVEPOINT follow_up")
                .execute(&mut **tx)
                .await?;
            tracing::error!("{what} was not followed up and is dropped: {error}");
            Ok(None)
        }
    }
}

/// How far a loop check follows chains before giving up (a chain this
/// long is refused as if it looped).
const MAX_CHAIN_WALK: usize = 1_000;

impl Store {
    /// Takes up to `limit` outbox entries and follows each up, in one
    /// transaction: the tasks a finished fire chains to are fired (once
    /// per parent fire, with `parent.*` params). Entries with nothing to
    /// follow are simply taken.
    pub async fn follow_up(&self, limit: i64, now: i64) -> Result<FollowedUp, StoreError> {
        // Most looks find nothing: they take no write turn from the
        // scheduler then.
        let any: Option<i64> = sqlx::query_scalar("SELECT id FROM outbox LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        if any.is_none() {
            return Ok(FollowedUp::default());
        }
        let select = format!(
            "SELECT id, kind, task, subject FROM outbox ORDER BY id LIMIT $1{}",
            self.skip_locked()
        );
        let select = select.as_str();
        self.write_tx(|mut tx| async move {
            let entries: Vec<Entry> = sqlx::query_as(select)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            let mut done = FollowedUp {
                entries: entries.len(),
                ..FollowedUp::default()
            };
            if entries.is_empty() {
                return Ok((tx, done));
            }
            let mut stamps = Stamps::new(now);
            let mut alerting = Alerting::default();
            // Steps of workflow runs that ended, by run: each run is moved
            // on once, runs in id order (so two hosts lock them alike).
            let mut steps: BTreeMap<i64, Vec<(String, i64, Ended)>> = BTreeMap::new();
            for entry in &entries {
                let what = format!(
                    "outbox entry {} ({} of `{}`)",
                    entry.id, entry.kind, entry.task
                );
                if entry.kind == "misfire" {
                    isolated(&mut tx, &what, async |tx: &mut Tx| {
                        self.misfire_alerts(tx, entry, &mut alerting, now).await
                    })
                    .await?;
                    continue;
                }
                if entry.kind != "run-ended" {
                    continue;
                }
                let run = isolated(&mut tx, &what, async |tx: &mut Tx| {
                    self.ended_run(tx, entry.subject).await
                })
                .await?;
                let Some(Some(run)) = run else {
                    continue;
                };
                // Apart: a rule the host cannot read must not keep a chain
                // or a workflow from going on.
                isolated(
                    &mut tx,
                    &format!("the alerts of {what}"),
                    async |tx: &mut Tx| self.end_alerts(tx, &run, &mut alerting, now).await,
                )
                .await?;
                match run.cause.as_deref().and_then(parse_step_cause) {
                    Some((workflow_run, step, try_number)) => steps
                        .entry(workflow_run)
                        .or_default()
                        .push((step, try_number, run)),
                    None => {
                        let made = isolated(&mut tx, &what, async |tx: &mut Tx| {
                            self.run_ended(tx, entry, run, &mut stamps).await
                        })
                        .await?;
                        done.runs_created += made.unwrap_or(0);
                    }
                }
            }
            for (workflow_run, ended) in steps {
                let what = format!("the ends of steps of workflow run {workflow_run}");
                let made = isolated(&mut tx, &what, async |tx: &mut Tx| {
                    self.steps_ended(tx, workflow_run, &ended, &mut stamps)
                        .await
                })
                .await?;
                done.runs_created += made.unwrap_or(0);
            }
            // In one order on every host, so two hosts taking the turns
            // of the same rules and tasks never wait on each other.
            alerting
                .raised
                .sort_by(|a, b| (&a.rule.name, &a.task).cmp(&(&b.rule.name, &b.task)));
            for alert in &alerting.raised {
                let what = format!(
                    "alert of rule `{}` for task `{}`",
                    alert.rule.name, alert.task
                );
                let raised = isolated(&mut tx, &what, async |tx: &mut Tx| {
                    Ok(usize::from(
                        alerts::raise(tx, self.backend, alert, now).await?,
                    ))
                })
                .await?;
                done.alerts_raised += raised.unwrap_or(0);
            }
            let ids: Vec<String> = entries.iter().map(|e| e.id.to_string()).collect();
            sqlx::query(&format!(
                "DELETE FROM outbox WHERE id IN ({})",
                ids.join(", ")
            ))
            .execute(&mut *tx)
            .await?;
            if done.runs_created > 0 {
                self.notify_runs(&mut tx, std::iter::once(None)).await?;
            }
            Ok((tx, done))
        })
        .await
    }

    /// The alerts run `run`'s end raises: a failure for good (failed,
    /// timed out, orphaned) under its rules, and `failures` rules counting
    /// the task's failures within their window.
    async fn end_alerts(
        &self,
        tx: &mut Tx,
        run: &Ended,
        alerting: &mut Alerting,
        now: i64,
    ) -> Result<(), StoreError> {
        let event = match run.state {
            RunState::Failed => AlertEvent::Failed,
            RunState::TimedOut => AlertEvent::TimedOut,
            RunState::Orphaned => AlertEvent::Orphaned,
            _ => return Ok(()),
        };
        let rules = alerting.rules(tx).await?.to_vec();
        let message = alerts::end_message(event, run.id, run.attempt, run.error.as_deref());
        for rule in rules_for(&rules, event, &run.task, &run.task_group) {
            alerting.raised.push(NewAlert {
                rule: rule.clone(),
                task: run.task.clone(),
                run_id: Some(run.id),
                subject: format!("run:{}", run.id),
                message: message.clone(),
            });
        }
        for rule in rules_for(&rules, AlertEvent::Failures, &run.task, &run.task_group) {
            let window = rule.threshold_ms.unwrap_or(0);
            let failed: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM runs WHERE task = $1 AND state IN ('failed', 'timed-out', 'orphaned') \
                 AND finished_at >= $2",
            )
            .bind(&run.task)
            .bind(now - window)
            .fetch_one(&mut **tx)
            .await?;
            if failed >= rule.count.unwrap_or(1) {
                alerting.raised.push(NewAlert {
                    rule: rule.clone(),
                    task: run.task.clone(),
                    run_id: Some(run.id),
                    // One alert per window of the rule's length.
                    subject: format!("failures:{}", now.div_euclid(window.max(1))),
                    message: format!(
                        "{failed} runs failed within {}; the last, run {}: {}",
                        alerts::shown(window),
                        run.id,
                        run.error.as_deref().unwrap_or("no reason recorded")
                    ),
                });
            }
        }
        Ok(())
    }

    /// The alerts misfire `entry.subject` raises.
    async fn misfire_alerts(
        &self,
        tx: &mut Tx,
        entry: &Entry,
        alerting: &mut Alerting,
        now: i64,
    ) -> Result<(), StoreError> {
        let misfire: Option<(i64, i64, i64, String)> = sqlx::query_as(
            "SELECT first_slot, last_slot, missed, policy FROM misfires WHERE id = $1",
        )
        .bind(entry.subject)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((first, last, missed, policy)) = misfire else {
            return Ok(());
        };
        let group = self
            .task_in(tx, &entry.task)
            .await?
            .map_or_else(|| "default".to_owned(), |task| task.spec.group);
        let rules = alerting.rules(tx).await?.to_vec();
        let message = format!(
            "{missed} fire(s) missed from {} to {} ({} ago); the misfire policy `{policy}` applied",
            rfc3339(first),
            rfc3339(last),
            alerts::shown(now - last)
        );
        for rule in rules_for(&rules, AlertEvent::Misfire, &entry.task, &group) {
            alerting.raised.push(NewAlert {
                rule: rule.clone(),
                task: entry.task.clone(),
                run_id: None,
                subject: format!("misfire:{}", entry.subject),
                message: message.clone(),
            });
        }
        Ok(())
    }

    /// Run `id`, if it is still over (not purged meanwhile, nor retried and
    /// running again).
    async fn ended_run(&self, tx: &mut Tx, id: i64) -> Result<Option<Ended>, StoreError> {
        let run: Option<Ended> =
            sqlx::query_as(&format!("SELECT {ENDED_COLUMNS} FROM runs WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
        Ok(run.filter(|run| run.state.is_final()))
    }

    /// The runs of the fire `run` belongs to (its task and slot), by shard.
    async fn fire_of(&self, tx: &mut Tx, run: &Ended) -> Result<Vec<Ended>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ENDED_COLUMNS} FROM runs WHERE task = $1 AND scheduled_at = $2 ORDER BY shard_index"
        ))
        .bind(&run.task)
        .bind(run.scheduled_at)
        .fetch_all(&mut **tx)
        .await?)
    }

    /// Records how the steps of workflow run `workflow_run` whose runs
    /// `ended` came out (once every shard of a step's try is over), then
    /// moves the run on.
    async fn steps_ended(
        &self,
        tx: &mut Tx,
        workflow_run: i64,
        ended: &[(String, i64, Ended)],
        stamps: &mut Stamps,
    ) -> Result<usize, StoreError> {
        if workflows::lock_run(tx, self.backend, workflow_run)
            .await?
            .is_none()
        {
            return Ok(0);
        }
        for (step, try_number, run) in ended {
            let fire = self.fire_of(tx, run).await?;
            let Some(end) = fire_end(fire.iter().map(|r| r.state)) else {
                continue;
            };
            let mut outputs = BTreeMap::new();
            for shard in &fire {
                outputs.extend(parse_outputs(shard.outputs.as_deref()));
            }
            let error = telling_shard(&fire).and_then(|r| r.error.as_deref());
            workflows::step_ended(
                tx,
                workflow_run,
                step,
                *try_number,
                end,
                &outputs,
                error,
                stamps.now,
            )
            .await?;
        }
        workflows::advance(tx, self.backend, workflow_run, stamps).await
    }

    /// Follows up the end of `run` (not a workflow step's): the tasks its
    /// task chains to. Returns the runs made.
    async fn run_ended(
        &self,
        tx: &mut Tx,
        entry: &Entry,
        run: Ended,
        stamps: &mut Stamps,
    ) -> Result<usize, StoreError> {
        let Some(parent_task) = self.task_in(tx, &entry.task).await? else {
            return Ok(0);
        };
        if !parent_task.spec.chains() {
            return Ok(0);
        }
        self.chain(tx, &parent_task, &run, stamps).await
    }

    /// Fires what `task`'s fire at `run`'s slot chains to, once every run
    /// of that fire is over.
    async fn chain(
        &self,
        tx: &mut Tx,
        task: &TaskRow,
        run: &Ended,
        stamps: &mut Stamps,
    ) -> Result<usize, StoreError> {
        let fire = self.fire_of(tx, run).await?;
        let Some(end) = fire_end(fire.iter().map(|r| r.state)) else {
            return Ok(0);
        };
        let list = match end {
            FireEnd::Succeeded => ("on_success", &task.spec.on_success),
            FireEnd::Failed => ("on_failure", &task.spec.on_failure),
            FireEnd::Stopped => return Ok(0),
        };
        let children = match list.1.as_deref().map(parse_task_list) {
            None => return Ok(0),
            Some(Ok(children)) => children,
            Some(Err(error)) => {
                let note = format!("{}: not followed: {error}", list.0);
                note_on(tx, run, "warn", &note, stamps.now).await?;
                return Ok(0);
            }
        };
        // The run the child is told of: the first that failed, when the
        // fire failed; else the first shard's.
        let first = match end {
            FireEnd::Failed => telling_shard(&fire),
            _ => fire.first(),
        }
        .unwrap_or(run);
        let mut outputs = BTreeMap::new();
        for shard in &fire {
            outputs.extend(parse_outputs(shard.outputs.as_deref()));
        }
        let parent = Parent {
            task: run.task.clone(),
            run_id: first.id,
            scheduled_at: run.scheduled_at,
            end,
            state: first.state,
            summary: first.summary.clone(),
            error: first.error.clone(),
            outputs,
        };
        let mut created = 0;
        for child in &children {
            let (made, note) = self.fire_child(tx, &parent, child, stamps).await?;
            created += made;
            if !note.is_empty() {
                let level = if made > 0 { "info" } else { "warn" };
                note_on(tx, run, level, &format!("{}: {note}", list.0), stamps.now).await?;
            }
        }
        Ok(created)
    }

    /// Fires `child` once for `parent`; returns the runs made and what to
    /// note on the parent's log (nothing when it was fired already).
    async fn fire_child(
        &self,
        tx: &mut Tx,
        parent: &Parent,
        child: &str,
        stamps: &mut Stamps,
    ) -> Result<(usize, String), StoreError> {
        let Some(task) = self.task_in(tx, child).await? else {
            return Ok((0, format!("`{child}` is not a task; nothing fired")));
        };
        if task.spec.paused {
            return Ok((0, format!("`{child}` is paused; not fired")));
        }
        if let Some(path) = self.chain_back(tx, child, &parent.task).await? {
            return Ok((
                0,
                format!(
                    "`{child}` not fired: the chain loops ({}); remove one of these",
                    path.join(" → ")
                ),
            ));
        }
        let definition = match TaskDefinition::from_row(&task) {
            Ok(definition) => definition,
            Err(error) => return Ok((0, format!("`{child}` not fired: {error}"))),
        };
        let params = definition.params_json(&parent.params());
        if params.len() > MAX_TEXT_BYTES {
            return Ok((
                0,
                format!(
                    "`{child}` not fired: its params with the parent's would be {} bytes, over {MAX_TEXT_BYTES}",
                    params.len()
                ),
            ));
        }
        let cause = parent.cause();
        let ids = fire_caused(tx, &task, &definition, &params, &cause, false, stamps).await?;
        Ok(match ids.first() {
            Some(id) => (ids.len(), format!("fired `{child}` (run {id})")),
            // Another shard's end fired it (every shard of a fire sees the
            // fire over once the last one ends): nothing to note.
            None => (0, String::new()),
        })
    }

    /// Task `name`, read in the transaction.
    async fn task_in(&self, tx: &mut Tx, name: &str) -> Result<Option<TaskRow>, StoreError> {
        let row = sqlx::query(&self.task_select("WHERE name = $1"))
            .bind(name)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(row.map(|row| read_task(&row).task))
    }

    /// The chain from `from` back to `to` through `on_success` and
    /// `on_failure`, if there is one (`from → … → to → from`).
    async fn chain_back(
        &self,
        tx: &mut Tx,
        from: &str,
        to: &str,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let mut came_from: HashMap<String, String> = HashMap::new();
        let mut seen: BTreeSet<String> = BTreeSet::from([from.to_owned()]);
        let mut queue = vec![from.to_owned()];
        while let Some(name) = queue.pop() {
            if seen.len() > MAX_CHAIN_WALK {
                return Ok(Some(vec![
                    from.to_owned(),
                    format!("… over {MAX_CHAIN_WALK} tasks"),
                ]));
            }
            let row = sqlx::query("SELECT on_success, on_failure FROM tasks WHERE name = $1")
                .bind(&name)
                .fetch_optional(&mut **tx)
                .await?;
            let Some(row) = row else { continue };
            for column in ["on_success", "on_failure"] {
                let text: Option<String> = row.try_get(column).ok().flatten();
                let next = text
                    .and_then(|t| parse_task_list(&t).ok())
                    .unwrap_or_default();
                for next in next {
                    if next == to {
                        // to → from → … → name → to
                        let mut path = vec![name.clone()];
                        let mut at = name.clone();
                        while let Some(before) = came_from.get(&at) {
                            path.push(before.clone());
                            at = before.clone();
                        }
                        path.push(to.to_owned());
                        path.reverse();
                        path.push(to.to_owned());
                        return Ok(Some(path));
                    }
                    if seen.insert(next.clone()) {
                        came_from.insert(next.clone(), name.clone());
                        queue.push(next);
                    }
                }
            }
        }
        Ok(None)
    }
}

/// Appends a host line to the log of `run`'s last attempt (what its end
/// set off, or why not).
async fn note_on(
    tx: &mut Tx,
    run: &Ended,
    level: &str,
    message: &str,
    now: i64,
) -> Result<(), StoreError> {
    let attempt = run.attempt.max(1);
    sqlx::query(
        "INSERT INTO run_logs (run_id, attempt, seq, at, level, source, message) \
         SELECT $1, $2, COALESCE(MAX(seq), -1) + 1, $3, $4, 'host', $5 FROM run_logs \
         WHERE run_id = $1 AND attempt = $2",
    )
    .bind(run.id)
    .bind(attempt)
    .bind(now)
    .bind(level)
    .bind(message)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The shard of a fire that did not succeed that its followers are told
/// of: the first that failed, timed out or was orphaned, else the first
/// that did not succeed (cancelled, skipped).
fn telling_shard(fire: &[Ended]) -> Option<&Ended> {
    fire.iter()
        .find(|r| fails_a_fire(r.state))
        .or_else(|| fire.iter().find(|r| r.state != RunState::Succeeded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: i64, state: RunState) -> Ended {
        Ended {
            id,
            task: "t".into(),
            task_group: "default".into(),
            scheduled_at: 0,
            state,
            attempt: 1,
            summary: None,
            error: Some(format!("shard {id}")),
            outputs: None,
            cause: None,
        }
    }

    #[test]
    fn the_shard_that_failed_is_told_of_before_one_cancelled() {
        let fire = [
            shard(1, RunState::Succeeded),
            shard(2, RunState::Cancelled),
            shard(3, RunState::TimedOut),
        ];
        assert_eq!(telling_shard(&fire).map(|r| r.id), Some(3));
        assert_eq!(telling_shard(&fire[..2]).map(|r| r.id), Some(2));
        assert_eq!(telling_shard(&fire[..1]).map(|r| r.id), None);
    }
}
