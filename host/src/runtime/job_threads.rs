//! The threads runs go on when they wait: one single-threaded tokio runtime
//! per thread, runs handed out in turn. A run's own tasks (wasi:http's
//! request tasks, the pooled connections it opens, its timers) live on the
//! same thread as the run, so a response wakes one thread, not a chain of
//! them: on a multi-threaded runtime every such wake-up crossed cores, and a
//! job's HTTP GET cost 6–9× a native one (BENCHMARKS.md). A run busy on the
//! CPU yields at every epoch tick, so the others on its thread go on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The job threads; dropping them stops them (without waiting for runs).
pub(crate) struct JobThreads {
    handles: Vec<Handle>,
    next: AtomicUsize,
    stops: Vec<oneshot::Sender<()>>,
    _threads: Vec<JoinHandle<()>>,
}

impl JobThreads {
    /// `count` threads (at least one), each driving its own runtime.
    pub(crate) fn start(count: usize) -> std::io::Result<Self> {
        let mut handles = Vec::new();
        let mut stops = Vec::new();
        let mut threads = Vec::new();
        for index in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            handles.push(runtime.handle().clone());
            stops.push(stop);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("carillon-job-{index}"))
                    .spawn(move || {
                        let _ = runtime.block_on(stopped);
                        // Runs still in flight are dropped with the runtime
                        // (their stores and requests with them).
                        runtime.shutdown_background();
                    })?,
            );
        }
        Ok(Self {
            handles,
            next: AtomicUsize::new(0),
            stops,
            _threads: threads,
        })
    }

    /// The thread the next waiting run goes to.
    pub(crate) fn next(&self) -> &Handle {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[index]
    }
}

impl Drop for JobThreads {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}
