//! The recorder: the runtime's log seam ([`LogSink`]) and the dispatcher's
//! completions, queued to one task that writes them in batches, one
//! transaction per batch, in the order they were sent (so a run's log is
//! stored before it shows as finished), held and retried while the database
//! is unreachable.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::clock::now_ms;
use crate::runtime::io::{Level, LogLine, LogSink, LogSource, RunKey};
use crate::store::{FencedCompletion, Store, StoredLogLine};

/// Records per batch at most; a batch also closes after this long.
const BATCH_RECORDS: usize = 2000;
const BATCH_WINDOW: Duration = Duration::from_millis(5);

enum Message {
    Line(StoredLogLine),
    Complete(FencedCompletion, oneshot::Sender<bool>),
    Flush(oneshot::Sender<()>),
}

/// Queues log lines and completions and writes them in batches.
#[derive(Debug, Clone)]
pub struct Recorder {
    sender: mpsc::UnboundedSender<Message>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Message")
    }
}

impl Recorder {
    /// Starts the recorder task on the current runtime.
    pub fn start(store: Store) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(store, receiver));
        Self { sender }
    }

    /// Queues a completion now, after every line sent before it; the
    /// returned future resolves to whether it was accepted (false: this node
    /// no longer owns the run, or the database could not be written).
    pub fn submit(
        &self,
        completion: FencedCompletion,
    ) -> impl std::future::Future<Output = bool> + use<> {
        let (done, wait) = oneshot::channel();
        let sent = self
            .sender
            .send(Message::Complete(completion, done))
            .is_ok();
        async move { sent && wait.await.unwrap_or(false) }
    }

    /// Resolves once everything sent before the call is in the database.
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
        let mut completions = Vec::new();
        let mut replies = Vec::new();
        let mut flushes = Vec::new();
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Line(line) => lines.push(line),
                Message::Complete(completion, reply) => {
                    completions.push(completion);
                    replies.push(reply);
                }
                Message::Flush(done) => flushes.push(done),
            }
            if lines.len() + completions.len() >= BATCH_RECORDS {
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
        let accepted = store_batch(&store, &lines, &completions).await;
        for (reply, accepted) in replies.into_iter().zip(accepted) {
            let _ = reply.send(accepted);
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Writes one batch. While the database is unreachable the batch is kept and
/// tried again (a completion dropped here would leave its run `running` on a
/// live host for ever); once it is back, completions of runs another host
/// took over meanwhile are rejected by the fence.
async fn store_batch(
    store: &Store,
    lines: &[StoredLogLine],
    completions: &[FencedCompletion],
) -> Vec<bool> {
    let mut pause = Duration::from_millis(100);
    let mut warned = false;
    loop {
        match store.record(lines, completions, now_ms()).await {
            Ok(accepted) => {
                if warned {
                    tracing::info!("database reachable again: held run records stored");
                }
                return accepted;
            }
            Err(error) if error.is_transient() && !store.is_closed() => {
                if !warned {
                    tracing::error!(
                        lines = lines.len(),
                        completions = completions.len(),
                        "cannot store run records, holding them until the database is back: {error}"
                    );
                    warned = true;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Err(error) => {
                tracing::error!(
                    lines = lines.len(),
                    completions = completions.len(),
                    "run records were not stored: {error}"
                );
                return vec![false; completions.len()];
            }
        }
    }
}

impl LogSink for Recorder {
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
