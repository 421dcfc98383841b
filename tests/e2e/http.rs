//! A minimal HTTP/1.1 client for the API tests: one request per
//! connection, the answer's status, headers and body (JSON parsed when it
//! is JSON). Plain std: the test binary needs no HTTP client crate.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// An answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The error's code and field, from `{"error": {"code", "field"}}`.
    pub fn error(&self) -> (String, String) {
        let json = self.json();
        let text = |key: &str| json["error"][key].as_str().unwrap_or_default().to_owned();
        (text("code"), text("field"))
    }
}

/// A request to `base` (`http://HOST:PORT`).
pub struct Request<'a> {
    base: &'a str,
    method: &'a str,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl<'a> Request<'a> {
    pub fn new(base: &'a str, method: &'a str, path: &str) -> Self {
        Self {
            base,
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `Authorization: Bearer TOKEN`.
    pub fn token(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.headers
            .push(("Content-Type".into(), "application/json".into()));
        self.body = Some(body.to_string().into_bytes());
        self
    }

    pub fn bytes(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.headers
            .push(("Content-Type".into(), content_type.into()));
        self.body = Some(body);
        self
    }

    /// Sends the request and returns the connection, to read an answer
    /// that streams (server-sent events) line by line, head included.
    pub fn open(self) -> std::io::BufReader<TcpStream> {
        std::io::BufReader::new(self.write())
    }

    fn write(self) -> TcpStream {
        let address = self.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("connect to the API");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let body = self.body.unwrap_or_default();
        let mut head = format!(
            "{} {} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.method,
            self.path,
            body.len()
        );
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("host"))
        {
            head.push_str(&format!("Host: {address}\r\n"));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
        stream
    }

    pub fn send(self) -> Answer {
        let mut stream = self.write();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .expect("an HTTP status line");
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect::<Vec<_>>();
        let chunked = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// The body of a chunked answer.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

pub fn get<'a>(base: &'a str, path: &str) -> Request<'a> {
    Request::new(base, "GET", path)
}

pub fn post<'a>(base: &'a str, path: &str) -> Request<'a> {
    Request::new(base, "POST", path)
}
