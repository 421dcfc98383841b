//! Cancelling a run from outside: a flag the guest can poll through the
//! `cancelled` import, and a wake-up for the run's watchdog.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::vocab::CancelReason;

/// Cancels one run. Clone it to keep a handle while the run goes on.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    flag: AtomicBool,
    reason: Mutex<Option<CancelReason>>,
    notify: Notify,
}

impl CancelToken {
    /// A token nobody has cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the run to stop, saying why. The job sees `cancelled() == true`; if it
    /// has not returned within the run's grace period it is stopped. The first
    /// reason given wins.
    pub fn cancel(&self, reason: CancelReason) {
        {
            let mut first = self.inner.reason.lock().unwrap_or_else(|e| e.into_inner());
            if first.is_none() {
                *first = Some(reason);
            }
        }
        self.inner.flag.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.flag.load(Ordering::SeqCst)
    }

    /// The reason given to [`cancel`](Self::cancel), if cancelled.
    pub fn reason(&self) -> Option<CancelReason> {
        self.inner
            .reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Resolves once the token is cancelled, with the reason.
    pub async fn cancelled(&self) -> CancelReason {
        loop {
            let notified = self.inner.notify.notified();
            if let Some(reason) = self.reason().filter(|_| self.is_cancelled()) {
                return reason;
            }
            notified.await;
        }
    }
}
