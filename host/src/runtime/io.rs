//! The narrow seams between a running job and the rest of the host: where its
//! log lines go ([`LogSink`]), where its checkpoints are kept
//! ([`CheckpointStore`]), where its task's state lives ([`StateStore`]) and
//! who sends its outbound HTTP requests, deciding what it may reach
//! ([`HttpSender`]), where the secrets its task is granted come from
//! ([`SecretSource`]) and who runs its SQL ([`SqlSource`]).
//!
//! The runtime only calls these traits. The dispatcher implements them on the
//! database (its recorder is the log sink; its store seams write checkpoints
//! and task state through), and [`memory`] implements them in memory for
//! `carillon run` and tests. Nothing here knows about SQL.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;

use crate::vocab::{SqlRows, SqlValue};

/// A boxed, sendable future: what the async seams return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Identifies the run a seam call is made for: task, run id and attempt (the
/// attempt lets a store reject writes from an attempt that no longer owns the run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunKey {
    /// The task's name.
    pub task: Arc<str>,
    /// The run's id (one per task, slot and shard).
    pub run_id: u64,
    /// The attempt making the call.
    pub attempt: u32,
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Finest detail.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something odd that did not stop the run.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    /// Lower-case name: `trace` … `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// The `log` import.
    Guest,
    /// The guest's stdout, one line per line.
    Stdout,
    /// The guest's stderr, one line per line.
    Stderr,
    /// The host, about the run (e.g. why it stopped).
    Host,
}

/// One recorded log line of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Position in the run's log, from 0.
    pub seq: u32,
    /// When the line was written, ms since the Unix epoch.
    pub at_ms: i64,
    /// Severity.
    pub level: Level,
    /// Where it came from.
    pub source: LogSource,
    /// The text.
    pub message: String,
    /// Structured fields, in the order the job gave them.
    pub fields: Vec<(String, String)>,
}

/// Receives a run's log lines as they are written. Must not block: buffer and
/// write in batches elsewhere.
pub trait LogSink: Send + Sync {
    /// Take one line of `run`'s log; false if the sink could not hold it
    /// (full), in which case the run counts it as dropped. Lines from the
    /// host ([`LogSource::Host`], a few per run) should always be kept.
    fn write(&self, run: &RunKey, line: LogLine) -> bool;
}

/// Why a seam did not do what the job asked. Either way the job is told
/// (it may carry on); an [`Unavailable`](SeamError::Unavailable) seam also
/// marks the run as failed by the host, not by the job, if it then fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeamError {
    /// Refused for a reason of the run's own (e.g. another host owns it now).
    #[error("{0}")]
    Refused(String),
    /// The host could not do it (its database failed).
    #[error("{0}")]
    Unavailable(String),
}

/// Keeps checkpoints durably, one per run (the last one saved).
pub trait CheckpointStore: Send + Sync {
    /// Replace `run`'s checkpoint with `data`.
    fn save<'a>(&'a self, run: &'a RunKey, data: Vec<u8>) -> BoxFuture<'a, Result<(), SeamError>>;
}

/// Per-task key/value state that persists between runs.
pub trait StateStore: Send + Sync {
    /// The value under `key` for `task`.
    fn get<'a>(
        &'a self,
        task: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, SeamError>>;
    /// Store `value` under `key` for `task`.
    fn set<'a>(
        &'a self,
        task: &'a str,
        key: &'a str,
        value: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), SeamError>>;
    /// Remove `key` for `task`.
    fn delete<'a>(&'a self, task: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), SeamError>>;
}

/// An error inside a streamed body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streamed request or answer body.
pub type HttpBody = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, BoxError>;

/// Why a job's request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpSendError {
    /// The host does not let the run reach it: says which list refused what.
    #[error("{0}")]
    Refused(String),
    /// It was allowed but failed on the way.
    #[error("{message}")]
    Failed {
        /// Where it failed, as the job is told.
        kind: HttpFailure,
        /// What happened, for the run's log.
        message: String,
    },
}

/// Where an allowed request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFailure {
    /// The name did not resolve.
    Dns,
    /// No connection could be made.
    Connect,
    /// The TLS handshake failed.
    Tls,
    /// No answer in time.
    Timeout,
    /// The exchange broke off.
    Protocol,
}

/// Sends a job's outbound HTTP requests, after deciding that the run may
/// reach the URL (its task's grant and the host's ceiling).
pub trait HttpSender: Send + Sync {
    /// Sends `request` for `run`, with its answer's head due within
    /// `timeout`. The future owns what it needs (it outlives the call).
    fn send(
        &self,
        run: &RunKey,
        request: http::Request<HttpBody>,
        timeout: std::time::Duration,
    ) -> BoxFuture<'static, Result<http::Response<HttpBody>, HttpSendError>>;
}

/// The secrets a run's task is granted.
pub trait SecretSource: Send + Sync {
    /// The value of secret `name`, if `run`'s task is granted it and it is
    /// set; else why not ([`SeamError::Refused`], said to the job).
    fn secret<'a>(
        &'a self,
        run: &'a RunKey,
        name: &'a str,
    ) -> BoxFuture<'a, Result<String, SeamError>>;
}

/// Runs a job's SQL on the databases its task is granted.
pub trait SqlSource: Send + Sync {
    /// The rows of query `statement` on `database`, with `params` bound,
    /// if `run`'s task is granted `database`; else why not
    /// ([`SeamError::Refused`], said to the job).
    fn query<'a>(
        &'a self,
        run: &'a RunKey,
        database: &'a str,
        statement: &'a str,
        params: Vec<SqlValue>,
    ) -> BoxFuture<'a, Result<SqlRows, SeamError>>;
    /// The rows `statement` affected on `database`.
    fn execute<'a>(
        &'a self,
        run: &'a RunKey,
        database: &'a str,
        statement: &'a str,
        params: Vec<SqlValue>,
    ) -> BoxFuture<'a, Result<u64, SeamError>>;
}

/// The seams a run talks to, bundled.
#[derive(Clone)]
pub struct RunIo {
    /// Where log lines go.
    pub log: Arc<dyn LogSink>,
    /// Where checkpoints go.
    pub checkpoints: Arc<dyn CheckpointStore>,
    /// Where task state lives.
    pub state: Arc<dyn StateStore>,
    /// Who sends its HTTP requests; `None`: every request is refused.
    pub http: Option<Arc<dyn HttpSender>>,
    /// Where its granted secrets come from; `None`: no secrets.
    pub secrets: Option<Arc<dyn SecretSource>>,
    /// Who runs its SQL; `None`: every statement is refused.
    pub sql: Option<Arc<dyn SqlSource>>,
}

impl std::fmt::Debug for RunIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunIo").finish_non_exhaustive()
    }
}

/// In-memory implementations of the seams, for `carillon run` and tests.
pub mod memory {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::Mutex;

    use super::*;

    /// Collects log lines in memory.
    #[derive(Debug, Default)]
    pub struct MemoryLog {
        lines: Mutex<Vec<(u64, LogLine)>>,
    }

    impl MemoryLog {
        /// The lines written for `run_id`, in order.
        pub fn lines_of(&self, run_id: u64) -> Vec<LogLine> {
            let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
            lines
                .iter()
                .filter(|(id, _)| *id == run_id)
                .map(|(_, line)| line.clone())
                .collect()
        }
    }

    impl LogSink for MemoryLog {
        fn write(&self, run: &RunKey, line: LogLine) -> bool {
            let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
            lines.push((run.run_id, line));
            true
        }
    }

    /// Keeps the last checkpoint of each run in memory.
    #[derive(Debug, Default)]
    pub struct MemoryCheckpoints {
        by_run: Mutex<HashMap<u64, Vec<u8>>>,
    }

    impl MemoryCheckpoints {
        /// The last checkpoint saved for `run_id`.
        pub fn last(&self, run_id: u64) -> Option<Vec<u8>> {
            let by_run = self.by_run.lock().unwrap_or_else(|e| e.into_inner());
            by_run.get(&run_id).cloned()
        }
    }

    impl CheckpointStore for MemoryCheckpoints {
        fn save<'a>(
            &'a self,
            run: &'a RunKey,
            data: Vec<u8>,
        ) -> BoxFuture<'a, Result<(), SeamError>> {
            let mut by_run = self.by_run.lock().unwrap_or_else(|e| e.into_inner());
            by_run.insert(run.run_id, data);
            Box::pin(std::future::ready(Ok(())))
        }
    }

    /// Task state in memory.
    #[derive(Debug, Default)]
    pub struct MemoryState {
        values: Mutex<BTreeMap<(String, String), Vec<u8>>>,
    }

    impl StateStore for MemoryState {
        fn get<'a>(
            &'a self,
            task: &'a str,
            key: &'a str,
        ) -> BoxFuture<'a, Result<Option<Vec<u8>>, SeamError>> {
            let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
            let value = values.get(&(task.to_owned(), key.to_owned())).cloned();
            Box::pin(std::future::ready(Ok(value)))
        }

        fn set<'a>(
            &'a self,
            task: &'a str,
            key: &'a str,
            value: Vec<u8>,
        ) -> BoxFuture<'a, Result<(), SeamError>> {
            let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
            values.insert((task.to_owned(), key.to_owned()), value);
            Box::pin(std::future::ready(Ok(())))
        }

        fn delete<'a>(
            &'a self,
            task: &'a str,
            key: &'a str,
        ) -> BoxFuture<'a, Result<(), SeamError>> {
            let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
            values.remove(&(task.to_owned(), key.to_owned()));
            Box::pin(std::future::ready(Ok(())))
        }
    }

    /// Secrets given by name, readable by any run (`carillon run --secret`).
    #[derive(Debug, Default)]
    pub struct MemorySecrets {
        values: BTreeMap<String, String>,
    }

    impl MemorySecrets {
        /// These secrets.
        pub fn new(values: BTreeMap<String, String>) -> Self {
            Self { values }
        }
    }

    impl SecretSource for MemorySecrets {
        fn secret<'a>(
            &'a self,
            _run: &'a RunKey,
            name: &'a str,
        ) -> BoxFuture<'a, Result<String, SeamError>> {
            let value = self.values.get(name).cloned().ok_or_else(|| {
                SeamError::Refused(format!(
                    "secret `{name}` is not granted; give it with --secret {name}=VALUE"
                ))
            });
            Box::pin(std::future::ready(value))
        }
    }

    /// A [`RunIo`] backed entirely by fresh in-memory stores; also returns the
    /// log and checkpoint stores so the caller can read them back.
    pub fn run_io() -> (RunIo, Arc<MemoryLog>, Arc<MemoryCheckpoints>) {
        let log = Arc::new(MemoryLog::default());
        let checkpoints = Arc::new(MemoryCheckpoints::default());
        let io = RunIo {
            log: log.clone(),
            checkpoints: checkpoints.clone(),
            state: Arc::new(MemoryState::default()),
            http: None,
            secrets: None,
            sql: None,
        };
        (io, log, checkpoints)
    }
}
