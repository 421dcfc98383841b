//! Outbound HTTP, the only way the host reaches the network on someone
//! else's behalf (delay callbacks, HTTP tasks, alert webhooks and jobs'
//! `wasi:http` requests, streamed both ways), and e-mail for alerts
//! (`smtp`). Every
//! request is checked twice: its URL against an allow-list ([`AllowList`]), and
//! the addresses its host resolves to against the internal ranges
//! (`address`), in Carillon's own connector (`connect`) so the check is on
//! the address actually dialled. Connections are pooled (HTTP/1.1), TLS is
//! rustls with the bundled webpki roots plus any configured CA file, and
//! each request is bounded by a deadline and a cap on the answer read.

mod address;
mod connect;
mod smtp;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub use crate::vocab::{AllowList, AllowedHost, Scheme, Target};
pub use address::is_internal;
pub use smtp::Mailer;

use connect::{Connector, Policy};

/// Why a request was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// The URL cannot be used.
    #[error("{0}")]
    BadUrl(String),
    /// A header name or value cannot be sent.
    #[error("{0}")]
    BadRequest(String),
    /// The allow-list does not have the target.
    #[error("{target} is not allowed: it is not in {list}; add it there to allow it")]
    NotAllowed {
        /// `scheme://host:port`.
        target: String,
        /// The key of the list.
        list: &'static str,
    },
    /// The host resolves only to internal addresses the host does not allow.
    #[error(
        "{target} is refused: it resolves only to internal addresses ({addresses}); \
         list the address itself, or {switch}"
    )]
    Internal {
        /// How to allow internal addresses (`set egress.allow_private = true`).
        switch: &'static str,
        /// `scheme://host:port`.
        target: String,
        /// The addresses refused.
        addresses: String,
    },
    /// The name did not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The name.
        host: String,
        /// The resolver's words.
        reason: String,
    },
    /// No connection could be made.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// `scheme://host:port`.
        target: String,
        /// The last error.
        reason: String,
    },
    /// The TLS handshake failed (an unknown issuer, a wrong name, …).
    #[error("TLS with {target} failed: {reason}")]
    Tls {
        /// `scheme://host:port`.
        target: String,
        /// rustls's words.
        reason: String,
    },
    /// No full answer before the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The exchange broke off.
    #[error("the HTTP exchange failed: {0}")]
    Http(String),
    /// The SMTP server did not take the e-mail.
    #[error("the e-mail was not sent: {0}")]
    Mail(String),
}

impl EgressError {
    /// Whether the host refused the request (asking again will not help).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::BadUrl(_) | Self::BadRequest(_) | Self::NotAllowed { .. } | Self::Internal { .. }
        )
    }
}

/// What may be reached, as configured.
#[derive(Debug, Clone)]
pub struct EgressConfig {
    /// The hosts allowed.
    pub allowed: AllowList,
    /// Where that list is configured, for messages.
    pub list_name: &'static str,
    /// Whether internal addresses may be reached through a name.
    pub allow_private: bool,
    /// How a user allows that, for messages (`set egress.allow_private = true`).
    pub private_switch: &'static str,
    /// A PEM file of extra CA certificates to trust.
    pub ca_roots: Option<std::path::PathBuf>,
}

/// One request.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// The method.
    pub method: http::Method,
    /// An absolute `http(s)` URL.
    pub url: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The start of the body, at most [`ANSWER_CAP`] bytes.
    pub body: Bytes,
}

/// How much of an answer's body is read.
pub const ANSWER_CAP: usize = 64 * 1024;

/// How long a TCP connect may take, within the request's deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An error inside a streamed body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streamed request or answer body.
pub type StreamBody = UnsyncBoxBody<Bytes, BoxError>;

/// The pooled clients and their policy.
pub struct Egress {
    policy: Arc<Policy>,
    client: Client<Connector, Full<Bytes>>,
    /// Jobs' requests: a pool per thread that sends them (see `streaming`).
    streaming: std::sync::Mutex<HashMap<std::thread::ThreadId, Client<Connector, StreamBody>>>,
    builder: hyper_util::client::legacy::Builder,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("allowed", &self.policy.allowed.to_string())
            .field("allow_private", &self.policy.allow_private)
            .finish_non_exhaustive()
    }
}

impl Egress {
    /// A client for `config`; fails only on an unreadable CA file.
    pub fn new(config: EgressConfig) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &config.ca_roots {
            add_pem_roots(&mut roots, path)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let policy = Arc::new(Policy {
            allowed: config.allowed,
            list_name: config.list_name,
            allow_private: config.allow_private,
            private_switch: config.private_switch,
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            connect_timeout: CONNECT_TIMEOUT,
        });
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64);
        let client = builder.build(Connector(policy.clone()));
        Ok(Self {
            policy,
            client,
            streaming: std::sync::Mutex::default(),
            builder,
        })
    }

    /// Sends a streamed `request` (a job's) and returns its answer's head
    /// as soon as it is due, within `head_within`; its body streams on.
    pub async fn exchange(
        &self,
        request: http::Request<StreamBody>,
        head_within: Duration,
    ) -> Result<http::Response<StreamBody>, EgressError> {
        self.policy.check(request.uri())?;
        let response = tokio::time::timeout(head_within, self.streaming().request(request))
            .await
            .map_err(|_| EgressError::Timeout(head_within))?
            .map_err(|error| cause(&error))?;
        Ok(response.map(|body| {
            body.map_err(|error| Box::new(error) as BoxError)
                .boxed_unsync()
        }))
    }

    /// This thread's pool for jobs' requests. A pooled connection is served
    /// by a task on the runtime that opened it; a job's request is sent from
    /// its job thread, so a pool per thread keeps each connection's wake-ups
    /// on the thread of the runs using it.
    fn streaming(&self) -> Client<Connector, StreamBody> {
        let mut pools = self.streaming.lock().unwrap_or_else(|e| e.into_inner());
        pools
            .entry(std::thread::current().id())
            .or_insert_with(|| self.builder.build(Connector(self.policy.clone())))
            .clone()
    }

    /// Whether `url` may be called, as far as its text tells (its addresses
    /// are checked when it is called).
    pub fn check(&self, url: &str) -> Result<Target, EgressError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|_| EgressError::BadUrl(format!("`{url}` is not a URL")))?;
        self.policy.check(&uri)
    }

    /// Sends `request` and reads the start of its answer, all within
    /// `deadline`.
    pub async fn send(&self, request: Outbound, deadline: Duration) -> Result<Answer, EgressError> {
        let uri: http::Uri = request
            .url
            .parse()
            .map_err(|_| EgressError::BadUrl(format!("`{}` is not a URL", request.url)))?;
        self.policy.check(&uri)?;
        let mut builder = http::Request::builder().method(request.method).uri(uri);
        for (name, value) in &request.headers {
            let name = http::HeaderName::try_from(name.as_str())
                .map_err(|_| EgressError::BadRequest(format!("`{name}` is not a header name")))?;
            let value = http::HeaderValue::try_from(value.as_str()).map_err(|_| {
                EgressError::BadRequest(format!("the value of header `{name}` cannot be sent"))
            })?;
            builder = builder.header(name, value);
        }
        let outgoing = builder
            .body(Full::new(request.body))
            .map_err(|error| EgressError::BadRequest(error.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(outgoing)
                .await
                .map_err(|error| cause(&error))?;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut head = Vec::new();
            while head.len() < ANSWER_CAP {
                match body.frame().await {
                    None => break,
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            let room = ANSWER_CAP - head.len();
                            head.extend_from_slice(&data[..data.len().min(room)]);
                        }
                    }
                    Some(Err(error)) => return Err(EgressError::Http(error.to_string())),
                }
            }
            Ok(Answer {
                status,
                body: Bytes::from(head),
            })
        };
        tokio::time::timeout(deadline, exchange)
            .await
            .map_err(|_| EgressError::Timeout(deadline))?
    }
}

/// How a request ended, as `/metrics` labels it.
pub fn outcome(result: &Result<Answer, EgressError>) -> &'static str {
    match result {
        Ok(answer) => match answer.status {
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        },
        Err(error) if error.is_refusal() => "refused",
        Err(EgressError::Timeout(_)) => "timeout",
        Err(_) => "failed",
    }
}

/// The connector's own error inside the client's, or the client's words.
fn cause(error: &hyper_util::client::legacy::Error) -> EgressError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(egress) = current.downcast_ref::<EgressError>() {
            return egress.clone();
        }
        source = current.source();
    }
    let mut words = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(current) = source {
        words.push_str(": ");
        words.push_str(&current.to_string());
        source = current.source();
    }
    EgressError::Http(words)
}

fn add_pem_roots(roots: &mut rustls::RootCertStore, path: &Path) -> anyhow::Result<()> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let what = || {
        format!(
            "egress.ca_roots: cannot read CA certificates from {}",
            path.display()
        )
    };
    let mut added = 0;
    for certificate in
        CertificateDer::pem_file_iter(path).map_err(|e| anyhow::anyhow!("{}: {e}", what()))?
    {
        let certificate = certificate.map_err(|e| anyhow::anyhow!("{}: {e}", what()))?;
        roots
            .add(certificate)
            .map_err(|e| anyhow::anyhow!("{}: {e}", what()))?;
        added += 1;
    }
    anyhow::ensure!(added > 0, "{}: the file holds no PEM certificate", what());
    Ok(())
}
