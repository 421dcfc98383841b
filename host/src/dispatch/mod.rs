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
    /// How far ahead of their time runs are claimed (each starts at its
    /// time): the scheduler's fire-ahead.
    pub claim_ahead: Duration,
}

/// Runs a host holds at most (running, or claimed and waiting for their time
/// or for a slot): this many per run slot, and at least [`MIN_HELD`], enough
/// for 10,000 fires/s claimed 500 ms ahead. A waiting run is a few hundred
/// bytes.
const HELD_PER_SLOT: usize = 8;
const MIN_HELD: usize = 8192;

/// How many runs a host with `max_concurrent_runs` slots holds at most.
fn held_limit(max_concurrent_runs: usize) -> usize {
    (max_concurrent_runs * HELD_PER_SLOT).max(MIN_HELD)
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
    /// Runs held (claimed, running or waiting): [`held_limit`].
    slots: Arc<Semaphore>,
    /// Runs executing: `max_concurrent_runs`.
    executing: Arc<Semaphore>,
    running: Mutex<HashMap<i64, CancelToken>>,
    selectors: Mutex<Selectors>,
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
        let slots = Arc::new(Semaphore::new(held_limit(config.max_concurrent_runs)));
        let executing = Arc::new(Semaphore::new(config.max_concurrent_runs));
        Self {
            inner: Arc::new(Inner {
                store,
                runtime,
                registry,
                config,
                node,
                slots,
                executing,
                running: Mutex::new(HashMap::new()),
                selectors: Mutex::new(Selectors::default()),
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
        let free = inner.slots.available_permits();
        // With a backlog (the last claim took every free slot), claim in
        // batches: a claim is a transaction, not worth making for one slot.
        if free == 0
            || (!any_free && inner.saturated.load(Ordering::SeqCst) && free < self.claim_batch())
        {
            return Ok(0);
        }
        // The slots are taken before the claim, so a run is never claimed
        // without one (the scheduler sets slots aside the same way).
        let reservation = self.reserve();
        let reserved = reservation.len();
        if reserved == 0 {
            return Ok(0);
        }
        if any_free {
            self.learn_selectors().await?;
        }
        let accepted = self.lock_selectors().accepted.clone();
        let now = now_ms();
        let claimed = inner
            .store
            .claim_runs(
                &inner.node,
                now,
                now + inner.config.claim_ahead.as_millis() as i64,
                reserved as i64,
                inner.config.offer_window.as_millis() as i64,
                &accepted,
            )
            .await?;
        let started = claimed.len();
        inner.saturated.store(started == reserved, Ordering::SeqCst);
        self.start_claimed(claimed, reservation);
        Ok(started)
    }

    /// Sorts the selectors of pending runs not seen before into those this
    /// host's labels satisfy and those they do not, so claims can pick runs
    /// in one statement (runs offered to this host need no learning: the
    /// offering host matched the labels).
    async fn learn_selectors(&self) -> Result<(), StoreError> {
        let known = self.lock_selectors().known.clone();
        let new = self.inner.store.pending_selectors(now_ms(), &known).await?;
        if new.is_empty() {
            return Ok(());
        }
        let mut selectors = self.lock_selectors();
        for selector in new {
            if self.inner.config.labels.satisfy(Some(&selector)) {
                selectors.accepted.push(selector.clone());
            }
            selectors.known.push(selector);
        }
        Ok(())
    }

    fn lock_selectors(&self) -> std::sync::MutexGuard<'_, Selectors> {
        self.inner
            .selectors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Sets every free slot aside for runs the scheduler claims as it fires
    /// them ([`crate::store::ClaimAtFire`]); nothing while shutting down or
    /// fenced. Slots not used go back when the reservation is dropped.
    pub fn reserve(&self) -> Reservation {
        let inner = &self.inner;
        if inner.shutting_down.load(Ordering::SeqCst) || inner.fenced.load(Ordering::SeqCst) {
            return Reservation { permit: None };
        }
        let free = inner.slots.available_permits() as u32;
        Reservation {
            permit: (free > 0)
                .then(|| inner.slots.clone().try_acquire_many_owned(free).ok())
                .flatten(),
        }
    }

    /// Starts claimed runs, each on a slot of `reservation`; the slots left
    /// over go back.
    pub fn start_claimed(&self, runs: Vec<ClaimedRun>, mut reservation: Reservation) {
        let all_used = !runs.is_empty() && runs.len() >= reservation.len();
        for run in runs {
            match reservation.permit.as_mut().and_then(|p| p.split(1)) {
                Some(permit) => self.start(run, permit),
                None => tracing::error!(
                    run = run.id,
                    "claimed more runs than slots were set aside; it is rescued when this host restarts"
                ),
            }
        }
        if all_used {
            self.inner.saturated.store(true, Ordering::SeqCst);
        }
    }

    fn start(&self, run: ClaimedRun, permit: OwnedSemaphorePermit) {
        let token = CancelToken::new();
        self.lock_running().insert(run.id, token.clone());
        tokio::spawn(self.clone().execute(run, token, permit));
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
        let all = held_limit(inner.config.max_concurrent_runs) as u32;
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
        let (outcome, digest, started_at) = match self.wait_for_start(&run, &cancel).await {
            Err(reason) => (
                RunOutcome::Fault {
                    fault: RunFault::Cancelled(reason),
                },
                None,
                None,
            ),
            Ok(executing) => {
                let started_at = now_ms();
                let (outcome, digest) = self.run_job(&run, &cancel).await;
                drop(executing);
                (outcome, digest, Some(started_at))
            }
        };
        let interrupted = match cancel.reason().as_deref() {
            Some(SHUTTING_DOWN) if inner.shutting_down.load(Ordering::SeqCst) => {
                Some("the host shut down before the run finished")
            }
            Some(FENCED) => Some("its host lost the database and stopped it (fencing)"),
            _ => None,
        };
        let mut record = completion(&outcome, &run, digest, now_ms(), interrupted);
        record.started_at = started_at;
        // The outcome is queued before the slot is given back (so shutdown,
        // which waits for every slot, then flushes, never misses it), but the
        // slot does not wait for the database write: a trivial job would
        // otherwise hold its slot a thousand times longer than it ran.
        let recorded = self.record(&run, record);
        self.lock_running().remove(&run.id);
        drop(permit);
        if inner.saturated.load(Ordering::SeqCst)
            && inner.slots.available_permits() >= self.claim_batch()
        {
            inner.freed.notify_one();
        }
        recorded.await;
    }

    /// Waits for the run's time, then for a free execution slot; returns
    /// the slot, or the cancel reason if the run was cancelled meanwhile.
    async fn wait_for_start(
        &self,
        run: &ClaimedRun,
        cancel: &CancelToken,
    ) -> Result<OwnedSemaphorePermit, String> {
        let wait = Duration::from_millis((run.not_before - now_ms()).max(0) as u64);
        tokio::select! {
            biased;
            reason = cancel.cancelled() => Err(reason),
            executing = async {
                tokio::time::sleep(wait).await;
                self.inner.executing.clone().acquire_owned().await
            } => executing.map_err(|_| "the host is stopping".to_owned()),
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
                    fault: RunFault::Instantiation(missing_module(&run.module)),
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

    /// Free slots worth a claim while there is a backlog: a quarter of them.
    fn claim_batch(&self) -> usize {
        (self.inner.config.max_concurrent_runs / 4).max(1)
    }

    /// Resolves when, after a claim had taken every free slot, a quarter of
    /// the slots are free again.
    pub async fn slot_freed(&self) {
        self.inner.freed.notified().await;
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
                tracing::debug!(task = %task, run = id, state, "run recorded");
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

/// Run selectors this host has seen: all of them, and those its labels
/// satisfy. Labels do not change while a host runs, so neither list is ever
/// wrong, only incomplete (selectors are learned at the poll interval).
#[derive(Debug, Default)]
struct Selectors {
    known: Vec<String>,
    accepted: Vec<String>,
}

/// Slots set aside by [`Dispatcher::reserve`].
#[derive(Debug)]
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
}

impl Reservation {
    /// Slots still set aside.
    pub fn len(&self) -> usize {
        self.permit.as_ref().map_or(0, |p| p.num_permits())
    }

    /// Whether no slot is set aside.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
