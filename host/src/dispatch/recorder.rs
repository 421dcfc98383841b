//! The recorder: the runtime's log seam ([`LogSink`]) and the dispatcher's
//! completions, queued to one task that writes them in batches, one
//! transaction per batch, in the order they were sent (so a run's log is
//! stored before it shows as finished), held and retried while the database
//! is unreachable or full.
//!
//! Memory is bounded: queued log lines may take [`QUEUE_LIMIT`] bytes; past
//! it a job's further lines are dropped and counted on its run (jobs that
//! flood their logs lose lines, not the host its memory, and other tasks
//! keep running). Completions are never dropped, and neither are the host's
//! own lines about a run (a few per run); while more than
//! [`COMPLETION_LIMIT`] wait (the database is slow or away) the recorder is
//! backed up and the dispatcher claims no new runs (backpressure).
//!
//! Each batch also carries this host's start watermark (every run it holds
//! that was due by then has begun), so that after a crash a run claimed
//! ahead that never started is not counted as an attempt.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::clock::now_ms;
use crate::runtime::io::{Level, LogLine, LogSink, LogSource, RunKey};
use crate::store::{FencedCompletion, Store, StoredLogLine};

/// Records per batch at most; a batch also closes after this long.
const BATCH_RECORDS: usize = 2000;
const BATCH_WINDOW: Duration = Duration::from_millis(5);

/// The most bytes of log lines the queue holds (message, fields and a
/// line's fixed cost): 64 MiB.
pub const QUEUE_LIMIT: usize = 64 << 20;

/// Completions waiting past which no new runs are claimed.
pub const COMPLETION_LIMIT: usize = 10_000;

/// What a queued line is counted as, beyond its text.
const LINE_OVERHEAD: usize = 160;

enum Message {
    Line(StoredLogLine, usize),
    Complete(FencedCompletion, oneshot::Sender<bool>),
    Flush(oneshot::Sender<()>),
    /// The start watermark moved: write it with the next batch.
    Started,
}

/// Queues log lines and completions and writes them in batches.
#[derive(Debug, Clone)]
pub struct Recorder {
    sender: mpsc::UnboundedSender<Message>,
    queue: Arc<Queue>,
}

/// What the writer and the senders share.
#[derive(Debug)]
struct Queue {
    /// Bytes of log lines queued or being written.
    bytes: AtomicUsize,
    /// Completions queued or being written.
    completions: AtomicUsize,
    /// This host's start watermark (ms), `i64::MIN` before the first.
    started_through: AtomicI64,
    node: Arc<str>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Message")
    }
}

impl Recorder {
    /// Starts the recorder task of host `node` on the current runtime.
    pub fn start(store: Store, node: Arc<str>) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let queue = Arc::new(Queue {
            bytes: AtomicUsize::new(0),
            completions: AtomicUsize::new(0),
            started_through: AtomicI64::new(i64::MIN),
            node,
        });
        tokio::spawn(write_batches(store, receiver, queue.clone()));
        Self { sender, queue }
    }

    /// Queues a completion now, after every line sent before it; the
    /// returned future resolves to whether it was accepted (false: this node
    /// no longer owns the run, or the database could not be written).
    pub fn submit(
        &self,
        completion: FencedCompletion,
    ) -> impl std::future::Future<Output = bool> + use<> {
        let (done, wait) = oneshot::channel();
        self.queue.completions.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .sender
            .send(Message::Complete(completion, done))
            .is_ok();
        if !sent {
            self.queue.completions.fetch_sub(1, Ordering::Relaxed);
        }
        async move { sent && wait.await.unwrap_or(false) }
    }

    /// Resolves once everything sent before the call is in the database.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Whether more than [`COMPLETION_LIMIT`] completions wait for the
    /// database: claim nothing new until they are written.
    pub fn is_backed_up(&self) -> bool {
        self.queue.completions.load(Ordering::Relaxed) > COMPLETION_LIMIT
    }

    /// Bytes of log lines queued now.
    pub fn queued_bytes(&self) -> usize {
        self.queue.bytes.load(Ordering::Relaxed)
    }

    /// Every run this host holds that was due by `through` (ms) has begun;
    /// written with the next batch.
    pub fn started_through(&self, through: i64) {
        let before = self
            .queue
            .started_through
            .fetch_max(through, Ordering::Relaxed);
        if through > before {
            let _ = self.sender.send(Message::Started);
        }
    }
}

async fn write_batches(
    store: Store,
    mut receiver: mpsc::UnboundedReceiver<Message>,
    queue: Arc<Queue>,
) {
    let mut written_through = i64::MIN;
    while let Some(first) = receiver.recv().await {
        let mut lines = Vec::new();
        let mut line_bytes = 0;
        let mut completions = Vec::new();
        let mut replies = Vec::new();
        let mut flushes = Vec::new();
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Line(line, bytes) => {
                    lines.push(line);
                    line_bytes += bytes;
                }
                Message::Complete(completion, reply) => {
                    completions.push(completion);
                    replies.push(reply);
                }
                Message::Flush(done) => flushes.push(done),
                Message::Started => {}
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
        // The watermark goes with the batch when it moved since the last one.
        let through = queue.started_through.load(Ordering::Relaxed);
        let started = (through > written_through).then_some((&*queue.node, through));
        let accepted = store_batch(&store, &lines, &completions, started).await;
        written_through = written_through.max(through);
        queue.bytes.fetch_sub(line_bytes, Ordering::Relaxed);
        queue
            .completions
            .fetch_sub(completions.len(), Ordering::Relaxed);
        for (reply, accepted) in replies.into_iter().zip(accepted) {
            let _ = reply.send(accepted);
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Writes one batch. While the database is unreachable or full the batch is
/// kept and tried again (a completion dropped here would leave its run
/// `running`, to be run again after a restart); once it is back, completions
/// of runs another host took over meanwhile are rejected by the fence.
async fn store_batch(
    store: &Store,
    lines: &[StoredLogLine],
    completions: &[FencedCompletion],
    started: Option<(&str, i64)>,
) -> Vec<bool> {
    let mut pause = Duration::from_millis(100);
    let mut warned = false;
    loop {
        match store.record(lines, completions, started, now_ms()).await {
            Ok(accepted) => {
                if warned {
                    tracing::warn!("run records stored again: the held ones are in the database");
                }
                return accepted;
            }
            Err(error) if error.may_pass() && !store.is_closed() => {
                if !warned {
                    tracing::error!(
                        lines = lines.len(),
                        completions = completions.len(),
                        "cannot store run records, holding them (no new runs are claimed while \
                         {COMPLETION_LIMIT} completions wait) until the database takes them: {error}"
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
    fn write(&self, run: &RunKey, line: LogLine) -> bool {
        let bytes = LINE_OVERHEAD
            + line.message.len()
            + line
                .fields
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        let queued = self.queue.bytes.fetch_add(bytes, Ordering::Relaxed);
        if queued + bytes > QUEUE_LIMIT && line.source != LogSource::Host {
            self.queue.bytes.fetch_sub(bytes, Ordering::Relaxed);
            return false;
        }
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
        if self.sender.send(Message::Line(stored, bytes)).is_err() {
            self.queue.bytes.fetch_sub(bytes, Ordering::Relaxed);
        }
        true
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
