//! The run of an HTTP task (module `http`): no job module, one call the
//! host makes through `egress/` (so the host's ceiling, `egress.allowed_hosts`,
//! and its refusal of internal addresses apply), bounded by the call's own
//! timeout and the run's, cancelled with the run. The answer's status,
//! latency and the first KB of its body go to the run's log; the check
//! (`expect_status`, `expect_body_contains`) decides the outcome, and a
//! failure is retried as any job's is.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::clock::now_ms;
use crate::dispatch::Dispatcher;
use crate::egress::{EgressError, Outbound};
use crate::runtime::io::{Level, LogLine, LogSource, RunKey};
use crate::runtime::{CancelToken, RunFault, RunOutcome};
use crate::store::ClaimedRun;
use crate::vocab::{BODY_KEPT_BYTES, HttpCall, parse_params};

/// Numbers the host's lines on one attempt's log.
struct HostLog<'a> {
    dispatcher: &'a Dispatcher,
    key: RunKey,
    next_seq: u32,
}

impl HostLog<'_> {
    fn line(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let line = LogLine {
            seq: self.next_seq,
            at_ms: now_ms(),
            level,
            source: LogSource::Host,
            message,
            fields,
        };
        self.next_seq += 1;
        self.dispatcher.inner.io.log.write(&self.key, line);
    }
}

impl Dispatcher {
    /// Makes the call of HTTP task run `run`, within `timeout`.
    pub(super) async fn call_http(
        &self,
        run: &ClaimedRun,
        timeout: Duration,
        cancel: &CancelToken,
    ) -> RunOutcome {
        let mut log = HostLog {
            dispatcher: self,
            key: RunKey {
                task: Arc::from(run.task.as_str()),
                run_id: run.id as u64,
                attempt: run.attempt as u32,
            },
            next_seq: 0,
        };
        let call = match parse_params(&run.params).and_then(|p| HttpCall::from_params(&p)) {
            Ok(call) => call,
            Err(error) => {
                let message = format!("the HTTP task's params cannot be used: {error}");
                log.line(Level::Error, message.clone(), Vec::new());
                return RunOutcome::Failed {
                    message,
                    retryable: false,
                };
            }
        };
        let deadline = call.timeout.map_or(timeout, |t| t.min(timeout));
        // What the log and the run's error show: no `user:password@`.
        let shown = without_credentials(&call.url);
        let request = outbound(&call, run);
        let started = Instant::now();
        let egress = &self.inner.config.egress;
        let sent = tokio::select! {
            biased;
            reason = cancel.cancelled() => {
                log.line(Level::Warn, format!("{} {shown} cancelled: {reason}", call.method), Vec::new());
                return RunOutcome::Fault { fault: RunFault::Cancelled(reason.to_string()) };
            }
            sent = egress.send(request, deadline) => sent,
        };
        let latency_ms = started.elapsed().as_millis() as u64;
        crate::metrics::global().outbound("task", crate::egress::outcome(&sent));
        let answer = match sent {
            Ok(answer) => answer,
            Err(EgressError::Timeout(_)) => {
                log.line(
                    Level::Error,
                    format!(
                        "{} {} had no full answer within {} ms",
                        call.method,
                        shown,
                        deadline.as_millis()
                    ),
                    Vec::new(),
                );
                return RunOutcome::Fault {
                    fault: RunFault::TimedOut(deadline),
                };
            }
            Err(error) => {
                let message = format!("{} {shown}: {error}", call.method);
                log.line(Level::Error, message.clone(), Vec::new());
                return RunOutcome::Failed {
                    message,
                    retryable: !error.is_refusal(),
                };
            }
        };
        let status = answer.status;
        let reason = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let verdict = call.judge(status, &answer.body);
        log.line(
            if verdict.is_ok() {
                Level::Info
            } else {
                Level::Error
            },
            format!(
                "{} {} answered {status} {reason} in {latency_ms} ms",
                call.method, shown
            ),
            vec![
                ("status".to_owned(), status.to_string()),
                ("latency_ms".to_owned(), latency_ms.to_string()),
                ("body_bytes".to_owned(), answer.body.len().to_string()),
            ],
        );
        if !answer.body.is_empty() {
            let kept = &answer.body[..answer.body.len().min(BODY_KEPT_BYTES)];
            let more = if answer.body.len() > kept.len() {
                " …"
            } else {
                ""
            };
            log.line(
                Level::Info,
                format!(
                    "body (first {} bytes): {}{more}",
                    kept.len(),
                    String::from_utf8_lossy(kept)
                ),
                Vec::new(),
            );
        }
        match verdict {
            Ok(()) => RunOutcome::Succeeded {
                summary: Some(format!("{status} {reason} in {latency_ms} ms")),
                items: 0,
            },
            Err(why) => RunOutcome::Failed {
                message: format!("{} {shown}: {why}", call.method),
                retryable: true,
            },
        }
    }
}

/// The request of `call` for `run`: the task's headers, then who is calling.
fn outbound(call: &HttpCall, run: &ClaimedRun) -> Outbound {
    let mut headers = call.headers.clone();
    if let Some(content_type) = &call.content_type {
        headers.push(("Content-Type".to_owned(), content_type.clone()));
    }
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("user-agent"))
    {
        headers.push(("User-Agent".to_owned(), "carillon".to_owned()));
    }
    if let Some(parameter) = &run.shard_param {
        headers.push(("X-Carillon-Shard-Param".to_owned(), task_header(parameter)));
    }
    headers.extend([
        ("X-Carillon-Task".to_owned(), task_header(&run.task)),
        ("X-Carillon-Run".to_owned(), run.id.to_string()),
        ("X-Carillon-Attempt".to_owned(), run.attempt.to_string()),
        (
            "X-Carillon-Shard".to_owned(),
            format!("{}/{}", run.shard_index, run.shard_total.max(1)),
        ),
    ]);
    Outbound {
        method: http::Method::from_bytes(call.method.as_bytes()).unwrap_or(http::Method::GET),
        url: call.url.clone(),
        headers,
        body: call
            .body
            .as_ref()
            .map_or_else(Bytes::new, |b| Bytes::from(b.clone().into_bytes())),
    }
}

/// A name or parameter as a header value: non-ASCII and control bytes
/// percent-encoded.
fn task_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_graphic() || byte == b' ' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `url` without the `user:password@` of its authority, if it has one.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_credentials;

    #[test]
    fn credentials_in_a_url_are_not_shown() {
        assert_eq!(
            without_credentials("https://bot:s3cr3t@api.example.com/a?b=c@d"),
            "https://api.example.com/a?b=c@d"
        );
        assert_eq!(
            without_credentials("http://127.0.0.1:8080/x"),
            "http://127.0.0.1:8080/x"
        );
    }
}
