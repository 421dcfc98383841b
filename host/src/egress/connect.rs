//! Carillon's own connector for the pooled HTTP client: resolve the name,
//! drop the internal addresses the host does not allow (checked on the
//! resolved address, so a name that points at 169.254.169.254 or a DNS
//! answer that changes between check and use gets nowhere), connect to what
//! is left, then TLS for `https`.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::egress::EgressError;
use crate::egress::address::is_internal;
use crate::vocab::{AllowList, Scheme, Target};

/// What a connection may reach: the host's checks, shared by every clone.
pub(crate) struct Policy {
    /// The hosts allowed.
    pub(crate) allowed: AllowList,
    /// Where that list is configured, for messages (`delays.allowed_hosts`).
    pub(crate) list_name: &'static str,
    /// Whether internal addresses may be reached through a name.
    pub(crate) allow_private: bool,
    /// How a user allows that, for messages.
    pub(crate) private_switch: &'static str,
    /// TLS with the bundled roots and the configured ones.
    pub(crate) tls: TlsConnector,
    /// How long a TCP connect may take.
    pub(crate) connect_timeout: Duration,
}

impl Policy {
    /// The target of `url` if the list allows it.
    pub(crate) fn check(&self, url: &http::Uri) -> Result<Target, EgressError> {
        let target = Target::of_url(url).map_err(EgressError::BadUrl)?;
        if self.allowed.allowing(&target).is_none() {
            return Err(EgressError::NotAllowed {
                target: target.to_string(),
                list: self.list_name,
            });
        }
        Ok(target)
    }

    /// Whether a connection to `ip` for `target` is allowed.
    fn may_reach(&self, target: &Target, ip: IpAddr) -> bool {
        !is_internal(ip) || self.allow_private || self.allowed.names_address(target, ip)
    }

    async fn connect(&self, url: http::Uri) -> Result<TokioIo<Stream>, EgressError> {
        let target = self.check(&url)?;
        let addresses: Vec<SocketAddr> = match target.ip() {
            Some(ip) => vec![SocketAddr::new(ip, target.port)],
            None => tokio::net::lookup_host((target.host.as_str(), target.port))
                .await
                .map_err(|error| EgressError::Resolve {
                    host: target.host.clone(),
                    reason: error.to_string(),
                })?
                .collect(),
        };
        let (reachable, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = addresses
            .into_iter()
            .partition(|address| self.may_reach(&target, address.ip()));
        if reachable.is_empty() {
            let shown: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
            return Err(if shown.is_empty() {
                EgressError::Resolve {
                    host: target.host.clone(),
                    reason: "no addresses".to_owned(),
                }
            } else {
                EgressError::Internal {
                    switch: self.private_switch,
                    target: target.to_string(),
                    addresses: shown.join(", "),
                }
            });
        }
        let mut last_error = None;
        for address in reachable {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(address)).await {
                Ok(Ok(tcp)) => {
                    let _ = tcp.set_nodelay(true);
                    return self.secure(&target, tcp).await.map(TokioIo::new);
                }
                Ok(Err(error)) => last_error = Some(error.to_string()),
                Err(_) => last_error = Some(format!("no answer within {:?}", self.connect_timeout)),
            }
        }
        Err(EgressError::Connect {
            target: target.to_string(),
            reason: last_error.unwrap_or_default(),
        })
    }

    async fn secure(&self, target: &Target, tcp: TcpStream) -> Result<Stream, EgressError> {
        if target.scheme == Scheme::Http {
            return Ok(Stream::Plain(tcp));
        }
        let tls_error = |reason: String| EgressError::Tls {
            target: target.to_string(),
            reason,
        };
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|error| tls_error(error.to_string()))?;
        let stream = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|error| tls_error(error.to_string()))?;
        Ok(Stream::Tls(Box::new(stream)))
    }
}

/// The connector the pooled client calls for each new connection.
#[derive(Clone)]
pub(crate) struct Connector(pub Arc<Policy>);

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = EgressError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, EgressError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), EgressError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, url: http::Uri) -> Self::Future {
        let policy = self.0.clone();
        Box::pin(async move { policy.connect(url).await })
    }
}

/// A connection, plain or TLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
