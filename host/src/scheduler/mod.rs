//! The scheduler: turns the task table into run rows. Each tick it computes
//! the first fire time of new and changed rows, then materialises the slots
//! that came due (misfire and concurrency policies applied) through the
//! store's fire transaction. It decides; the store writes; it never runs jobs.

pub mod definition;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cluster::ClusterView;
use crate::plugins::ModuleRegistry;
use crate::schedule::{Schedule, plan_fires};
use crate::store::{
    ClaimAtFire, ClaimedRun, FireDecision, MisfireRecord, NewRun, ScheduleVerdict, Store,
    StoreError, TaskRow,
};
pub use definition::{Concurrency, TaskDefinition};

/// How the scheduler behaves.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// A slot older than this when it comes due is a misfire.
    pub misfire_threshold: Duration,
    /// Due tasks per fire transaction.
    pub batch: i64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
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
    /// Checked definitions by task name, with the revision they were read
    /// from: a task firing every second is parsed once, not every second.
    definitions: Arc<Mutex<DefinitionCache>>,
}

/// Task name → (revision read, checked definition).
type DefinitionCache = HashMap<String, (i64, Arc<TaskDefinition>)>;

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
        }
    }

    /// One pass at time `now_ms`, firing the slots due by `horizon_ms` (a
    /// little ahead of now: their runs start at their slot, not when the
    /// pass gets to them). Up to `claim.max` of the runs it creates are
    /// claimed for `claim.node` as they are inserted.
    pub async fn tick(
        &self,
        now_ms: i64,
        horizon_ms: i64,
        claim: &ClaimAtFire<'_>,
    ) -> Result<TickReport, StoreError> {
        let mut report = TickReport {
            scheduled: self.schedule_new_rows(now_ms).await?,
            ..TickReport::default()
        };
        loop {
            let left = ClaimAtFire {
                max: claim.max - report.claimed.len(),
                ..*claim
            };
            let batch = self
                .store
                .fire_due_tasks(
                    now_ms,
                    horizon_ms,
                    self.config.batch,
                    &left,
                    |task, active| self.decide(task, active, now_ms, horizon_ms),
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
                    let (next_fire_at, error) = match self.check(&row) {
                        Err(reason) => {
                            tracing::warn!(task = %row.spec.name, "task cannot be scheduled: {reason}");
                            (None, Some(reason))
                        }
                        Ok(definition) => match first_slot(&definition, &row, now_ms) {
                            Some(slot) => (Some(slot), None),
                            None => (None, Some(FINISHED.to_owned())),
                        },
                    };
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

    fn check(&self, row: &TaskRow) -> Result<Arc<TaskDefinition>, String> {
        let definition = self.definition(row)?;
        if !self.modules.contains(&row.spec.module) {
            return Err(missing_module(&row.spec.module));
        }
        Ok(definition)
    }

    fn definition(&self, row: &TaskRow) -> Result<Arc<TaskDefinition>, String> {
        let mut cache = self.definitions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((revision, definition)) = cache.get(&row.spec.name)
            && *revision == row.revision
        {
            return Ok(definition.clone());
        }
        let definition = Arc::new(TaskDefinition::from_row(row)?);
        cache.insert(row.spec.name.clone(), (row.revision, definition.clone()));
        Ok(definition)
    }

    /// What `task` fires: slots up to `horizon_ms` for `allow` tasks, up to
    /// `now_ms` for those whose policy looks at running runs (whether a run
    /// is still going is only known at the slot).
    fn decide(&self, task: &TaskRow, active: i64, now_ms: i64, horizon_ms: i64) -> FireDecision {
        let definition = match self.check(task) {
            Ok(definition) => definition,
            Err(reason) => return FireDecision::Block(reason),
        };
        let now_ms = if definition.concurrency == Concurrency::Allow {
            horizon_ms
        } else {
            now_ms
        };
        let due = task.next_fire_at.unwrap_or(now_ms);
        let threshold = self.config.misfire_threshold.as_millis() as i64;
        let plan = plan_fires(
            &definition.timing,
            due,
            now_ms,
            threshold,
            definition.misfire,
        );
        let mut cancel_running = None;
        let mut skip_all = None;
        match definition.concurrency {
            Concurrency::Allow => {}
            Concurrency::Forbid if active > 0 => {
                skip_all = Some(format!(
                    "skipped: concurrency is `forbid` and {active} run(s) of this task are still pending or running"
                ));
            }
            Concurrency::Forbid => {}
            Concurrency::Replace if active > 0 => {
                cancel_running =
                    Some("replaced by a newer fire (concurrency `replace`)".to_owned());
            }
            Concurrency::Replace => {}
        }
        let params = &definition.fire_params;
        let mut runs = Vec::with_capacity(plan.fire.len() * definition.shard_total as usize);
        for (position, slot) in plan.fire.iter().enumerate() {
            // Under `forbid`, one fire per tick runs; later slots wait their turn.
            let skipped = skip_all.clone().or_else(|| {
                (definition.concurrency == Concurrency::Forbid && position > 0)
                    .then(|| "skipped: concurrency is `forbid` and an earlier slot fired in the same pass".to_owned())
            });
            runs.extend(shard_runs(&definition, *slot, params, skipped));
        }
        for run in runs.iter_mut().filter(|r| r.skipped.is_none()) {
            run.offered_to = self.cluster.offer(task.spec.selector.as_deref());
        }
        let misfire = (plan.missed > 0).then(|| MisfireRecord {
            first_slot: plan.first_missed.unwrap_or(due),
            last_slot: plan.last_missed.unwrap_or(due),
            missed: plan.missed as i64,
            policy: definition.misfire.to_string(),
        });
        if let Some(misfire) = &misfire {
            tracing::warn!(
                task = %task.spec.name,
                missed = misfire.missed,
                policy = %misfire.policy,
                "misfire: slots were missed (host down or overloaded)"
            );
        }
        FireDecision::Fire {
            runs,
            misfire,
            next_fire_at: plan.next,
            note: plan.next.is_none().then(|| FINISHED.to_owned()),
            cancel_running,
        }
    }
}

/// How far ahead of their slot fires are made: a pass that takes a few
/// milliseconds under load still has the runs claimed and waiting when their
/// slot comes, so they start on time (a task edited less than this before a
/// slot fires that slot as it was).
pub const FIRE_AHEAD: Duration = Duration::from_millis(500);

/// Recorded on a task whose schedule has no fire times left.
pub const FINISHED: &str = "finished: the schedule has no fire times left";

/// The error recorded on tasks whose module is not loaded; the plugin loader
/// clears exactly this error when the module arrives.
pub fn missing_module(module: &str) -> String {
    format!(
        "module `{module}` is not loaded: drop {module}.wasm into the plugins folder or run `carillon module push {module} FILE.wasm`"
    )
}

/// The runs of one fire: one per shard.
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
    }
}
