//! HTTP tasks: a task whose `module` is `http` has no job module; each of
//! its runs is one HTTP call the host makes itself, described by the task's
//! params (`url`, `method`, `headers`, `body`, `content_type`, `timeout`,
//! `expect_status`, `expect_body_contains`), and succeeds when the answer
//! passes the check. This is the call and its check as words; making the
//! call is the dispatcher's (through `egress/`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::units::parse_duration;

/// The `module` of a task that is an HTTP call; no module file may take the name.
pub const HTTP_MODULE: &str = "http";

/// The methods an HTTP task may use.
pub const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The params an HTTP task reads; any other is refused (a typo would
/// otherwise be ignored silently).
pub const HTTP_PARAMS: [&str; 8] = [
    "url",
    "method",
    "headers",
    "body",
    "content_type",
    "timeout",
    "expect_status",
    "expect_body_contains",
];

/// Params the host adds to a run it fires for a chain (`parent.*`) or a
/// workflow step (`workflow.*`); an HTTP task's call ignores them.
const CONTEXT_PREFIXES: [&str; 2] = ["parent.", "workflow."];

/// How much of an answer's body is kept on the run's log.
pub const BODY_KEPT_BYTES: usize = 1024;

/// The longest URL, in bytes.
const MAX_URL_BYTES: usize = 2048;
/// The most headers a call may carry.
const MAX_HEADERS: usize = 64;

/// One call, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    /// An absolute `http://` or `https://` URL.
    pub url: String,
    /// One of [`HTTP_METHODS`].
    pub method: &'static str,
    /// Header names and values, in the order given.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<String>,
    /// Its `Content-Type`, if any.
    pub content_type: Option<String>,
    /// How long the call may take, within the run's own timeout.
    pub timeout: Option<Duration>,
    /// The statuses that count as success.
    pub expect_status: StatusSet,
    /// Text the answer's body must hold, if any.
    pub expect_body_contains: Option<String>,
}

impl HttpCall {
    /// Reads a call from an HTTP task's params. The error names the param
    /// and says what to write.
    pub fn from_params(params: &BTreeMap<String, String>) -> Result<Self, String> {
        let unknown = params.keys().find(|key| {
            !HTTP_PARAMS.contains(&key.as_str())
                && !CONTEXT_PREFIXES
                    .iter()
                    .any(|prefix| key.starts_with(prefix))
        });
        if let Some(unknown) = unknown {
            return Err(format!(
                "param `{unknown}` is not one an HTTP task reads; they are {}",
                HTTP_PARAMS.join(", ")
            ));
        }
        let text = |key: &str| params.get(key).map(String::as_str);
        let url = text("url")
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .ok_or("param `url` is missing; an HTTP task calls the URL in it, e.g. {\"url\": \"https://api.example.com/ping\"}")?;
        check_url(url)?;
        let method = match text("method") {
            None => "GET",
            Some(method) => {
                let upper = method.trim().to_ascii_uppercase();
                *HTTP_METHODS.iter().find(|m| **m == upper).ok_or_else(|| {
                    format!(
                        "param `method` = `{method}`: one of {}",
                        HTTP_METHODS.join(", ")
                    )
                })?
            }
        };
        let headers = match text("headers") {
            None => Vec::new(),
            Some(lines) => parse_headers(lines)?,
        };
        let content_type = text("content_type").map(str::trim).map(str::to_owned);
        if let Some(value) = &content_type {
            check_header_value("content_type", value)?;
            if headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            {
                return Err(
                    "param `content_type`: a Content-Type is in `headers` too; give it once".into(),
                );
            }
        }
        let timeout = text("timeout")
            .map(|t| {
                parse_duration(t)
                    .map_err(|e| format!("param `timeout`: {e}"))
                    .and_then(|d| {
                        if d.is_zero() {
                            Err("param `timeout` must be more than 0".to_owned())
                        } else {
                            Ok(d)
                        }
                    })
            })
            .transpose()?;
        let expect_status = match text("expect_status") {
            None => StatusSet::success(),
            Some(text) => text
                .parse()
                .map_err(|e| format!("param `expect_status` = `{text}`: {e}"))?,
        };
        let expect_body_contains = text("expect_body_contains")
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok(Self {
            url: url.to_owned(),
            method,
            headers,
            body: text("body").map(str::to_owned),
            content_type,
            timeout,
            expect_status,
            expect_body_contains,
        })
    }

    /// The call a fire makes when `overrides` (a trigger's params) are laid
    /// over the task's `params`.
    pub fn with_overrides(
        params: &BTreeMap<String, String>,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let mut merged = params.clone();
        merged.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        Self::from_params(&merged)
    }

    /// Whether an answer with `status` and `body` (its start, as read)
    /// passes the check; else what was expected and what came.
    pub fn judge(&self, status: u16, body: &[u8]) -> Result<(), String> {
        if !self.expect_status.contains(status) {
            return Err(format!(
                "expected status {}, got {status}",
                self.expect_status
            ));
        }
        if let Some(wanted) = &self.expect_body_contains
            && !contains(body, wanted.as_bytes())
        {
            return Err(format!(
                "the answer's body does not contain `{}`",
                wanted.escape_debug()
            ));
        }
        Ok(())
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

fn check_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL_BYTES {
        return Err(format!(
            "param `url` is {} bytes; at most {MAX_URL_BYTES}",
            url.len()
        ));
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| {
            format!(
                "param `url` = `{}`: must start with `http://` or `https://`",
                url.escape_debug()
            )
        })?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("param `url` = `{url}`: has no host"));
    }
    if url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!(
            "param `url` = `{}`: cannot hold spaces or control characters (percent-encode them)",
            url.escape_debug()
        ));
    }
    // As the call will read it: a URL that passes here is one it can send.
    let uri: http::Uri = url.parse().map_err(|_| {
        format!(
            "param `url` = `{}`: not a URL (write the host name in ASCII, punycode for others, and percent-encode the rest)",
            url.escape_debug()
        )
    })?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("param `url` = `{url}`: has no host"));
    }
    Ok(())
}

/// `Name: value` lines (`\n` between them; blank lines skipped).
fn parse_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(|| {
            format!(
                "param `headers`: `{}` is not `Name: value`; write one header per line",
                line.escape_debug()
            )
        })?;
        let name = name.trim();
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(format!(
                "param `headers`: `{}` is not a header name",
                name.escape_debug()
            ));
        }
        if is_reserved_header(name) {
            return Err(format!(
                "param `headers`: `{name}` cannot be set; the host writes it (Host, Content-Length, \
                 Transfer-Encoding, Connection, Upgrade, TE, Keep-Alive, Proxy-*, X-Carillon-*)"
            ));
        }
        let value = value.trim();
        check_header_value("headers", value)?;
        headers.push((name.to_owned(), value.to_owned()));
    }
    if headers.len() > MAX_HEADERS {
        return Err(format!("param `headers`: at most {MAX_HEADERS} headers"));
    }
    Ok(headers)
}

/// Headers that decide where a request goes or how it is framed, and the
/// ones the host sends about the run: a task may not set them.
fn is_reserved_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
    ]
    .contains(&name.as_str())
        || name.starts_with("proxy-")
        || name.starts_with("x-carillon-")
}

fn check_header_value(param: &str, value: &str) -> Result<(), String> {
    if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(format!(
            "param `{param}`: a header value cannot hold control characters"
        ));
    }
    Ok(())
}

/// Statuses that count as success: `2xx` (the default), `200`, `200-204`,
/// `2xx,304`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl StatusSet {
    /// Any 2xx.
    pub fn success() -> Self {
        Self(vec![(200, 299)])
    }

    /// Whether `status` is in the set.
    pub fn contains(&self, status: u16) -> bool {
        self.0
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&status))
    }
}

impl std::str::FromStr for StatusSet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let hint = "write statuses like `200`, `2xx`, `200-204` or `2xx,304`";
        let status = |part: &str| -> Result<u16, String> {
            part.trim()
                .parse::<u16>()
                .ok()
                .filter(|s| (100..=599).contains(s))
                .ok_or_else(|| format!("`{}` is not a status from 100 to 599; {hint}", part.trim()))
        };
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim) {
            let lower = part.to_ascii_lowercase();
            let range = if let Some(class) = lower.strip_suffix("xx") {
                let digit = class
                    .parse::<u16>()
                    .ok()
                    .filter(|d| (1..=5).contains(d))
                    .ok_or_else(|| format!("`{part}` is not a status class; {hint}"))?;
                (digit * 100, digit * 100 + 99)
            } else if let Some((low, high)) = part.split_once('-') {
                let (low, high) = (status(low)?, status(high)?);
                if high < low {
                    return Err(format!("`{part}` ends before it starts; {hint}"));
                }
                (low, high)
            } else {
                let one = status(part)?;
                (one, one)
            };
            ranges.push(range);
        }
        Ok(Self(ranges))
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (low, high)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if low % 100 == 0 && *high == low + 99 {
                write!(f, "{}xx", low / 100)?;
            } else if low == high {
                write!(f, "{low}")?;
            } else {
                write!(f, "{low}-{high}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn call(pairs: &[(&str, &str)]) -> Result<HttpCall, String> {
        let params = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HttpCall::from_params(&params)
    }

    #[test]
    fn a_chained_or_step_run_s_context_is_ignored() {
        let made = call(&[
            ("url", "https://api.example.com/ping"),
            ("parent.run_id", "7"),
            ("parent.output.file", "/out/a.csv"),
            ("workflow.step", "notify"),
        ])
        .unwrap();
        assert_eq!(made.url, "https://api.example.com/ping");
        assert!(call(&[("url", "https://a.example"), ("parents", "x")]).is_err());
    }

    #[test]
    fn a_url_alone_is_a_get_expecting_2xx() {
        let call = call(&[("url", "https://api.example.com/ping")]).unwrap();
        assert_eq!(call.method, "GET");
        assert_eq!(call.expect_status, StatusSet::success());
        assert!(call.judge(204, b"").is_ok());
        assert_eq!(
            call.judge(500, b"").unwrap_err(),
            "expected status 2xx, got 500"
        );
    }

    #[test]
    fn every_param_is_read() {
        let call = call(&[
            ("url", "http://127.0.0.1:8080/hook"),
            ("method", "post"),
            ("headers", "Authorization: Bearer x\n\nX-Trace: 1"),
            ("body", "{\"a\":1}"),
            ("content_type", "application/json"),
            ("timeout", "5s"),
            ("expect_status", "200-201,3xx"),
            ("expect_body_contains", "ok"),
        ])
        .unwrap();
        assert_eq!(call.method, "POST");
        assert_eq!(
            call.headers,
            vec![
                ("Authorization".to_owned(), "Bearer x".to_owned()),
                ("X-Trace".to_owned(), "1".to_owned())
            ]
        );
        assert_eq!(call.timeout, Some(Duration::from_secs(5)));
        assert_eq!(call.expect_status.to_string(), "200-201,3xx");
        assert!(call.judge(201, b"all ok").is_ok());
        assert!(call.judge(302, b"ok").is_ok());
        assert!(call.judge(202, b"ok").is_err());
        assert_eq!(
            call.judge(200, b"nope").unwrap_err(),
            "the answer's body does not contain `ok`"
        );
    }

    #[test]
    fn bad_params_are_named() {
        for (pairs, wanted) in [
            (vec![], "param `url` is missing"),
            (vec![("url", "ftp://x")], "param `url` = `ftp://x`"),
            (vec![("url", "https://")], "has no host"),
            (vec![("url", "https://a b")], "spaces"),
            (
                vec![("url", "http://x"), ("method", "BREW")],
                "param `method`",
            ),
            (
                vec![("url", "http://x"), ("headers", "nocolon")],
                "param `headers`",
            ),
            (
                vec![("url", "http://x"), ("headers", "a b: c")],
                "not a header name",
            ),
            (
                vec![("url", "http://x"), ("timeout", "soon")],
                "param `timeout`",
            ),
            (vec![("url", "http://x"), ("timeout", "0s")], "more than 0"),
            (
                vec![("url", "http://x"), ("expect_status", "700")],
                "param `expect_status`",
            ),
            (
                vec![("url", "http://x"), ("expect_status", "3xx-")],
                "param `expect_status`",
            ),
            (
                vec![("url", "http://x"), ("expect_statu", "200")],
                "param `expect_statu` is not one",
            ),
        ] {
            let error = call(&pairs).unwrap_err();
            assert!(error.contains(wanted), "{pairs:?}: {error}");
        }
    }

    #[test]
    fn headers_that_route_or_frame_the_request_are_refused() {
        for (pairs, wanted) in [
            (vec![("url", "https://bücher.example/")], "not a URL"),
            (
                vec![("url", "http://x"), ("headers", "Host: elsewhere.example")],
                "`Host` cannot be set",
            ),
            (
                vec![
                    ("url", "http://x"),
                    ("headers", "Transfer-Encoding: chunked"),
                ],
                "cannot be set",
            ),
            (
                vec![("url", "http://x"), ("headers", "proxy-authorization: x")],
                "cannot be set",
            ),
            (
                vec![("url", "http://x"), ("headers", "X-Carillon-Run: 1")],
                "cannot be set",
            ),
            (
                vec![
                    ("url", "http://x"),
                    ("headers", "Content-Type: a/b"),
                    ("content_type", "c/d"),
                ],
                "give it once",
            ),
        ] {
            let error = call(&pairs).unwrap_err();
            assert!(error.contains(wanted), "{pairs:?}: {error}");
        }
        assert!(call(&[("url", "http://x"), ("headers", "User-Agent: mine")]).is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_params_are_a_call_or_an_error_naming_a_param(
            params in proptest::collection::btree_map(
                proptest::sample::select(HTTP_PARAMS.to_vec()).prop_map(str::to_owned),
                any::<String>(),
                0..8,
            )
        ) {
            match HttpCall::from_params(&params) {
                Ok(call) => {
                    let _ = call.judge(200, b"body");
                }
                Err(error) => prop_assert!(error.starts_with("param `"), "{error}"),
            }
        }

        #[test]
        fn any_status_text_parses_or_says_what_to_write(text in ".{0,20}") {
            if let Err(error) = text.parse::<StatusSet>() {
                prop_assert!(error.contains("write statuses like"), "{error}");
            }
        }
    }
}
