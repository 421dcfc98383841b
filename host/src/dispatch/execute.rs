//! One claimed run's life on this host: wait for its slot and an executing
//! permit, run the job in the sandbox with the run's context and limits,
//! turn the outcome into a completion (retry, final state, or interrupted)
//! and queue it for recording, then give the permits back.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;

use crate::clock::now_ms;
use crate::dispatch::Dispatcher;
use crate::dispatch::completion::completion;
use crate::panics::catch_future;
use crate::plugins::missing_module;
use crate::runtime::{
    CancelToken, PageSpec, RunContext, RunFault, RunLimits, RunOutcome, RunRequest,
};
use crate::store::{ClaimedRun, Completion, FencedCompletion};
use crate::units::ByteSize;
use crate::vocab::parse_params;

impl Dispatcher {
    /// Runs `run` to its end on this host and queues its outcome; `held` is
    /// its held permit, given back once the outcome is queued.
    pub(super) async fn execute(
        self,
        run: ClaimedRun,
        cancel: CancelToken,
        held: OwnedSemaphorePermit,
    ) {
        // A bug met while handling this run ends this run, recorded, and
        // nothing else: the permits are given back and the outcome written.
        let (outcome, digest, started_at) = catch_future(self.attempt(&run, &cancel))
            .await
            .unwrap_or_else(|panic| {
                let fault =
                    RunFault::Host(format!("{panic} (a bug in Carillon: please report it)"));
                (RunOutcome::Fault { fault }, None, None)
            });
        let interrupted = cancel.reason().and_then(|reason| reason.interruption());
        let mut record = completion(&outcome, &run, digest, now_ms(), interrupted);
        record.started_at = started_at;
        // The outcome is queued before the permit is given back (so shutdown,
        // which waits for every permit, then flushes, never misses it), but
        // the permit does not wait for the database write: a trivial job
        // would otherwise hold it a thousand times longer than it ran.
        let recorded = self.record(&run, record);
        self.forget(run.id);
        self.inner.permits.release(held);
        recorded.await;
    }

    /// Waits for the run's slot and an executing permit, then runs the job;
    /// returns the outcome, the module digest that ran and when it started.
    async fn attempt(
        &self,
        run: &ClaimedRun,
        cancel: &CancelToken,
    ) -> (RunOutcome, Option<String>, Option<i64>) {
        match self.wait_for_start(run, cancel).await {
            Err(reason) => (
                RunOutcome::Fault {
                    fault: RunFault::Cancelled(reason),
                },
                None,
                None,
            ),
            Ok(executing) => {
                let started_at = now_ms();
                let (outcome, digest) = self.run_job(run, cancel).await;
                drop(executing);
                (outcome, digest, Some(started_at))
            }
        }
    }

    /// Waits for the run's slot, then for an executing permit; returns the
    /// permit, or why the run was cancelled meanwhile.
    async fn wait_for_start(
        &self,
        run: &ClaimedRun,
        cancel: &CancelToken,
    ) -> Result<OwnedSemaphorePermit, String> {
        let wait = Duration::from_millis((run.not_before - now_ms()).max(0) as u64);
        tokio::select! {
            biased;
            reason = cancel.cancelled() => Err(reason.to_string()),
            executing = async {
                tokio::time::sleep(wait).await;
                self.inner.permits.execute().await
            } => executing.ok_or_else(|| "the host is stopping".to_owned()),
        }
    }

    /// Runs the job once; returns its outcome and the module digest that ran.
    async fn run_job(
        &self,
        run: &ClaimedRun,
        cancel: &CancelToken,
    ) -> (RunOutcome, Option<String>) {
        let inner = &self.inner;
        match inner.registry.get(&run.module) {
            None => (
                RunOutcome::Fault {
                    fault: RunFault::Instantiation(missing_module(&run.module).message),
                },
                None,
            ),
            Some(job) => {
                let request = RunRequest {
                    context: context_of(run),
                    limits: self.limits_of(run),
                    io: inner.io.clone(),
                    cancel: cancel.clone(),
                };
                let report = inner.runtime.run(&job, request).await;
                (report.outcome, Some(job.digest().to_string()))
            }
        }
    }

    /// Queues `record` for `run`; the future logs whether it was accepted.
    fn record(
        &self,
        run: &ClaimedRun,
        record: Completion,
    ) -> impl std::future::Future<Output = ()> + use<> {
        let inner = &self.inner;
        let state = record.state;
        let fenced = FencedCompletion {
            run_id: run.id,
            node: inner.config.node_id.clone(),
            attempt: run.attempt,
            paged: run.page_index.is_some(),
            completion: record,
        };
        let accepted = inner.recorder.submit(fenced);
        let (task, id, attempt) = (run.task.clone(), run.id, run.attempt);
        async move {
            if accepted.await {
                tracing::debug!(task = %task, run = id, %state, "run recorded");
            } else {
                tracing::warn!(
                    task = %task,
                    run = id,
                    attempt,
                    "completion rejected: this host no longer owns the run (it was rescued by another host) \
                     or the database could not be written"
                );
            }
        }
    }

    /// The run's own limits, the host's defaults where the task sets none.
    fn limits_of(&self, run: &ClaimedRun) -> RunLimits {
        let defaults = self.inner.config.default_limits;
        RunLimits {
            timeout: run.timeout_ms.map_or(defaults.timeout, |ms| {
                Duration::from_millis(ms.max(1) as u64)
            }),
            memory: run
                .memory_mib
                .map_or(defaults.memory, |mib| ByteSize::mib(mib.max(1) as u64)),
            ..defaults
        }
    }
}

/// The context a claimed run's job receives.
fn context_of(run: &ClaimedRun) -> RunContext {
    let params: BTreeMap<String, String> = parse_params(&run.params).unwrap_or_default();
    RunContext {
        task: run.task.clone(),
        group: run.group.clone(),
        run_id: run.id as u64,
        scheduled_at_ms: run.scheduled_at,
        fired_at_ms: now_ms(),
        attempt: run.attempt as u32,
        shard_index: run.shard_index as u32,
        shard_total: run.shard_total.max(1) as u32,
        shard_parameter: run.shard_param.clone(),
        page: match (run.page_index, run.page_size) {
            (Some(index), Some(size)) => Some(PageSpec {
                index: index as u64,
                size: size as u32,
            }),
            _ => None,
        },
        params: params.into_iter().collect(),
        checkpoint: run.checkpoint.clone(),
    }
}
