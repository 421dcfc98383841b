//! What one due task fires, decided inside the store's fire transaction:
//! the slots its misfire policy fires, whether its concurrency policy skips
//! them or cancels the running runs, the live host each new run is offered
//! to, and which runs this host claims as they are inserted (up to the
//! permits the dispatcher set aside: offered to this host or to anyone,
//! selector satisfied, not paged, not skipped).

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::panics::catch;
use crate::schedule::plan_fires;
use crate::scheduler::{Scheduler, shard_runs};
use crate::store::{FireDecision, FirePlanner, MisfireRecord, NewRun};
use crate::vocab::{CancelReason, Concurrency, TaskDefinition, TaskError, TaskRow};

/// A [`FirePlanner`] for one pass of the scheduler.
pub(super) struct Planner<'a> {
    pub(super) scheduler: &'a Scheduler,
    pub(super) now_ms: i64,
    pub(super) horizon_ms: i64,
    /// Runs this host may claim at insert in this pass.
    pub(super) claim_permits: usize,
    /// Of those, not yet given to a run in this attempt of the transaction.
    pub(super) claims_left: AtomicUsize,
}

impl FirePlanner for Planner<'_> {
    fn begin(&self) {
        self.claims_left
            .store(self.claim_permits, Ordering::Relaxed);
    }

    fn decide(&self, task: &TaskRow, active: i64) -> FireDecision {
        // A bug met evaluating one row stops that row, not the pass.
        catch(|| self.decide_unguarded(task, active))
            .unwrap_or_else(|panic| FireDecision::Block(evaluation_failed(&panic)))
    }
}

/// The error recorded on a task whose evaluation panicked.
pub(super) fn evaluation_failed(panic: &str) -> TaskError {
    TaskError::invalid(format!(
        "the host failed evaluating this task ({panic}); it does not fire until it is changed. \
         This is a bug in Carillon: please report it with the row"
    ))
}

impl Planner<'_> {
    fn decide_unguarded(&self, task: &TaskRow, active: i64) -> FireDecision {
        let definition = match self.scheduler.check(task) {
            Ok(definition) => definition,
            Err(error) => return FireDecision::Block(error),
        };
        let mut decision = self.fire(task, &definition, active);
        if let FireDecision::Fire { runs, .. } = &mut decision {
            for run in runs.iter_mut().filter(|run| run.skipped.is_none()) {
                run.offered_to = self.scheduler.cluster.offer(task.spec.selector.as_deref());
                run.claim_here = self.may_claim(task, run) && self.take_claim();
            }
        }
        decision
    }
}

impl Planner<'_> {
    /// The slots `task` fires and what its concurrency policy makes of them:
    /// slots up to the horizon for `allow` tasks, up to now for those whose
    /// policy looks at running runs (whether a run is still going is only
    /// known at the slot).
    fn fire(&self, task: &TaskRow, definition: &TaskDefinition, active: i64) -> FireDecision {
        let now_ms = if definition.concurrency == Concurrency::Allow {
            self.horizon_ms
        } else {
            self.now_ms
        };
        let due = task.next_fire_at.unwrap_or(now_ms);
        let threshold = self.scheduler.config.misfire_threshold.as_millis() as i64;
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
            Concurrency::Forbid if active > 0 => {
                skip_all = Some(format!(
                    "skipped: concurrency is `forbid` and {active} run(s) of this task are still pending or running"
                ));
            }
            Concurrency::Replace if active > 0 => {
                cancel_running = Some(CancelReason::Replaced.to_string());
            }
            Concurrency::Allow | Concurrency::Forbid | Concurrency::Replace => {}
        }
        let params = &definition.fire_params;
        let mut runs = Vec::with_capacity(plan.fire.len() * definition.shard_total as usize);
        for (position, slot) in plan.fire.iter().enumerate() {
            // Under `forbid`, one fire per tick runs; later slots wait their turn.
            let skipped = skip_all.clone().or_else(|| {
                (definition.concurrency == Concurrency::Forbid && position > 0)
                    .then(|| "skipped: concurrency is `forbid` and an earlier slot fired in the same pass".to_owned())
            });
            runs.extend(shard_runs(definition, *slot, params, skipped));
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
            note: plan.next.is_none().then(TaskError::finished),
            cancel_running,
        }
    }

    /// Takes one of the claims left, if any.
    fn take_claim(&self) -> bool {
        self.claims_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }

    /// Whether this host may take `run` of `task` as it is inserted: not
    /// skipped, not paged (a paged run takes its page in an insert of its
    /// own), offered to this host or to anyone, and its selector satisfied.
    fn may_claim(&self, task: &TaskRow, run: &NewRun) -> bool {
        let config = &self.scheduler.config;
        run.skipped.is_none()
            && !task.spec.is_paged()
            && run
                .offered_to
                .as_deref()
                .is_none_or(|node| node == config.node_id)
            && config.labels.satisfy(task.spec.selector.as_deref())
    }
}
