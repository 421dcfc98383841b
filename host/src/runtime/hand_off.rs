//! Running a job where it costs least: a run is first polled where it was
//! asked for (most runs end in that first poll, and handing them to another
//! thread would cost more than running them); one that is still pending
//! after it (a busy job yielding at its epoch tick, or waiting on a host
//! call) is handed to its job thread for the rest, so long or busy jobs
//! never hold the threads the host schedules and records on.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// A run's future, polled here first and then on the job threads.
pub(crate) struct OnJobThreads<F: Future> {
    state: State<F>,
    jobs: Handle,
}

enum State<F: Future> {
    /// Not yet polled, or polled here and ready to move.
    Here(Pin<Box<F>>),
    /// Handed to the job threads.
    There(JoinHandle<F::Output>),
    /// Done (or between states).
    Done,
}

impl<F> OnJobThreads<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    pub(crate) fn new(future: F, jobs: Handle) -> Self {
        Self {
            state: State::Here(Box::pin(future)),
            jobs,
        }
    }
}

impl<F> Future for OnJobThreads<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// The run's output, or why the job threads lost it (a panic).
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            match std::mem::replace(&mut this.state, State::Done) {
                State::Here(mut future) => {
                    // What the run starts (wasi:http's request tasks, the
                    // connections they open, timers) belongs to the job
                    // thread it moves to, so its wake-ups stay on that thread.
                    let polled = {
                        let _there = this.jobs.enter();
                        future.as_mut().poll(cx)
                    };
                    match polled {
                        Poll::Ready(output) => return Poll::Ready(Ok(output)),
                        Poll::Pending => this.state = State::There(this.jobs.spawn(future)),
                    }
                }
                State::There(mut handle) => {
                    return match Pin::new(&mut handle).poll(cx) {
                        Poll::Ready(done) => Poll::Ready(done.map_err(|e| e.to_string())),
                        Poll::Pending => {
                            this.state = State::There(handle);
                            Poll::Pending
                        }
                    };
                }
                State::Done => return Poll::Ready(Err("polled after it ended".to_owned())),
            }
        }
    }
}
