//! The dispatcher: claims pending runs this host may take (free permits,
//! matching selector, offered to it or waiting past the offer window), runs
//! each in the sandbox (`execute.rs`) or, for an HTTP task, makes its call
//! (`http_task.rs`), or for a workflow task starts the workflow
//! (`workflow_task.rs`), and records the outcome, fenced by
//! node and attempt (`completion.rs` decides what to record, `recorder.rs`
//! writes it in batches). It relays cancel requests to running runs, is the
//! cluster's [`Fence`] (fenced off the database: claim nothing, stop every
//! run), and, at shutdown, lets runs finish within a grace period and hands the
//! rest back as interrupted. Capacity is counted in permits (`permits.rs`); the
//! runtime's checkpoint and state seams are written through (`store_io.rs`),
//! its HTTP seam decides what a job may reach (`job_http.rs`) and its SQL
//! seam which databases (`job_databases.rs`).

mod completion;
mod execute;
mod http_task;
mod job_databases;
mod job_http;
mod permits;
mod recorder;
mod store_io;
mod watermark;
mod workflow_task;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use completion::{completion, retry_delay_ms};
pub use job_databases::{JobSql, SqlGrant};
pub use job_http::{HttpGrant, JobHttp};
pub use permits::Reservation;
pub use recorder::{COMPLETION_LIMIT, QUEUE_LIMIT, Recorder};
pub use store_io::{StoreCheckpoints, StoreState};

use crate::clock::now_ms;
use crate::cluster::liveness::Fence;
use crate::egress::Egress;
use crate::labels::Labels;
use crate::plugins::ModuleRegistry;
use crate::runtime::io::RunIo;
use crate::runtime::{CancelToken, Mount, RunLimits, Runtime};
use crate::secrets::Secrets;
use crate::store::{ClaimedRun, JobDatabases, Store, StoreError};
use crate::vocab::CancelReason;
use permits::Permits;
use watermark::StartWatermark;

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
    /// The client HTTP tasks and jobs' `wasi:http` requests go through,
    /// under the host's ceiling.
    pub egress: Arc<Egress>,
    /// The secrets runs may be granted.
    pub secrets: Secrets,
    /// The folders runs may be granted (`[mounts.NAME]`), by name.
    pub mounts: Arc<BTreeMap<String, Mount>>,
    /// The databases runs may be granted (`[databases.NAME]`).
    pub databases: JobDatabases,
}

/// How long shutdown waits for the last run records to reach the database.
const RECORD_FLUSH_LIMIT: Duration = Duration::from_secs(15);

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
    permits: Permits,
    /// Runs held but not begun, for the start watermark.
    watermark: Arc<StartWatermark>,
    running: Mutex<HashMap<i64, CancelToken>>,
    selectors: Mutex<Selectors>,
    shutting_down: AtomicBool,
    /// Set while this host cannot reach the database: it claims nothing.
    fenced: AtomicBool,
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
        let recorder = Recorder::start(store.clone(), node.clone());
        let io = RunIo {
            log: Arc::new(recorder.clone()),
            checkpoints: Arc::new(StoreCheckpoints::new(store.clone(), node.clone())),
            state: Arc::new(StoreState::new(store.clone())),
            http: Some(Arc::new(JobHttp::new(
                config.egress.clone(),
                HttpGrant::TaskColumn(store.clone()),
            ))),
            secrets: Some(Arc::new(config.secrets.clone())),
            sql: Some(Arc::new(JobSql::new(
                config.databases.clone(),
                SqlGrant::TaskColumn(store.clone()),
            ))),
        };
        let permits = Permits::new(config.max_concurrent_runs);
        Self {
            inner: Arc::new(Inner {
                store,
                runtime,
                registry,
                config,
                node,
                permits,
                watermark: Arc::default(),
                running: Mutex::new(HashMap::new()),
                selectors: Mutex::new(Selectors::default()),
                shutting_down: AtomicBool::new(false),
                fenced: AtomicBool::new(false),
                recorder,
                io,
            }),
        }
    }

    /// Claims as many due runs as there are free permits and starts them.
    /// Returns how many started. While there is a backlog, a claim waits for
    /// a batch of free permits unless `any_free` (the poll-interval claim, so
    /// long-running jobs never hold a backlog back for more than a poll).
    pub async fn claim_and_start(&self, any_free: bool) -> Result<usize, StoreError> {
        let inner = &self.inner;
        if !inner.permits.worth_claiming(any_free) {
            return Ok(0);
        }
        // The permits are taken before the claim, so a run is never claimed
        // without one (the scheduler sets permits aside the same way).
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
        inner.permits.set_saturated(started == reserved);
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

    /// Sets every free permit aside for runs about to be claimed (by a claim
    /// query, or by the scheduler as it inserts them); none while shutting
    /// down, fenced, or while the recorder is backed up (completions wait
    /// for a database that does not keep up). Permits not used go back when
    /// the reservation is dropped.
    pub fn reserve(&self) -> Reservation {
        let inner = &self.inner;
        if inner.shutting_down.load(Ordering::SeqCst)
            || self.is_raised()
            || inner.recorder.is_backed_up()
        {
            return Reservation::none();
        }
        inner.permits.reserve_all(&inner.watermark, now_ms())
    }

    /// Runs executing now, and at most at once.
    pub fn executing(&self) -> (usize, usize) {
        let max = self.inner.config.max_concurrent_runs;
        (max.saturating_sub(self.inner.permits.executing_free()), max)
    }

    /// Bytes of log lines waiting to be recorded.
    pub fn queued_record_bytes(&self) -> usize {
        self.inner.recorder.queued_bytes()
    }

    /// Starts claimed runs, each on a permit of `reservation`; the permits
    /// left over go back.
    pub fn start_claimed(&self, runs: Vec<ClaimedRun>, mut reservation: Reservation) {
        let all_used = !runs.is_empty() && runs.len() >= reservation.len();
        for run in runs {
            match reservation.take_one() {
                Some(held) => {
                    self.inner.watermark.hold(run.planned_start);
                    let token = CancelToken::new();
                    self.lock_running().insert(run.id, token.clone());
                    tokio::spawn(self.clone().execute(run, token, held));
                }
                None => tracing::error!(
                    run = run.id,
                    "claimed more runs than permits were set aside; it is rescued when this host restarts"
                ),
            }
        }
        if all_used {
            self.inner.permits.set_saturated(true);
        }
    }

    /// Passes cancel requests recorded in the database to the runs.
    pub async fn relay_cancel_requests(&self) -> Result<(), StoreError> {
        let requests = self.inner.store.cancel_requests(&self.inner.node).await?;
        for (id, reason) in requests {
            self.cancel(id, reason);
        }
        Ok(())
    }

    /// Asks run `id` to stop, if it runs here.
    pub fn cancel(&self, id: i64, reason: CancelReason) {
        if let Some(token) = self.lock_running().get(&id) {
            token.cancel(reason);
        }
    }

    /// Asks every run of this host to stop; returns how many were asked.
    fn cancel_all(&self, reason: &CancelReason) -> usize {
        let tokens: Vec<CancelToken> = self.lock_running().values().cloned().collect();
        for token in &tokens {
            token.cancel(reason.clone());
        }
        tokens.len()
    }

    /// Stops claiming; waits up to `grace` for running runs; cancels the rest
    /// (they are recorded as interrupted and resume after a restart) and waits
    /// for them to be recorded.
    pub async fn shutdown(&self, grace: Duration) {
        let inner = &self.inner;
        inner.shutting_down.store(true, Ordering::SeqCst);
        if !inner.permits.wait_all_returned(grace).await {
            let runs = self.cancel_all(&CancelReason::Shutdown);
            tracing::warn!(runs, "grace period over: interrupting the runs still going");
            let wait = inner.config.default_limits.cancel_grace + Duration::from_secs(5);
            inner.permits.wait_all_returned(wait).await;
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

    /// Resolves when, after a claim had taken every free permit, a batch of
    /// permits is free again.
    pub async fn permits_freed(&self) {
        self.inner.permits.freed().await;
    }

    /// Forgets run `id`'s cancel token: it has ended.
    fn forget(&self, id: i64) {
        self.lock_running().remove(&id);
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CancelToken>> {
        self.inner.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Fencing: this host has lost the database for so long that other hosts
/// may declare it dead and take its runs over. It claims nothing and asks
/// every run to stop (each is recorded as interrupted once the database is
/// back, unless another host owns it by then).
impl Fence for Dispatcher {
    fn raise(&self) -> usize {
        self.inner.fenced.store(true, Ordering::SeqCst);
        self.cancel_all(&CancelReason::Fenced)
    }

    fn lower(&self) {
        self.inner.fenced.store(false, Ordering::SeqCst);
    }

    fn is_raised(&self) -> bool {
        self.inner.fenced.load(Ordering::SeqCst)
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
