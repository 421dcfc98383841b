//! A local HTTP/1.1 server standing in for the systems delay callbacks
//! call: it records every request (method, path, headers, body) and
//! answers each with the status a rule picks; keep-alive, as the host's
//! pooled client expects. Plain, or TLS with a certificate from a test CA.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One request received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

type Rule = Box<dyn Fn(&Received, usize) -> u16 + Send + Sync>;

/// The server; it runs until the test process ends.
#[derive(Clone)]
pub struct CallbackServer {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl CallbackServer {
    /// Answers 200 to everything.
    pub fn start() -> Self {
        Self::answering(|_, _| 200)
    }

    /// Answers `rule(request, how many requests with this path came before)`.
    pub fn answering(rule: impl Fn(&Received, usize) -> u16 + Send + Sync + 'static) -> Self {
        Self::serve(rule, None)
    }

    /// The same over TLS, with `tls` as the server's configuration.
    pub fn tls(tls: Arc<rustls::ServerConfig>) -> Self {
        Self::serve(|_, _| 200, Some(tls))
    }

    fn serve(
        rule: impl Fn(&Received, usize) -> u16 + Send + Sync + 'static,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let rule: Arc<Rule> = Arc::new(Box::new(rule));
        {
            let received = received.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (received, rule, tls) = (received.clone(), rule.clone(), tls.clone());
                    std::thread::spawn(move || match tls {
                        None => converse(stream, &received, &rule),
                        Some(config) => {
                            let Ok(connection) = rustls::ServerConnection::new(config) else {
                                return;
                            };
                            converse(
                                rustls::StreamOwned::new(connection, stream),
                                &received,
                                &rule,
                            )
                        }
                    });
                }
            });
        }
        Self { port, received }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The requests to `path`.
    pub fn to(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

fn converse<S: Read + Write>(stream: S, received: &Mutex<Vec<Received>>, rule: &Rule) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            return;
        };
        let (method, path) = (method.to_owned(), path.to_owned());
        let mut headers = HashMap::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = Received {
            method,
            path,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let status = {
            let mut all = received.lock().unwrap();
            let before = all.iter().filter(|r| r.path == request.path).count();
            let status = rule(&request, before);
            all.push(request);
            status
        };
        let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok");
        let stream = reader.get_mut();
        if stream.write_all(answer.as_bytes()).is_err() || stream.flush().is_err() {
            return;
        }
    }
}
