//! The dispatcher: claims pending runs this host may take (free capacity,
//! matching selector, offered to it or waiting past the offer window), runs
//! each in the sandbox, and records the outcome, fenced by node and attempt.
//! It also relays cancel requests to running runs, stops them all when the
//! host is fenced off the database, and, at shutdown, lets runs finish within
//! a grace period and hands the rest back as interrupted.

mod policy;
mod seams;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use policy::{completion, retry_delay_ms};
pub use seams::{DbCheckpoints, DbState, Recorder};

use crate::clock::now_ms;
use crate::labels::Labels;
use crate::plugins::ModuleRegistry;
use crate::runtime::io::RunIo;
use crate::runtime::{
    CancelToken, PageSpec, RunContext, RunFault, RunLimits, RunOutcome, RunRequest, Runtime,
};
use crate::scheduler::{definition::parse_params, missing_module};
use crate::store::{ClaimedRun, Completion, FencedCompletion, Store, StoreError};
use crate::units::ByteSize;

/// How this host dispatches.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// This host's node id.
    pub node_id: String,
    /// This host's labels (matched against task selectors).
    pub labels: Labels,
    /// Runs in flight at once on this host.
    pub max_concurrent_runs: usize,
    /// Limits for runs whose task sets none.
    pub default_limits: RunLimits,
    /// How long a run offered to another host waits before this one may
    /// take it.
    pub offer_window: Duration,
}

/// The cancel reason given to runs when the host shuts down.
const SHUTTING_DOWN: &str = "host shutting down";
/// The cancel reason given to runs when the host is fenced.
const FENCED: &str = "fenced: this host lost the database, so another host may take its runs over";

/// Claims and runs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    runtime: Arc<Runtime>,
    registry: Arc<ModuleRegistry>,
    config: DispatchConfig,
    node: Arc<str>,
    slots: Arc<Semaphore>,
    running: Mutex<HashMap<i64, CancelToken>>,
    shutting_down: AtomicBool,
    /// Set while this host cannot reach the database: it claims nothing.
    fenced: AtomicBool,
    /// Set when a claim took every free slot: runs may be waiting for one.
    saturated: AtomicBool,
    freed: tokio::sync::Notify,
    recorder: Recorder,
    io: RunIo,
}

impl Dispatcher {
    /// A dispatcher for this host. Starts the recorder on the current runtime.
    pub fn new(
        store: Store,
        runtime: Arc<Runtime>,
        registry: Arc<ModuleRegistry>,
        config: DispatchConfig,
    ) -> Self {
        let node: Arc<str> = Arc::from(config.node_id.as_str());
        let recorder = Recorder::start(store.clone());
        let io = RunIo {
            log: Arc::new(recorder.clone()),
            checkpoints: Arc::new(DbCheckpoints {
                store: store.clone(),
                node: node.clone(),
            }),
            state: Arc::new(DbState {
                store: store.clone(),
            }),
        };
        let slots = Arc::new(Semaphore::new(config.max_concurrent_runs));
        Self {
            inner: Arc::new(Inner {
                store,
                runtime,
                registry,
                config,
                node,
                slots,
                running: Mutex::new(HashMap::new()),
                shutting_down: AtomicBool::new(false),
                fenced: AtomicBool::new(false),
                saturated: AtomicBool::new(false),
                freed: tokio::sync::Notify::new(),
                recorder,
                io,
            }),
        }
    }

    /// Claims as many due runs as there is free capacity and starts them.
    /// Returns how many started. While there is a backlog, a claim waits for
    /// a batch of free slots unless `any_free` (the poll-interval claim, so
    /// long-running jobs never hold a backlog back for more than a poll).
    pub async fn claim_and_start(&self, any_free: bool) -> Result<usize, StoreError> {
        let inner = &self.inner;
        if inner.shutting_down.load(Ordering::SeqCst) || inner.fenced.load(Ordering::SeqCst) {
            return Ok(0);
        }
        let free = inner.slots.available_permits();
        // With a backlog (the last claim took every free slot), claim in
        // batches: a claim is a transaction, not worth making for one slot.
        if free == 0
            || (!any_free && inner.saturated.load(Ordering::SeqCst) && free < self.claim_batch())
        {
            return Ok(0);
        }
        let labels = &inner.config.labels;
        let claimed = inner
            .store
            .claim_runs(
                &inner.node,
                now_ms(),
                free as i64,
                inner.config.offer_window.as_millis() as i64,
                |selector| labels.satisfy(selector),
            )
            .await?;
        let started = claimed.len();
        inner.saturated.store(started == free, Ordering::SeqCst);
        for run in claimed {
            let Ok(permit) = inner.slots.clone().try_acquire_owned() else {
                tracing::error!(
                    run = run.id,
                    "claimed a run without a free slot; it is rescued when this host restarts"
                );
                continue;
            };
            let token = CancelToken::new();
            self.lock_running().insert(run.id, token.clone());
            tokio::spawn(self.clone().execute(run, token, permit));
        }
        Ok(started)
    }

    /// Passes cancel requests recorded in the database to the runs.
    pub async fn relay_cancel_requests(&self) -> Result<(), StoreError> {
        let requests = self.inner.store.cancel_requests(&self.inner.node).await?;
        for (id, reason) in requests {
            self.cancel(id, &reason);
        }
        Ok(())
    }

    /// Fencing: this host has lost the database for so long that other hosts
    /// may declare it dead and take its runs over. It stops claiming and asks
    /// every running run to stop (each is recorded as interrupted once the
    /// database is back, unless another host owns it by then). Returns how
    /// many runs were asked to stop.
    pub fn fence(&self) -> usize {
        self.inner.fenced.store(true, Ordering::SeqCst);
        let tokens: Vec<CancelToken> = self.lock_running().values().cloned().collect();
        for token in &tokens {
            token.cancel(FENCED);
        }
        tokens.len()
    }

    /// The database is reachable again: claim as usual.
    pub fn unfence(&self) {
        self.inner.fenced.store(false, Ordering::SeqCst);
    }

    /// Whether the host is fenced.
    pub fn is_fenced(&self) -> bool {
        self.inner.fenced.load(Ordering::SeqCst)
    }

    /// Asks run `id` to stop, if it runs here.
    pub fn cancel(&self, id: i64, reason: &str) {
        if let Some(token) = self.lock_running().get(&id) {
            token.cancel(reason);
        }
    }

    /// Stops claiming; waits up to `grace` for running runs; cancels the rest
    /// (they are recorded as interrupted and resume after a restart) and waits
    /// for them to be recorded.
    pub async fn shutdown(&self, grace: Duration) {
        let inner = &self.inner;
        inner.shutting_down.store(true, Ordering::SeqCst);
        let all = inner.config.max_concurrent_runs as u32;
        let drained = tokio::time::timeout(grace, inner.slots.acquire_many(all)).await;
        if let Ok(Ok(permits)) = drained {
            drop(permits);
        } else {
            let tokens: Vec<CancelToken> = self.lock_running().values().cloned().collect();
            tracing::warn!(
                runs = tokens.len(),
                "grace period over: interrupting the runs still going"
            );
            for token in tokens {
                token.cancel(SHUTTING_DOWN);
            }
            let wait = inner.config.default_limits.cancel_grace + Duration::from_secs(5);
            if let Ok(Ok(permits)) = tokio::time::timeout(wait, inner.slots.acquire_many(all)).await
            {
                drop(permits);
            }
        }
        if tokio::time::timeout(RECORD_FLUSH_LIMIT, inner.recorder.flush())
            .await
            .is_err()
        {
            tracing::error!(
                "could not store the last run records before exiting (database unreachable); \
                 runs still shown as running on this host are rescued when it or another host starts"
            );
        }
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CancelToken>> {
        self.inner.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn execute(self, run: ClaimedRun, cancel: CancelToken, permit: OwnedSemaphorePermit) {
        let inner = &self.inner;
        let (outcome, digest) = match inner.registry.get(&run.module) {
            None => (
                RunOutcome::Fault {
                    fault: RunFault::Instantiation(missing_module(&run.module)),
                },
                None,
            ),
            Some(job) => {
                let request = RunRequest {
                    context: context_of(&run),
                    limits: self.limits_of(&run),
                    io: inner.io.clone(),
                    cancel: cancel.clone(),
                };
                let report = inner.runtime.run(&job, request).await;
                (report.outcome, Some(job.digest().to_string()))
            }
        };
        let interrupted = match cancel.reason().as_deref() {
            Some(SHUTTING_DOWN) if inner.shutting_down.load(Ordering::SeqCst) => {
                Some("the host shut down before the run finished")
            }
            Some(FENCED) => Some("its host lost the database and stopped it (fencing)"),
            _ => None,
        };
        let record = completion(&outcome, &run, digest, now_ms(), interrupted);
        self.record(&run, record).await;
        self.lock_running().remove(&run.id);
        drop(permit);
        if inner.saturated.load(Ordering::SeqCst)
            && inner.slots.available_permits() >= self.claim_batch()
        {
            inner.freed.notify_one();
        }
    }

    /// Free slots worth a claim while there is a backlog: a quarter of them.
    fn claim_batch(&self) -> usize {
        (self.inner.config.max_concurrent_runs / 4).max(1)
    }

    /// Resolves when, after a claim had taken every free slot, a quarter of
    /// the slots are free again.
    pub async fn slot_freed(&self) {
        self.inner.freed.notified().await;
    }

    async fn record(&self, run: &ClaimedRun, record: Completion) {
        let inner = &self.inner;
        let state = record.state;
        let fenced = FencedCompletion {
            run_id: run.id,
            node: inner.config.node_id.clone(),
            attempt: run.attempt,
            paged: run.page_index.is_some(),
            completion: record,
        };
        if inner.recorder.complete(fenced).await {
            tracing::debug!(task = %run.task, run = run.id, state, "run recorded");
        } else {
            tracing::warn!(
                task = %run.task,
                run = run.id,
                attempt = run.attempt,
                "completion rejected: this host no longer owns the run (it was rescued by another host) \
                 or the database could not be written"
            );
        }
    }

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

/// How long shutdown waits for the last run records to reach the database.
const RECORD_FLUSH_LIMIT: Duration = Duration::from_secs(15);

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
