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
use crate::metrics;
use crate::panics::catch_future;
use crate::plugins::missing_module;
use crate::runtime::{
    CancelToken, Mount, PageSpec, RunContext, RunFault, RunLimits, RunOutcome, RunRequest,
};
use crate::store::{ClaimedRun, Completion, FencedCompletion};
use crate::units::ByteSize;
use crate::vocab::{GrantKind, HTTP_MODULE, WORKFLOW_MODULE, parse_grant_names, parse_params};

/// How an attempt went on this host.
#[derive(Debug)]
struct Attempt {
    outcome: RunOutcome,
    /// The module version that ran, if one did.
    digest: Option<String>,
    /// When the job started, if it did.
    started_at: Option<i64>,
    /// Log lines the host could not keep.
    log_lines_dropped: u64,
    /// What the job handed on, as a JSON object.
    outputs: Option<String>,
}

impl Attempt {
    /// An attempt that ended before a job ran.
    fn ended(outcome: RunOutcome) -> Self {
        Self {
            outcome,
            digest: None,
            started_at: None,
            log_lines_dropped: 0,
            outputs: None,
        }
    }
}

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
        let attempt = catch_future(self.attempt(&run, &cancel))
            .await
            .unwrap_or_else(|panic| {
                let fault =
                    RunFault::HostBug(format!("{panic} (a bug in Carillon: please report it)"));
                Attempt::ended(RunOutcome::Fault { fault })
            });
        let interrupted = cancel.reason().and_then(|reason| reason.interruption());
        let mut record = completion(
            &attempt.outcome,
            &run,
            attempt.digest,
            now_ms(),
            interrupted,
        );
        record.started_at = attempt.started_at;
        record.log_lines_dropped = attempt.log_lines_dropped;
        record.outputs = attempt.outputs;
        if record.state.is_final() {
            let ran_for = attempt.started_at.map(|started| now_ms() - started);
            metrics::global().run_ended(&run.task, record.state, ran_for);
        }
        // The outcome is queued before the permit is given back (so shutdown,
        // which waits for every permit, then flushes, never misses it), but
        // the permit does not wait for the database write: a trivial job
        // would otherwise hold it a thousand times longer than it ran.
        let recorded = self.record(&run, record);
        self.forget(run.id);
        self.inner.permits.release(held);
        recorded.await;
    }

    /// Waits for the run's slot and an executing permit, then runs the job.
    async fn attempt(&self, run: &ClaimedRun, cancel: &CancelToken) -> Attempt {
        let waited = self.wait_for_start(run, cancel).await;
        self.no_longer_waiting(run);
        match waited {
            Err(reason) => Attempt::ended(RunOutcome::Fault {
                fault: RunFault::Cancelled(reason),
            }),
            Ok(executing) => {
                let started_at = now_ms();
                // Late against when it was due: its slot, or its retry's backoff end.
                metrics::global().run_started(&run.task, started_at - run.not_before);
                let attempt = self.run_job(run, cancel).await;
                drop(executing);
                Attempt {
                    started_at: Some(started_at),
                    ..attempt
                }
            }
        }
    }

    /// `run` has begun, or will not: the start watermark may move past it.
    fn no_longer_waiting(&self, run: &ClaimedRun) {
        let inner = &self.inner;
        inner.watermark.began(run.planned_start);
        inner
            .recorder
            .started_through(inner.watermark.value(now_ms()));
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

    /// Runs the job once.
    async fn run_job(&self, run: &ClaimedRun, cancel: &CancelToken) -> Attempt {
        let inner = &self.inner;
        if run.module == HTTP_MODULE {
            let timeout = self.limits_of(run).timeout;
            return Attempt::ended(self.call_http(run, timeout, cancel).await);
        }
        if run.module == WORKFLOW_MODULE {
            let (outcome, outputs) = self.start_workflow(run).await;
            return Attempt {
                outputs: Some(serde_json::to_string(&outputs).unwrap_or_default())
                    .filter(|_| !outputs.is_empty()),
                ..Attempt::ended(outcome)
            };
        }
        match inner.registry.get(&run.module) {
            None => Attempt::ended(RunOutcome::Fault {
                fault: RunFault::Instantiation(missing_module(&run.module).message),
            }),
            Some(job) => {
                let limits = self.limits_of(run);
                let largest = inner.runtime.max_memory();
                if limits.memory > largest {
                    let fault = RunFault::Instantiation(format!(
                        "the task asks for a memory cap of {}, more than this host's largest, {largest}; \
                         lower the task's memory_mib or raise the host's limits.memory",
                        limits.memory
                    ));
                    return Attempt::ended(RunOutcome::Fault { fault });
                }
                let mounts = match self.mounts_of(run) {
                    Ok(mounts) => mounts,
                    Err(message) => {
                        let fault = RunFault::Instantiation(message);
                        return Attempt::ended(RunOutcome::Fault { fault });
                    }
                };
                let request = RunRequest {
                    context: context_of(run),
                    limits,
                    io: inner.io.clone(),
                    cancel: cancel.clone(),
                    mounts,
                };
                let report = inner.runtime.run(&job, request).await;
                Attempt {
                    outcome: report.outcome,
                    digest: Some(job.digest().to_string()),
                    started_at: None,
                    log_lines_dropped: report.log_lines_dropped,
                    outputs: (!report.outputs.is_empty())
                        .then(|| serde_json::to_string(&report.outputs).unwrap_or_default()),
                }
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

    /// The folders the run's task is granted, as this host configures them;
    /// a name this host does not configure fails the run, saying so.
    fn mounts_of(&self, run: &ClaimedRun) -> Result<Vec<Mount>, String> {
        let Some(text) = &run.mounts else {
            return Ok(Vec::new());
        };
        let names = parse_grant_names(GrantKind::Mount, text)
            .map_err(|error| format!("the task's mounts column: {error}"))?;
        let configured = &self.inner.config.mounts;
        names
            .iter()
            .map(|name| {
                configured.get(name).cloned().ok_or_else(|| {
                    format!(
                        "task `{}` is granted mount `{name}`, which host `{}` does not configure; \
                         add [mounts.{name}] path = \"…\" to its carillon.toml",
                        run.task, self.inner.config.node_id
                    )
                })
            })
            .collect()
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
