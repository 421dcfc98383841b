//! The runtime's seams ([`crate::runtime::io`]) on the database: log lines
//! buffered and written in batches by one writer task, checkpoints written
//! through (fenced by node and attempt), task state read and written through.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::runtime::io::{
    BoxFuture, CheckpointStore, Level, LogLine, LogSink, LogSource, RunKey, StateStore,
};
use crate::store::{Store, StoredLogLine};

/// Lines written per batch at most; a batch also closes after this long.
const BATCH_LINES: usize = 1000;
const BATCH_WINDOW: Duration = Duration::from_millis(50);

enum Message {
    Line(StoredLogLine),
    Flush(oneshot::Sender<()>),
}

/// Buffers run log lines and writes them in batches.
#[derive(Debug, Clone)]
pub struct LogWriter {
    sender: mpsc::UnboundedSender<Message>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Message")
    }
}

impl LogWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(store, receiver));
        Self { sender }
    }

    /// Resolves once every line sent before the call is in the database.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_batches(store: Store, mut receiver: mpsc::UnboundedReceiver<Message>) {
    while let Some(first) = receiver.recv().await {
        let mut lines = Vec::new();
        let mut flushes = Vec::new();
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Line(line) => lines.push(line),
                Message::Flush(done) => flushes.push(done),
            }
            if lines.len() >= BATCH_LINES || !flushes.is_empty() {
                break;
            }
            next = match receiver.try_recv() {
                Ok(message) => Some(message),
                Err(_) => tokio::time::timeout_at(deadline, receiver.recv())
                    .await
                    .ok()
                    .flatten(),
            };
        }
        // Take whatever else is queued, so a flush covers everything sent before it.
        while let Ok(message) = receiver.try_recv() {
            match message {
                Message::Line(line) => lines.push(line),
                Message::Flush(done) => flushes.push(done),
            }
        }
        if let Err(error) = store.append_logs(&lines).await {
            tracing::error!(
                lines = lines.len(),
                "run log lines were not stored: {error}"
            );
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

impl LogSink for LogWriter {
    fn write(&self, run: &RunKey, line: LogLine) {
        trace_line(run, &line);
        let fields = (!line.fields.is_empty())
            .then(|| serde_json::to_string(&line.fields).unwrap_or_default());
        let stored = StoredLogLine {
            run_id: run.run_id as i64,
            attempt: i64::from(run.attempt),
            seq: i64::from(line.seq),
            at: line.at_ms,
            level: line.level.as_str().to_owned(),
            source: source_name(line.source).to_owned(),
            message: line.message,
            fields,
        };
        let _ = self.sender.send(Message::Line(stored));
    }
}

fn source_name(source: LogSource) -> &'static str {
    match source {
        LogSource::Guest => "guest",
        LogSource::Stdout => "stdout",
        LogSource::Stderr => "stderr",
        LogSource::Host => "host",
    }
}

/// Every run log line also goes to the host's tracing output.
fn trace_line(run: &RunKey, line: &LogLine) {
    let task = &*run.task;
    let id = run.run_id;
    let message = &line.message;
    match line.level {
        Level::Trace => tracing::trace!(target: "carillon::job", task, run = id, "{message}"),
        Level::Debug => tracing::debug!(target: "carillon::job", task, run = id, "{message}"),
        Level::Info => tracing::info!(target: "carillon::job", task, run = id, "{message}"),
        Level::Warn => tracing::warn!(target: "carillon::job", task, run = id, "{message}"),
        Level::Error => tracing::error!(target: "carillon::job", task, run = id, "{message}"),
    }
}

/// Checkpoints on the `runs` row, accepted only from the owning attempt.
#[derive(Debug, Clone)]
pub struct DbCheckpoints {
    pub(crate) store: Store,
    pub(crate) node: Arc<str>,
}

impl CheckpointStore for DbCheckpoints {
    fn save<'a>(&'a self, run: &'a RunKey, data: Vec<u8>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            match self.store.save_checkpoint(run.run_id as i64, &self.node, i64::from(run.attempt), &data).await {
                Ok(true) => Ok(()),
                Ok(false) => Err("this host no longer owns the run (another host took it over); progress was not saved".to_owned()),
                Err(error) => Err(format!("checkpoint not saved: {error}")),
            }
        })
    }
}

/// Task state in the `task_state` table.
#[derive(Debug, Clone)]
pub struct DbState {
    pub(crate) store: Store,
}

impl StateStore for DbState {
    fn get<'a>(
        &'a self,
        task: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, String>> {
        Box::pin(async move {
            self.store
                .state_get(task, key)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn set<'a>(
        &'a self,
        task: &'a str,
        key: &'a str,
        value: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.store
                .state_set(task, key, &value, crate::clock::now_ms())
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn delete<'a>(&'a self, task: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.store
                .state_delete(task, key)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
