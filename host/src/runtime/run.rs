//! One run, start to end: a fresh store with the run's limits, instantiate from
//! the pre-instantiated component, call `run`, and turn whatever happened into a
//! [`RunReport`]. A watchdog enforces the wall-clock timeout and cancellation:
//! the job is first asked to stop (`cancelled()` turns true) and, if it has not
//! returned within the grace period, stopped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use wasmtime::{Engine, Store, Trap};

use crate::clock::now_ms;
use crate::runtime::RunFault;
use crate::runtime::bindings::carillon::job::types as wit;
use crate::runtime::cancel::CancelToken;
use crate::runtime::config::RunConfig;
use crate::runtime::http::{HttpCaps, HttpStats, JobHttp};
use crate::runtime::io::{Level, RunIo, RunKey};
use crate::runtime::loader::{JobComponent, error_text};
use crate::runtime::mounts::Mount;
use crate::runtime::run_log::RunLog;
use crate::runtime::sql::{JobSql, SqlStats};
use crate::runtime::store_data::{ImportCaps, RunData};
use crate::units::{ByteSize, format_duration};
use crate::vocab::{CancelReason, RunState};

/// The context a job receives (see `context` in `wit/job.wit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    /// Task name.
    pub task: String,
    /// Task group.
    pub group: String,
    /// Run id, stable across retries.
    pub run_id: u64,
    /// The slot this run was scheduled for, ms since the Unix epoch.
    pub scheduled_at_ms: i64,
    /// When this attempt started, ms since the Unix epoch.
    pub fired_at_ms: i64,
    /// 1-based attempt number.
    pub attempt: u32,
    /// 0-based shard index.
    pub shard_index: u32,
    /// Number of shards (at least 1).
    pub shard_total: u32,
    /// This shard's parameter, if the task has one for it.
    pub shard_parameter: Option<String>,
    /// The page this run owns, when the task is paged.
    pub page: Option<PageSpec>,
    /// Merged params, key order.
    pub params: Vec<(String, String)>,
    /// Last checkpoint of an earlier attempt of this run.
    pub checkpoint: Option<Vec<u8>>,
}

/// A page of a paged task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSpec {
    /// 0-based page number.
    pub index: u64,
    /// Items per page.
    pub size: u32,
}

impl RunContext {
    /// A first attempt of shard 0 of 1 of `task`, scheduled and fired now.
    pub fn new(task: impl Into<String>, run_id: u64) -> Self {
        let now = now_ms();
        Self {
            task: task.into(),
            group: "default".to_owned(),
            run_id,
            scheduled_at_ms: now,
            fired_at_ms: now,
            attempt: 1,
            shard_index: 0,
            shard_total: 1,
            shard_parameter: None,
            page: None,
            params: Vec::new(),
            checkpoint: None,
        }
    }

    fn into_wit(self) -> wit::Context {
        wit::Context {
            task: self.task,
            group: self.group,
            run_id: self.run_id,
            scheduled_at: self.scheduled_at_ms,
            fired_at: self.fired_at_ms,
            attempt: self.attempt,
            shard: wit::Shard {
                index: self.shard_index,
                total: self.shard_total,
                parameter: self.shard_parameter,
            },
            page: self.page.map(|page| wit::Page {
                index: page.index,
                size: page.size,
            }),
            params: self.params,
            checkpoint: self.checkpoint,
        }
    }
}

/// Per-run limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Wall-clock time before the job is asked to stop.
    pub timeout: Duration,
    /// Time a job asked to stop (timeout or cancel) has to return before it is
    /// stopped.
    pub cancel_grace: Duration,
    /// Linear memory the job may grow to.
    pub memory: ByteSize,
    /// Log output (lines, fields, stdout, stderr) the job may write.
    pub log: ByteSize,
    /// Largest checkpoint.
    pub checkpoint: ByteSize,
    /// Largest state key.
    pub state_key: ByteSize,
    /// Largest state value.
    pub state_value: ByteSize,
    /// Outbound HTTP requests a run may make.
    pub http_requests: u32,
    /// HTTP answer bytes a run may receive, all requests together.
    pub http_received: ByteSize,
}

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
            cancel_grace: Duration::from_secs(2),
            memory: ByteSize::mib(64),
            log: ByteSize::mib(1),
            checkpoint: ByteSize::mib(1),
            state_key: ByteSize(256),
            state_value: ByteSize::kib(64),
            http_requests: 100,
            http_received: ByteSize::mib(16),
        }
    }
}

/// Everything a run needs besides the component.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// What the job is told.
    pub context: RunContext,
    /// What it may use.
    pub limits: RunLimits,
    /// Where its log, checkpoints and state go.
    pub io: RunIo,
    /// How to stop it early.
    pub cancel: CancelToken,
    /// The folders it sees, each at `/NAME`; empty: none.
    pub mounts: Vec<Mount>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum RunOutcome {
    /// The job returned an outcome.
    Succeeded {
        /// The job's one-line summary.
        summary: Option<String>,
        /// Items processed.
        items: u64,
    },
    /// The job returned a job error.
    Failed {
        /// The job's message.
        message: String,
        /// Whether the job says retrying can help.
        retryable: bool,
    },
    /// The host stopped the job, or the job faulted.
    Fault {
        /// What happened.
        #[serde(serialize_with = "serialize_display")]
        fault: RunFault,
    },
}

fn serialize_display<S: serde::Serializer>(fault: &RunFault, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(fault)
}

impl RunOutcome {
    /// The final run state: succeeded, failed, timed-out or cancelled.
    pub fn state(&self) -> RunState {
        match self {
            RunOutcome::Succeeded { .. } => RunState::Succeeded,
            RunOutcome::Failed { .. } => RunState::Failed,
            RunOutcome::Fault { fault } => fault.state(),
        }
    }

    /// The one-line reason for anything but success.
    pub fn reason(&self) -> Option<String> {
        match self {
            RunOutcome::Succeeded { .. } => None,
            RunOutcome::Failed { message, .. } => Some(message.clone()),
            RunOutcome::Fault { fault } => Some(fault.to_string()),
        }
    }

    /// Whether this is a success.
    pub fn is_success(&self) -> bool {
        matches!(self, RunOutcome::Succeeded { .. })
    }
}

/// What happened in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// How it ended.
    pub outcome: RunOutcome,
    /// When it started, ms since the Unix epoch.
    pub started_at_ms: i64,
    /// How long it took, from store creation to the end.
    pub duration: Duration,
    /// Log bytes it wrote (counted against its log cap).
    pub log_bytes: u64,
    /// Checkpoints it saved.
    pub checkpoints_saved: u32,
    /// Log lines written but not kept: the log sink was full.
    pub log_lines_dropped: u64,
    /// Its outbound HTTP requests.
    pub http: HttpStats,
    /// What its SQL statements came to.
    pub sql: SqlStats,
    /// What it handed on (`output.set`), secrets it read redacted.
    pub outputs: BTreeMap<String, String>,
}

/// The report of a run that ended with `fault` before it could start.
pub(crate) fn not_run(fault: RunFault) -> RunReport {
    RunReport {
        outcome: RunOutcome::Fault { fault },
        started_at_ms: now_ms(),
        duration: Duration::ZERO,
        log_bytes: 0,
        checkpoints_saved: 0,
        log_lines_dropped: 0,
        http: HttpStats::default(),
        sql: SqlStats::default(),
        outputs: BTreeMap::new(),
    }
}

enum Stopped {
    Instantiate(wasmtime::Error),
    Call(wasmtime::Error),
}

pub(crate) async fn execute(engine: &Engine, job: &JobComponent, request: RunRequest) -> RunReport {
    let started = Instant::now();
    let started_at_ms = now_ms();
    let RunRequest {
        context,
        limits,
        io,
        cancel,
        mounts,
    } = request;
    let key = RunKey {
        task: Arc::from(context.task.as_str()),
        run_id: context.run_id,
        attempt: context.attempt,
    };
    let log = Arc::new(RunLog::new(key.clone(), io.log.clone(), limits.log));
    let caps = ImportCaps {
        checkpoint: limits.checkpoint,
        state_key: limits.state_key,
        state_value: limits.state_value,
    };
    let deadline = tokio::time::Instant::now() + limits.timeout;
    let wit_context = Arc::new(context.into_wit());
    let http = JobHttp::new(
        io.http.clone(),
        key.clone(),
        log.clone(),
        cancel.clone(),
        deadline,
        HttpCaps {
            requests: limits.http_requests,
            received: limits.http_received,
        },
    );
    let mut data = RunData::new(
        key,
        log.clone(),
        &io,
        cancel.clone(),
        caps,
        limits.memory,
        (
            http,
            RunConfig {
                context: wit_context.clone(),
                secrets: io.secrets.clone(),
            },
            JobSql::new(io.sql.clone(), cancel.clone(), deadline),
        ),
    );
    if !mounts.is_empty()
        && let Err(message) = data.mount(&mounts)
    {
        return not_run(RunFault::Instantiation(message));
    }
    let mut store = Store::new(engine, data);
    store.limiter(|state| &mut state.memory);
    // A run yields to the others at every epoch tick, but not before its
    // second: one shorter than a tick (most) never yields, so it never
    // leaves the thread it started on.
    store.set_epoch_deadline(2);
    store.epoch_deadline_async_yield_and_update(1);

    let ended = {
        let call = async {
            let instance = job
                .pre()
                .instantiate_async(&mut store)
                .await
                .map_err(Stopped::Instantiate)?;
            instance
                .call_run(&mut store, &wit_context)
                .await
                .map_err(Stopped::Call)
        };
        tokio::select! {
            biased;
            returned = call => Ok(returned),
            fault = watchdog(deadline, &limits, &cancel) => Err(fault),
        }
    };
    log.finish();

    let state = store.data();
    let outcome = match ended {
        Err(fault) => RunOutcome::Fault { fault },
        Ok(Ok(Ok(outcome))) => RunOutcome::Succeeded {
            summary: outcome.summary,
            items: outcome.items,
        },
        Ok(Ok(Err(job_error))) => match cancel.reason() {
            Some(CancelReason::Timeout) => RunOutcome::Fault {
                fault: RunFault::TimedOut(limits.timeout),
            },
            Some(reason) => RunOutcome::Fault {
                fault: RunFault::Cancelled(format!(
                    "{reason} (the job stopped: {})",
                    job_error.message
                )),
            },
            None => RunOutcome::Failed {
                message: job_error.message,
                retryable: job_error.retryable,
            },
        },
        Ok(Err(Stopped::Instantiate(error))) => RunOutcome::Fault {
            fault: state
                .memory
                .exceeded
                .clone()
                .unwrap_or_else(|| RunFault::Instantiation(error_text(&error))),
        },
        Ok(Err(Stopped::Call(error))) => RunOutcome::Fault {
            fault: classify_trap(&error, state),
        },
    };
    // The job failed after the host failed it (its database was out of
    // reach): the host's failure, retried as such.
    let outcome = match &state.host_failure {
        Some(failure) if !outcome.is_success() => RunOutcome::Fault {
            fault: RunFault::Host(format!("its database failed during the run: {failure}")),
        },
        _ => outcome,
    };
    // A granted secret the job put in its summary or error stays out of
    // the record too.
    let outcome = match outcome {
        RunOutcome::Succeeded { summary, items } => RunOutcome::Succeeded {
            summary: summary.map(|text| log.redacted(&text)),
            items,
        },
        RunOutcome::Failed { message, retryable } => RunOutcome::Failed {
            message: log.redacted(&message),
            retryable,
        },
        fault => fault,
    };
    let http = state
        .http
        .stats
        .lock()
        .map(|stats| stats.clone())
        .unwrap_or_default();
    if http.requests > 0 {
        log.host_line(Level::Info, http.summary());
    }
    let sql = state.sql.stats.clone();
    if sql.statements > 0 {
        log.host_line(Level::Info, sql.summary());
    }
    if let Some(reason) = outcome.reason() {
        log.host_line(Level::Error, format!("run {}: {reason}", outcome.state()));
    }
    let log_lines_dropped = log.dropped();
    if log_lines_dropped > 0 {
        log.host_line(
            Level::Warn,
            format!(
                "{log_lines_dropped} log line(s) of this run were not kept: the host's record queue was full \
                 (the database slow or unreachable)"
            ),
        );
    }
    let outputs = state
        .outputs
        .iter()
        .map(|(key, value)| (key.clone(), log.redacted(value)))
        .collect();
    RunReport {
        outcome,
        started_at_ms,
        duration: started.elapsed(),
        log_bytes: log.bytes_used(),
        checkpoints_saved: state.checkpoints_saved,
        log_lines_dropped,
        http,
        sql,
        outputs,
    }
}

/// Resolves when the run must be stopped: at the deadline (after asking the job
/// to stop and waiting the grace period) or after a cancel plus the grace.
async fn watchdog(
    deadline: tokio::time::Instant,
    limits: &RunLimits,
    cancel: &CancelToken,
) -> RunFault {
    tokio::select! {
        () = tokio::time::sleep_until(deadline) => {
            cancel.cancel(CancelReason::Timeout);
            tokio::time::sleep(limits.cancel_grace).await;
            RunFault::TimedOut(limits.timeout)
        }
        reason = cancel.cancelled() => {
            tokio::time::sleep(limits.cancel_grace).await;
            if reason == CancelReason::Timeout {
                RunFault::TimedOut(limits.timeout)
            } else {
                RunFault::Cancelled(format!(
                    "{reason}; the job did not stop within {}",
                    format_duration(limits.cancel_grace)
                ))
            }
        }
    }
}

/// Names the fault behind a trap: a cap the host enforced, a panic, a stack
/// overflow, or the trap itself.
fn classify_trap(error: &wasmtime::Error, state: &RunData) -> RunFault {
    if let Some(fault) = &state.memory.exceeded {
        return fault.clone();
    }
    if let Some(fault) = error.downcast_ref::<RunFault>() {
        return fault.clone();
    }
    if state.log.flooded() {
        return RunFault::LogFlood(state.log.cap());
    }
    // `std::process::exit(3)` in a job: WASI's exit, not a crash.
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return RunFault::Exited(exit.0);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => RunFault::StackOverflow,
        Some(Trap::UnreachableCodeReached) => match state.log.panic_report() {
            Some(report) => RunFault::Panicked(report),
            None => RunFault::Trapped("unreachable instruction executed".to_owned()),
        },
        Some(Trap::MemoryOutOfBounds) => RunFault::Trapped(
            "out-of-bounds memory access (in a Rust job this is usually its shadow stack \
             overflowing: unbounded recursion or very large locals)"
                .to_owned(),
        ),
        Some(trap) => RunFault::Trapped(trap.to_string()),
        None => RunFault::Trapped(error_text(error)),
    }
}
