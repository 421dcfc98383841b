//! Group commit for `POST /api/v1/delays`: creations arriving together are
//! written by one task in one transaction (each delay with its audit
//! entry), so a burst of them pays for one commit and one turn at the
//! database's write lock instead of two each. A creation waits for nothing
//! but the transaction before it: the writer takes whatever is queued when
//! it is free, up to [`MAX_BATCH`].
//!
//! If a batch fails, each of its creations is tried again alone, so one that
//! the database refuses fails by itself.

use tokio::sync::{mpsc, oneshot};

use crate::store::{DelayCreation, DelayRow, Store, StoreError};

/// At most this many creations share a transaction.
const MAX_BATCH: usize = 512;

/// Creations waiting beyond this many make callers wait to queue theirs.
const QUEUE: usize = 4 * MAX_BATCH;

/// What a creation answers: the stored row and whether it is new.
type Stored = Result<(DelayRow, bool), StoreError>;

/// One creation and where its answer goes.
struct Queued {
    creation: DelayCreation,
    now: i64,
    answer: oneshot::Sender<Stored>,
}

/// The queue in front of the writer task. Cheap to clone.
#[derive(Clone)]
pub(crate) struct DelayWriter {
    queue: mpsc::Sender<Queued>,
}

impl DelayWriter {
    /// Starts the writer task on the current runtime; it ends when every
    /// clone of the writer is dropped.
    pub(crate) fn spawn(store: Store) -> Self {
        let (queue, queued) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, queued));
        Self { queue }
    }

    /// Stores `creation` made at `now` (with its audit entry if it is new),
    /// sharing a transaction with the creations queued beside it.
    pub(crate) async fn create(&self, creation: DelayCreation, now: i64) -> Stored {
        let (answer, answered) = oneshot::channel();
        let queued = Queued {
            creation,
            now,
            answer,
        };
        // Both fail only as the API's runtime stops, with the host.
        if self.queue.send(queued).await.is_err() {
            return Err(StoreError::Stopping);
        }
        answered.await.unwrap_or_else(|_| Err(StoreError::Stopping))
    }
}

async fn write_batches(store: Store, mut queued: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queued.recv_many(&mut batch, MAX_BATCH).await > 0 {
        write_batch(&store, std::mem::take(&mut batch)).await;
    }
}

async fn write_batch(store: &Store, batch: Vec<Queued>) {
    // One time for the batch: the latest of its creations', so no delay is
    // stored as created before it was asked for.
    let now = batch.iter().map(|queued| queued.now).max().unwrap_or(0);
    let creations: Vec<DelayCreation> =
        batch.iter().map(|queued| queued.creation.clone()).collect();
    match store.create_delays(&creations, now).await {
        Ok(stored) => {
            for (queued, stored) in batch.into_iter().zip(stored) {
                let _ = queued.answer.send(Ok(stored));
            }
        }
        Err(error) if batch.len() == 1 => {
            if let Some(queued) = batch.into_iter().next() {
                let _ = queued.answer.send(Err(error));
            }
        }
        Err(_) => {
            for queued in batch {
                let stored = store
                    .create_delays(std::slice::from_ref(&queued.creation), queued.now)
                    .await
                    .and_then(|mut stored| {
                        stored.pop().ok_or_else(|| {
                            StoreError::Corrupt("a stored delay was not read back".into())
                        })
                    });
                let _ = queued.answer.send(stored);
            }
        }
    }
}
