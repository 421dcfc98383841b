//! A job's outbound HTTP (`wasi:http/outgoing-handler`): wasmtime's
//! `wasi:http` types with Carillon's own sending hook. The hook counts the
//! run's requests against its cap, bounds each by the run's deadline and its
//! cancellation, hands it to the run's [`HttpSender`] seam (which decides what
//! may be reached and sends it), meters the answer's bytes against the run's
//! cap, and writes every refusal and failure to the run's log, since guest
//! libraries often report a denial only as "connection reset".

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as WasiHttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::runtime::cancel::CancelToken;
use crate::runtime::io::{BoxError, HttpFailure, HttpSendError, HttpSender, Level, RunKey};
use crate::runtime::run_log::RunLog;
use crate::units::ByteSize;

/// What a run's requests came to, for its report and its log.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HttpStats {
    /// Requests the job made (refused ones included).
    pub requests: u32,
    /// Requests refused by a list, a cap or the host.
    pub refused: u32,
    /// Requests that failed on the way (DNS, connect, TLS, timeout).
    pub failed: u32,
    /// Answers by status code.
    pub statuses: BTreeMap<u16, u32>,
    /// Body bytes received.
    pub received: u64,
}

impl HttpStats {
    /// One line for the run's log: `HTTP: 3 requests (200 ×2, 404 ×1),
    /// 12.3 KiB received`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, count)| format!("{status} ×{count}"))
            .collect();
        if self.refused > 0 {
            parts.push(format!("{} refused", self.refused));
        }
        if self.failed > 0 {
            parts.push(format!("{} failed", self.failed));
        }
        format!(
            "HTTP: {} request{} ({}), {} received",
            self.requests,
            if self.requests == 1 { "" } else { "s" },
            parts.join(", "),
            ByteSize(self.received)
        )
    }
}

/// The run's HTTP caps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpCaps {
    pub(crate) requests: u32,
    pub(crate) received: ByteSize,
}

/// The hooks of one run: its seam, caps, deadline and counts.
pub(crate) struct JobHttp {
    sender: Option<Arc<dyn HttpSender>>,
    key: RunKey,
    log: Arc<RunLog>,
    cancel: CancelToken,
    deadline: tokio::time::Instant,
    caps: HttpCaps,
    pub(crate) stats: Arc<Mutex<HttpStats>>,
}

impl JobHttp {
    pub(crate) fn new(
        sender: Option<Arc<dyn HttpSender>>,
        key: RunKey,
        log: Arc<RunLog>,
        cancel: CancelToken,
        deadline: tokio::time::Instant,
        caps: HttpCaps,
    ) -> Self {
        Self {
            sender,
            key,
            log,
            cancel,
            deadline,
            caps,
            stats: Arc::default(),
        }
    }

    fn count(&self, update: impl FnOnce(&mut HttpStats)) {
        update(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Refuses the request at once, saying why in the run's log.
    fn refuse(&self, shown: &str, why: String) -> SendFuture {
        self.count(|stats| stats.refused += 1);
        self.log
            .host_line(Level::Warn, format!("HTTP request {shown} refused: {why}"));
        Box::new(std::future::ready(Err(WasiHttpError::HttpRequestDenied)))
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), WasiHttpError>> + Send>,
                ),
                WasiHttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for JobHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), WasiHttpError>> + Send>,
    ) -> SendFuture {
        let shown = format!("{} {}", request.method(), shown_url(request.uri()));
        self.count(|stats| stats.requests += 1);
        let made = self.stats.lock().map_or(0, |stats| stats.requests);
        let Some(sender) = self.sender.clone() else {
            return self.refuse(
                &shown,
                "this host grants jobs no outbound HTTP (`carillon run` grants it with --allow-host)"
                    .to_owned(),
            );
        };
        if made > self.caps.requests {
            return self.refuse(
                &shown,
                format!(
                    "the run has made its {} requests, the most a run may make (limits.http_requests)",
                    self.caps.requests
                ),
            );
        }
        let left = self
            .deadline
            .saturating_duration_since(tokio::time::Instant::now());
        // wasi:http's own timeouts default to 600 s each: the run's deadline
        // is the bound, and a shorter connect or first-byte timeout the
        // guest asks for is kept.
        let timeout = options
            .and_then(|o| o.first_byte_timeout)
            .map_or(left, |asked| asked.min(left));
        let (parts, body) = request.into_parts();
        let body = body
            .map_err(|error| Box::new(error) as BoxError)
            .boxed_unsync();
        let sent = sender.send(&self.key, http::Request::from_parts(parts, body), timeout);
        let (log, stats, cancel) = (self.log.clone(), self.stats.clone(), self.cancel.clone());
        let (cap, deadline) = (self.caps.received, self.deadline);
        Box::new(async move {
            let answer = tokio::select! {
                answer = sent => answer,
                reason = cancel.cancelled() => Err(HttpSendError::Failed {
                    kind: HttpFailure::Timeout,
                    message: format!("the run was asked to stop ({reason})"),
                }),
            };
            let record = |stats: &Mutex<HttpStats>, update: &dyn Fn(&mut HttpStats)| {
                update(&mut stats.lock().unwrap_or_else(|e| e.into_inner()));
            };
            match answer {
                Ok(response) => {
                    let status = response.status().as_u16();
                    record(&stats, &|s| *s.statuses.entry(status).or_default() += 1);
                    let response = response.map(|body| {
                        Metered {
                            body,
                            stats: stats.clone(),
                            log: log.clone(),
                            cap,
                            deadline: Box::pin(tokio::time::sleep_until(deadline)),
                        }
                        .boxed_unsync()
                    });
                    let io: Box<dyn Future<Output = Result<(), WasiHttpError>> + Send> =
                        Box::new(std::future::ready(Ok(())));
                    Ok((response, io))
                }
                Err(HttpSendError::Refused(why)) => {
                    record(&stats, &|s| s.refused += 1);
                    log.host_line(Level::Warn, format!("HTTP request {shown} refused: {why}"));
                    Err(WasiHttpError::HttpRequestDenied)
                }
                Err(HttpSendError::Failed { kind, message }) => {
                    record(&stats, &|s| s.failed += 1);
                    log.host_line(
                        Level::Warn,
                        format!("HTTP request {shown} failed: {message}"),
                    );
                    Err(match kind {
                        HttpFailure::Dns => WasiHttpError::DnsError {
                            rcode: Some(message),
                            info_code: None,
                        },
                        HttpFailure::Connect => WasiHttpError::ConnectionRefused,
                        HttpFailure::Tls => WasiHttpError::TlsCertificateError,
                        HttpFailure::Timeout => WasiHttpError::ConnectionTimeout,
                        HttpFailure::Protocol => WasiHttpError::HttpProtocolError,
                    })
                }
            }
        })
    }
}

/// A URL as the log shows it: without a user or password, and without its
/// query (where tokens are often passed).
fn shown_url(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("https");
    let host = uri.host().unwrap_or("");
    let port = uri.port().map(|p| format!(":{p}")).unwrap_or_default();
    let query = if uri.query().is_some() { "?…" } else { "" };
    format!("{scheme}://{host}{port}{}{query}", uri.path())
}

/// An answer's body, counted against the run's cap and cut at its deadline.
struct Metered {
    body: crate::runtime::io::HttpBody,
    stats: Arc<Mutex<HttpStats>>,
    log: Arc<RunLog>,
    cap: ByteSize,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for Metered {
    type Data = Bytes;
    type Error = WasiHttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, WasiHttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let size = frame.data_ref().map_or(0, |data| data.len() as u64);
                let received = {
                    let mut stats = this.stats.lock().unwrap_or_else(|e| e.into_inner());
                    stats.received += size;
                    stats.received
                };
                if received > this.cap.bytes() {
                    this.log.host_line(
                        Level::Warn,
                        format!(
                            "an HTTP answer was cut off: the run has received more than {}, \
                             the most a run may receive (limits.http_received)",
                            this.cap
                        ),
                    );
                    return Poll::Ready(Some(Err(WasiHttpError::HttpResponseBodySize(Some(
                        this.cap.bytes(),
                    )))));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(WasiHttpError::InternalError(
                Some(error.to_string()),
            )))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(WasiHttpError::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_shows_no_credentials_or_query() {
        let uri: http::Uri = "https://api.example.com:8443/v1/items?token=secret"
            .parse()
            .unwrap();
        assert_eq!(shown_url(&uri), "https://api.example.com:8443/v1/items?…");
    }

    #[test]
    fn stats_read_as_one_line() {
        let stats = HttpStats {
            requests: 3,
            refused: 1,
            failed: 0,
            statuses: BTreeMap::from([(200, 2)]),
            received: 2048,
        };
        assert_eq!(
            stats.summary(),
            "HTTP: 3 requests (200 ×2, 1 refused), 2 KiB received"
        );
    }
}
