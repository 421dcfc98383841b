//! One callback attempt: the request a delay describes (with the
//! `Carillon-Delay` and `Carillon-Attempt` headers), its outcome, what
//! follows, and the record of it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::clock::now_ms;
use crate::delays::Fenced;
use crate::egress::{self, Egress, Outbound};
use crate::metrics;
use crate::store::{AttemptRecord, DueDelay};
use crate::vocab::{AttemptResult, NextStep, next_step};

/// How much of a non-2xx answer's body is kept in the delay's error.
const SNIPPET_CHARS: usize = 200;

/// What an attempt needs besides the delay.
pub(super) struct Delivery {
    pub egress: Arc<Egress>,
    pub timeout: Duration,
    pub retry_backoff_ms: i64,
    pub fenced: Fenced,
    pub records: mpsc::Sender<AttemptRecord>,
}

impl Delivery {
    /// Waits for the delay's time, calls it, and hands on the record.
    pub(super) async fn deliver(self, due: DueDelay) {
        let delay = &due.delay;
        let wait = delay.due_at - now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        if (self.fenced)() {
            // The others give it back once this host's heartbeat is old.
            return;
        }
        let started_at = now_ms();
        let (result, status, error) = match &due.problem {
            Some(problem) => (AttemptResult::Refused, None, Some(problem.clone())),
            None => self.call(&due).await,
        };
        let finished_at = now_ms();
        let attempt = delay.attempts;
        let next = next_step(
            result,
            u32::try_from(attempt).unwrap_or(u32::MAX),
            u32::try_from(delay.retries).unwrap_or(0),
            finished_at,
            self.retry_backoff_ms,
        );
        let what = format!("delay {}/{} attempt {attempt}", delay.topic, delay.key);
        match (next, &error) {
            (NextStep::Succeeded, _) => tracing::debug!("{what}: called back"),
            (NextStep::RetryAt(at), Some(error)) => {
                tracing::info!("{what}: {error}; trying again in {} ms", at - finished_at)
            }
            (_, error) => tracing::warn!(
                "{what}: {}; giving up",
                error.as_deref().unwrap_or("no 2xx")
            ),
        }
        let _ = self
            .records
            .send(AttemptRecord {
                delay_id: delay.id,
                attempt,
                due_at: delay.due_at,
                started_at,
                finished_at,
                status: status.map(i64::from),
                error,
                next,
            })
            .await;
    }

    async fn call(&self, due: &DueDelay) -> (AttemptResult, Option<u16>, Option<String>) {
        let delay = &due.delay;
        let callback = &delay.callback;
        let mut headers: Vec<(String, String)> = callback
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        if let Some(content_type) = &callback.content_type {
            headers.push(("content-type".to_owned(), content_type.clone()));
        }
        headers.push((
            "carillon-delay".to_owned(),
            format!("{}/{}", header_safe(&delay.topic), header_safe(&delay.key)),
        ));
        headers.push(("carillon-attempt".to_owned(), delay.attempts.to_string()));
        let method = callback
            .method
            .parse::<http::Method>()
            .unwrap_or(http::Method::POST);
        let request = Outbound {
            method,
            url: callback.url.clone(),
            headers,
            body: callback.body.clone().map(Bytes::from).unwrap_or_default(),
        };
        let sent = self.egress.send(request, self.timeout).await;
        metrics::global().outbound("delay", egress::outcome(&sent));
        match sent {
            Ok(answer) if (200..300).contains(&answer.status) => (
                AttemptResult::Status(answer.status),
                Some(answer.status),
                None,
            ),
            Ok(answer) => {
                let text = String::from_utf8_lossy(&answer.body);
                let snippet: String = text.chars().take(SNIPPET_CHARS).collect();
                let error = if snippet.trim().is_empty() {
                    format!("answered {}", answer.status)
                } else {
                    format!("answered {}: {}", answer.status, snippet.trim())
                };
                (
                    AttemptResult::Status(answer.status),
                    Some(answer.status),
                    Some(error),
                )
            }
            Err(error) if error.is_refusal() => {
                (AttemptResult::Refused, None, Some(error.to_string()))
            }
            Err(error) => (AttemptResult::NoAnswer, None, Some(error.to_string())),
        }
    }
}

/// `text` with every byte outside visible ASCII (and `%`) percent-encoded,
/// so any topic or key fits in a header.
fn header_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_graphic() && byte != b'%' || byte == b' ' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_topic_fits_in_a_header() {
        assert_eq!(header_safe("order 42"), "order 42");
        assert_eq!(header_safe("订单%"), "%E8%AE%A2%E5%8D%95%25");
    }
}
