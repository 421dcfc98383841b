//! The scheduler: turns the task table into run rows. Each tick it computes
//! the first fire time of new and changed rows, then, inside the store's fire
//! transaction, decides what each due task fires (`planner.rs`): the slots
//! (misfire policy), skipped fires (concurrency `forbid`), cancel requests
//! (`replace`), the host each run is offered to, and which runs this host
//! claims as they are inserted. It decides; the store writes; it never runs
//! jobs.

mod planner;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cluster::ClusterView;
use crate::labels::Labels;
use crate::panics::catch;
use crate::plugins::{ModuleRegistry, missing_module};
use crate::schedule::{CalendarRow, Calendars, Schedule};
use crate::store::{ClaimedRun, NewRun, ScheduleVerdict, Store, StoreError};
use crate::vocab::{TaskDefinition, TaskError, TaskRow, is_builtin_module};
use planner::Planner;

/// How the scheduler behaves.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// This host: runs it claims at insert are claimed for it.
    pub node_id: String,
    /// This host's labels: it claims at insert only runs whose selector they
    /// satisfy.
    pub labels: Labels,
    /// A slot older than this when it comes due is a misfire.
    pub misfire_threshold: Duration,
    /// Due tasks per fire transaction.
    pub batch: i64,
}

impl SchedulerConfig {
    /// Defaults for host `node_id` with `labels`.
    pub fn new(node_id: &str, labels: Labels) -> Self {
        Self {
            node_id: node_id.to_owned(),
            labels,
            misfire_threshold: Duration::from_secs(60),
            batch: 2000,
        }
    }
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Rows given a (new) first fire time.
    pub scheduled: usize,
    /// Due tasks handled.
    pub fired_tasks: usize,
    /// Runs created.
    pub runs: usize,
    /// Slots recorded as missed.
    pub missed: i64,
    /// Runs asked to cancel (concurrency `replace`).
    pub cancelled: Vec<i64>,
    /// Runs created already claimed by this host, to start now.
    pub claimed: Vec<ClaimedRun>,
}

/// Materialises fires. Cheap to share.
#[derive(Debug, Clone)]
pub struct Scheduler {
    store: Store,
    modules: Arc<ModuleRegistry>,
    /// Live hosts: each new run is offered to one of them.
    cluster: Arc<ClusterView>,
    config: SchedulerConfig,
    /// Checked definitions by task name, with the revision and calendars
    /// generation they were read with: a task firing every second is parsed
    /// once, not every second.
    definitions: Arc<Mutex<DefinitionCache>>,
    /// The calendars as last read, reread on each pass.
    calendars: Arc<Mutex<CalendarState>>,
}

/// Task name → ((revision, calendars generation) read, checked definition).
type DefinitionCache = HashMap<String, ((i64, u64), Arc<TaskDefinition>)>;

/// The calendars table as last read, and what it resolved to.
#[derive(Debug, Default)]
struct CalendarState {
    /// Bumped on every change, so cached definitions take the new calendars.
    generation: u64,
    /// Whether the table was read yet by this host.
    loaded: bool,
    rows: Vec<CalendarRow>,
    resolved: Arc<Calendars>,
}

impl Scheduler {
    /// A scheduler over `store`, checking modules against `modules` and
    /// offering new runs round `cluster`'s live hosts.
    pub fn new(
        store: Store,
        modules: Arc<ModuleRegistry>,
        cluster: Arc<ClusterView>,
        config: SchedulerConfig,
    ) -> Self {
        Self {
            store,
            modules,
            cluster,
            config,
            definitions: Arc::default(),
            calendars: Arc::default(),
        }
    }

    /// One pass at time `now_ms`, firing the slots due by `horizon_ms` (a
    /// little ahead of now: their runs start at their slot, not when the
    /// pass gets to them). Up to `claim_permits` of the runs it creates are
    /// claimed for this host as they are inserted (the dispatcher set that
    /// many permits aside for them).
    pub async fn tick(
        &self,
        now_ms: i64,
        horizon_ms: i64,
        claim_permits: usize,
    ) -> Result<TickReport, StoreError> {
        self.refresh_calendars(now_ms).await?;
        let mut report = TickReport {
            scheduled: self.schedule_new_rows(now_ms).await?,
            ..TickReport::default()
        };
        loop {
            let planner = Planner {
                scheduler: self,
                now_ms,
                horizon_ms,
                claim_permits: claim_permits.saturating_sub(report.claimed.len()),
                claims_left: Default::default(),
            };
            let batch = self
                .store
                .fire_due_tasks(
                    now_ms,
                    horizon_ms,
                    self.config.batch,
                    &self.config.node_id,
                    &planner,
                )
                .await?;
            for (task, reason) in &batch.blocked {
                tracing::warn!(task = %task, "task stopped firing: {reason}");
            }
            report.fired_tasks += batch.tasks;
            report.runs += batch.runs;
            report.missed += batch.missed;
            report.cancelled.extend(batch.cancelled);
            report.claimed.extend(batch.claimed);
            if (batch.tasks as i64) < self.config.batch {
                return Ok(report);
            }
        }
    }

    /// Gives new and changed rows their first fire time, or records why not.
    async fn schedule_new_rows(&self, now_ms: i64) -> Result<usize, StoreError> {
        let mut scheduled = 0;
        loop {
            let rows = self.store.unscheduled_tasks(self.config.batch).await?;
            if rows.is_empty() {
                return Ok(scheduled);
            }
            let count = rows.len();
            let verdicts: Vec<ScheduleVerdict> = rows
                .into_iter()
                .map(|row| {
                    let verdict = catch(|| match self.check(&row) {
                        Err(error) => (None, Some(error)),
                        Ok(definition) if definition.timing.schedule == Schedule::Manual => {
                            (None, Some(TaskError::manual()))
                        }
                        Ok(definition) => match first_slot(&definition, &row, now_ms) {
                            Some(slot) => (Some(slot), None),
                            None => (None, Some(TaskError::finished())),
                        },
                    });
                    let (next_fire_at, error) = verdict
                        .unwrap_or_else(|panic| (None, Some(planner::evaluation_failed(&panic))));
                    if let Some(error) = error.as_ref().filter(|e| !e.is_note()) {
                        tracing::warn!(task = %row.spec.name, "task cannot be scheduled: {error}");
                    }
                    ScheduleVerdict {
                        name: row.spec.name,
                        revision: row.revision,
                        next_fire_at,
                        error,
                    }
                })
                .collect();
            self.store.set_schedules(&verdicts).await?;
            scheduled += count;
            if (count as i64) < self.config.batch {
                return Ok(scheduled);
            }
        }
    }

    /// Rereads the calendars; when they changed, the tasks using a changed
    /// one are rescheduled under it (on this host's first read, only those
    /// its calendar blocked are let go: their fire times were computed with
    /// the calendars as they are, as far as anyone knows).
    async fn refresh_calendars(&self, now_ms: i64) -> Result<(), StoreError> {
        let rows = self.store.calendar_rows().await?;
        let (changed, first) = {
            let mut state = self.calendars.lock().unwrap_or_else(|e| e.into_inner());
            if state.loaded && state.rows == rows {
                return Ok(());
            }
            let resolved = Calendars::resolve(&rows);
            let changed = resolved.changed_from(&state.resolved);
            let first = !state.loaded;
            for name in &changed {
                if let Err(error) = resolved.get(name)
                    && rows.iter().any(|row| &row.name == name)
                {
                    tracing::warn!(calendar = %name, "calendar cannot be used: {error}");
                }
            }
            *state = CalendarState {
                generation: state.generation + 1,
                loaded: true,
                rows,
                resolved: Arc::new(resolved),
            };
            (changed, first)
        };
        if !changed.is_empty() {
            self.store
                .reschedule_calendar_tasks(&changed, now_ms, !first)
                .await?;
        }
        Ok(())
    }

    /// The row's checked definition, if its module is loaded too.
    fn check(&self, row: &TaskRow) -> Result<Arc<TaskDefinition>, TaskError> {
        let definition = self.definition(row)?;
        // HTTP and workflow tasks need no module: the host does their work.
        if !is_builtin_module(&row.spec.module) && !self.modules.contains(&row.spec.module) {
            return Err(missing_module(&row.spec.module));
        }
        Ok(definition)
    }

    fn definition(&self, row: &TaskRow) -> Result<Arc<TaskDefinition>, TaskError> {
        let (generation, calendars) = {
            let state = self.calendars.lock().unwrap_or_else(|e| e.into_inner());
            (state.generation, state.resolved.clone())
        };
        let key = (row.revision, generation);
        let mut cache = self.definitions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((read, definition)) = cache.get(&row.spec.name)
            && *read == key
        {
            return Ok(definition.clone());
        }
        let definition = Arc::new(TaskDefinition::from_row(row)?.with_calendar(&calendars)?);
        cache.insert(row.spec.name.clone(), (key, definition.clone()));
        Ok(definition)
    }
}

/// How far ahead of their slot fires are made: a pass that takes a few
/// milliseconds under load still has the runs claimed and waiting when their
/// slot comes, so they start on time (a task edited less than this before a
/// slot fires that slot as it was).
pub const FIRE_AHEAD: Duration = Duration::from_millis(500);

/// The runs of one fire of `definition` at `slot`: one per shard, pending,
/// offered to anyone.
pub fn shard_runs(
    definition: &TaskDefinition,
    slot: i64,
    params: &str,
    skipped: Option<String>,
) -> Vec<NewRun> {
    (0..definition.shard_total)
        .map(|index| NewRun {
            scheduled_at: slot,
            shard_index: i64::from(index),
            shard_param: definition.shard_params.get(&index).cloned(),
            params: params.to_owned(),
            skipped: skipped.clone(),
            offered_to: None,
            claim_here: false,
            cause: None,
            watch: false,
            not_before: None,
        })
        .collect()
}

/// The first slot of a newly (re)scheduled row: a one-shot that never fired
/// fires at its time even if that has passed (the misfire policy then
/// applies); a recurring schedule starts from now.
fn first_slot(definition: &TaskDefinition, row: &TaskRow, now_ms: i64) -> Option<i64> {
    match definition.timing.schedule {
        Schedule::At(_) | Schedule::After(_) => {
            if row.last_fire_at.is_some() {
                None
            } else {
                definition.timing.next_after(i64::MIN / 2)
            }
        }
        Schedule::Cron(_) | Schedule::Every(_) => definition.timing.next_after(now_ms - 1),
        Schedule::Manual => None,
    }
}
