//! Confining a panic to the one task or run it happened in: a bug met while
//! the scheduler evaluates one row, or while the host handles one run, is
//! caught here and becomes an error recorded on that row or run; the host
//! carries on with the others. (The panic hook still writes the panic to the
//! host's log.)

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Runs `work`; a panic in it comes back as its message.
pub fn catch<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(work)).map_err(|payload| message(payload.as_ref()))
}

/// `future`, with a panic while it is polled turned into `Err(message)`.
pub fn catch_future<F: Future>(future: F) -> CatchPanic<F> {
    CatchPanic {
        future: Box::pin(future),
    }
}

/// The future of [`catch_future`].
#[derive(Debug)]
pub struct CatchPanic<F> {
    future: Pin<Box<F>>,
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.future.as_mut();
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(message(payload.as_ref()))),
        }
    }
}

/// The text a panic was raised with.
fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message() {
        assert_eq!(catch(|| 1 + 1), Ok(2));
        assert_eq!(
            catch(|| -> i32 { panic!("row {} is odd", 7) }),
            Err("row 7 is odd".to_owned())
        );
    }

    #[tokio::test]
    async fn a_panicking_future_becomes_its_message() {
        assert_eq!(catch_future(async { 3 }).await, Ok(3));
        let result = catch_future(async {
            tokio::task::yield_now().await;
            panic!("in the middle");
        })
        .await;
        assert_eq!(result, Err::<(), _>("in the middle".to_owned()));
    }
}
