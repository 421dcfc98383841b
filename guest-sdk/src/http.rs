//! Outbound HTTP from a job, over the standard `wasi:http/outgoing-handler`
//! (feature `http`). Blocking calls, one request at a time: the run's
//! deadline bounds each, and the host decides what may be reached (the
//! task's `allowed_hosts` and the host's own ceiling). A refused request
//! fails with a message pointing at the run's log, where the host says which
//! list refused it.
//!
//! ```no_run
//! use carillon_guest::http;
//! # fn demo() -> Result<(), carillon_guest::JobError> {
//! let answer = http::get("https://api.example.com/v1/items")?.ok()?;
//! let text = answer.text()?;
//! let sent = http::Request::post("https://hooks.example.com/notify")
//!     .bearer("token")
//!     .json(r#"{"text": "done"}"#)
//!     .send()?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};

use crate::JobError;

/// The largest answer body read: 16 MiB (the host may cap a run lower).
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// A request being built.
#[derive(Debug, Clone)]
pub struct Request {
    method: &'static str,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    url: String,
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, JobError> {
    Request::get(url).send()
}

/// `POST url` with a JSON body.
pub fn post_json(url: &str, json: &str) -> Result<Response, JobError> {
    Request::post(url).json(json).send()
}

impl Request {
    /// A request with any method (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`,
    /// `HEAD`, `OPTIONS`).
    pub fn new(method: &'static str, url: &str) -> Self {
        Self {
            method,
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    /// A `GET`.
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    /// A `POST`.
    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// A body, with its content type.
    pub fn body(self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        let mut this = self.header("content-type", content_type);
        this.body = body.into();
        this
    }

    /// A JSON body (`application/json`).
    pub fn json(self, json: &str) -> Self {
        self.body("application/json", json.as_bytes().to_vec())
    }

    /// How long to wait for the answer's head (the run's deadline bounds it
    /// anyway).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends it and reads the whole answer. Network failures are retryable
    /// errors; a refusal by the host and a bad URL are not.
    pub fn send(self) -> Result<Response, JobError> {
        let what = format!("{} {}", self.method, self.url);
        let (scheme, authority, path) = split_url(&self.url)
            .ok_or_else(|| JobError::fatal(format!("{what}: not an http:// or https:// URL")))?;
        let mut entries: Vec<(String, Vec<u8>)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.as_bytes().to_vec()))
            .collect();
        // The length is known: sent as Content-Length, not chunked.
        if !self.body.is_empty() && !entries.iter().any(|(name, _)| name == "content-length") {
            entries.push((
                "content-length".to_owned(),
                self.body.len().to_string().into_bytes(),
            ));
        }
        let headers = Fields::from_list(&entries).map_err(|error| {
            JobError::fatal(format!("{what}: a header cannot be sent ({error:?})"))
        })?;
        let request = OutgoingRequest::new(headers);
        let method = match self.method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            other => Method::Other(other.to_owned()),
        };
        let fail = |_| JobError::fatal(format!("{what}: the request cannot be built"));
        request.set_method(&method).map_err(fail)?;
        request
            .set_scheme(Some(&if scheme == "https" {
                Scheme::Https
            } else {
                Scheme::Http
            }))
            .map_err(fail)?;
        request.set_authority(Some(authority)).map_err(fail)?;
        request.set_path_with_query(Some(&path)).map_err(fail)?;
        let body = request.body().map_err(fail)?;
        let options = self.timeout.map(|timeout| {
            let options = RequestOptions::new();
            let nanos = timeout.as_nanos().min(u128::from(u64::MAX)) as u64;
            let _ = options.set_first_byte_timeout(Some(nanos));
            options
        });
        // No body: finished before sending, so the host sends the whole
        // request at once instead of waiting for its end.
        let body = if self.body.is_empty() {
            OutgoingBody::finish(body, None).map_err(|code| error_of(&what, &code))?;
            None
        } else {
            Some(body)
        };
        let pending =
            outgoing_handler::handle(request, options).map_err(|code| error_of(&what, &code))?;
        if let Some(body) = body {
            {
                let stream = body.write().map_err(fail)?;
                for chunk in self.body.chunks(4096) {
                    stream.blocking_write_and_flush(chunk).map_err(|error| {
                        JobError::retryable(format!("{what}: sending the body failed ({error:?})"))
                    })?;
                }
            }
            OutgoingBody::finish(body, None).map_err(|code| error_of(&what, &code))?;
        }
        pending.subscribe().block();
        let answer = match pending.get() {
            Some(Ok(Ok(answer))) => answer,
            Some(Ok(Err(code))) => return Err(error_of(&what, &code)),
            _ => return Err(JobError::retryable(format!("{what}: no answer"))),
        };
        let status = answer.status();
        let headers = answer
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let incoming = answer
            .consume()
            .map_err(|_| JobError::retryable(format!("{what}: the answer has no body")))?;
        let mut body = Vec::new();
        {
            let stream = incoming
                .stream()
                .map_err(|_| JobError::retryable(format!("{what}: the answer has no body")))?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => {
                        if body.len() + chunk.len() > MAX_BODY_BYTES {
                            return Err(JobError::retryable(format!(
                                "{what}: the answer is over {MAX_BODY_BYTES} bytes"
                            )));
                        }
                        body.extend_from_slice(&chunk);
                    }
                    Err(wasip2::io::streams::StreamError::Closed) => break,
                    Err(wasip2::io::streams::StreamError::LastOperationFailed(error)) => {
                        return Err(JobError::retryable(format!(
                            "{what}: reading the answer failed ({})",
                            error.to_debug_string()
                        )));
                    }
                }
            }
        }
        Ok(Response {
            status,
            headers,
            body,
            url: self.url,
        })
    }
}

impl Response {
    /// Itself if its status is 2xx, else a retryable error for a 5xx or 429
    /// and a fatal one for any other.
    pub fn ok(self) -> Result<Self, JobError> {
        match self.status {
            200..=299 => Ok(self),
            429 | 500..=599 => Err(JobError::retryable(self.status_error())),
            _ => Err(JobError::fatal(self.status_error())),
        }
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, JobError> {
        std::str::from_utf8(&self.body)
            .map_err(|_| JobError::fatal(format!("{}: the answer is not UTF-8 text", self.url)))
    }

    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn status_error(&self) -> String {
        let start: String = String::from_utf8_lossy(&self.body)
            .chars()
            .take(200)
            .collect();
        format!("{} answered {}: {start}", self.url, self.status)
    }
}

/// `https://host:port/path?q` → (`https`, `host:port`, `/path?q`).
fn split_url(url: &str) -> Option<(String, &str, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    let path = path.split('#').next().unwrap_or("");
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    (!authority.is_empty()).then_some((scheme, authority, path))
}

/// A `wasi:http` error code as the job's error.
fn error_of(what: &str, code: &ErrorCode) -> JobError {
    match code {
        ErrorCode::HttpRequestDenied => JobError::fatal(format!(
            "{what}: refused by the host (the run's log says which list refused it; \
             grant it in the task's allowed_hosts)"
        )),
        ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestMethodInvalid => {
            JobError::fatal(format!("{what}: the host cannot send it ({code:?})"))
        }
        _ => JobError::retryable(format!("{what}: {code:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn urls_split_into_their_parts() {
        let parts = |url| {
            split_url(url).map(|(scheme, authority, path)| (scheme, authority.to_owned(), path))
        };
        let owned = |a: &str, b: &str, c: &str| Some((a.to_owned(), b.to_owned(), c.to_owned()));
        assert_eq!(
            parts("HTTPS://api.example.com:8443/v1?x=1#top"),
            owned("https", "api.example.com:8443", "/v1?x=1")
        );
        assert_eq!(
            parts("http://127.0.0.1:8080"),
            owned("http", "127.0.0.1:8080", "/")
        );
        assert_eq!(parts("http://h?q=1"), owned("http", "h", "/?q=1"));
        assert_eq!(split_url("ftp://h/x"), None);
        assert_eq!(split_url("https:///x"), None);
    }
}
