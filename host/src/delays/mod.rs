//! Calling the callbacks of due delay tasks. One loop per host takes due
//! delays in batches (each is taken by one host of a cluster), calls each at
//! its time through [`Egress`] with a bound on calls in flight, and hands
//! every attempt to a recorder that writes them in batches: a 2xx ends the
//! delay, anything else is tried again with doubling waits until its
//! retries run out; a callback the host refuses (not allowed, a bad row)
//! fails at once with the reason. Delays a stopped host was delivering are
//! given back by the others after its node timeout, and by itself at start.
//!
//! A callback that was made but whose outcome was not yet written when its
//! host died is made again: receivers should treat the `Carillon-Delay`
//! header (topic/key) as an idempotency key.

mod deliver;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, mpsc, watch};

use crate::clock::now_ms;
use crate::egress::Egress;
use crate::repeats::Repeats;
use crate::store::{AttemptRecord, Store};

/// Callbacks in flight at once on one host.
pub const MAX_IN_FLIGHT: usize = 512;
/// Delays taken per statement.
const BATCH: i64 = 500;
/// Attempts written per transaction.
const RECORD_BATCH: usize = 1000;

/// Whether this host is fenced (it lost the database): then it calls
/// nothing, and what it holds is given back by the others.
pub type Fenced = Arc<dyn Fn() -> bool + Send + Sync>;

/// What the loop needs.
#[derive(Clone)]
pub struct Deliverer {
    /// The database.
    pub store: Store,
    /// The outbound client, with the delays' allow-list.
    pub egress: Arc<Egress>,
    /// This host.
    pub node_id: String,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// The first retry's wait.
    pub retry_backoff: Duration,
    /// The longest sleep without looking (rows written by plain SQL or
    /// other hosts).
    pub poll_interval: Duration,
    /// A host silent this long is dead: its deliveries are given back.
    pub node_timeout: Duration,
    /// How long calls in flight get to end at shutdown.
    pub shutdown_grace: Duration,
    /// Rung when a delay is created here.
    pub wake: Arc<Notify>,
    /// Whether this host is fenced.
    pub fenced: Fenced,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Deliverer {
    /// Takes and calls due delays until `stopped`.
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        let (records, receiver) = mpsc::channel::<AttemptRecord>(MAX_IN_FLIGHT * 2);
        let recorder = tokio::spawn(record(self.store.clone(), self.node_id.clone(), receiver));
        let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let mut taking = Repeats::new("taking due delays");
        let mut rescuing = Repeats::new("giving back delays of stopped hosts");
        // This host's previous process may have died holding some.
        let mut last_rescue: Option<Instant> = None;
        while !*stopped.borrow() {
            if last_rescue.is_none_or(|at| at.elapsed() >= self.node_timeout / 2) {
                let own = if last_rescue.is_none() {
                    self.node_id.as_str()
                } else {
                    ""
                };
                let alive_after = now_ms() - self.node_timeout.as_millis() as i64;
                match self
                    .store
                    .rescue_delays(own, &self.node_id, alive_after)
                    .await
                {
                    Ok(0) => rescuing.succeeded(),
                    Ok(count) => {
                        rescuing.succeeded();
                        tracing::warn!(
                            "{count} delay callback(s) of stopped hosts given back, to be called again"
                        );
                    }
                    Err(error) => rescuing.failed(&error),
                }
                last_rescue = Some(Instant::now());
            }
            let free = permits.available_permits();
            if free == 0 || (self.fenced)() {
                self.pause(&mut stopped, Duration::from_millis(50)).await;
                continue;
            }
            let limit = (free as i64).min(BATCH);
            let due = match self
                .store
                .take_due_delays(&self.node_id, now_ms(), limit)
                .await
            {
                Ok(due) => {
                    taking.succeeded();
                    due
                }
                Err(error) => {
                    taking.failed(&error);
                    self.pause(&mut stopped, self.poll_interval).await;
                    continue;
                }
            };
            let full = due.len() as i64 == limit;
            for delay in due {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let job = deliver::Delivery {
                    egress: self.egress.clone(),
                    timeout: self.timeout,
                    retry_backoff_ms: self.retry_backoff.as_millis() as i64,
                    fenced: self.fenced.clone(),
                    records: records.clone(),
                };
                tokio::spawn(async move {
                    job.deliver(delay).await;
                    drop(permit);
                });
            }
            if full {
                continue;
            }
            let wait = match self.store.next_delay_due().await {
                Ok(Some(at)) => Duration::from_millis((at - now_ms()).max(0) as u64),
                _ => self.poll_interval,
            };
            tokio::select! {
                () = tokio::time::sleep(wait.min(self.poll_interval)) => {}
                () = self.wake.notified() => {}
                _ = stopped.changed() => {}
            }
        }
        // Let the calls in flight end, then their records be written.
        let all = MAX_IN_FLIGHT as u32;
        let _ = tokio::time::timeout(self.shutdown_grace, permits.acquire_many(all)).await;
        drop(records);
        let _ = recorder.await;
    }

    async fn pause(&self, stopped: &mut watch::Receiver<bool>, wait: Duration) {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// Writes attempts in batches, as they come.
async fn record(store: Store, node: String, mut receiver: mpsc::Receiver<AttemptRecord>) {
    let mut failures = Repeats::new("recording delay callbacks");
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while receiver.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        match store.record_delay_attempts(&node, &batch).await {
            Ok(_) => failures.succeeded(),
            // The delays stay `delivering` here and are called again after
            // a restart: at least once, never lost.
            Err(error) => failures.failed(&error),
        }
        batch.clear();
    }
}
