//! Delay tasks (the `delays` table): one HTTP callback at a time, unique per
//! topic and key: their states, a new delay as checked before it is stored,
//! and what follows an attempt (done, again later, or given up).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The longest topic or key, in characters.
pub const MAX_DELAY_ID_CHARS: usize = 200;
/// The longest callback URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// The largest callback body, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The most retries a delay may ask for.
pub const MAX_DELAY_RETRIES: u32 = 100;
/// The most headers a callback may carry.
pub const MAX_HEADERS: usize = 64;
/// The longest wait between two attempts (ms).
pub const MAX_RETRY_WAIT_MS: i64 = 10 * 60_000;

/// Where a delay is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DelayState {
    /// Waiting for its time (or for its next attempt).
    Pending,
    /// Taken by a host, which is calling it.
    Delivering,
    /// A callback answered 2xx.
    Succeeded,
    /// No 2xx after every attempt, or a callback the host refuses to make.
    Failed,
    /// Cancelled before it was called.
    Cancelled,
}

impl DelayState {
    /// Every state.
    pub const ALL: [DelayState; 5] = [
        DelayState::Pending,
        DelayState::Delivering,
        DelayState::Succeeded,
        DelayState::Failed,
        DelayState::Cancelled,
    ];

    /// The text stored in `delays.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            DelayState::Pending => "pending",
            DelayState::Delivering => "delivering",
            DelayState::Succeeded => "succeeded",
            DelayState::Failed => "failed",
            DelayState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for DelayState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DelayState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        DelayState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| {
                let all: Vec<&str> = DelayState::ALL.iter().map(|s| s.as_str()).collect();
                format!("`{text}` is not a delay state; one of {}", all.join(", "))
            })
    }
}

/// The methods a callback may use.
pub const CALLBACK_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// What a delay calls when it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Callback {
    /// An absolute `http(s)` URL.
    pub url: String,
    /// One of [`CALLBACK_METHODS`].
    pub method: String,
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
    /// The body, if any.
    pub body: Option<String>,
    /// Its `Content-Type`, if any.
    pub content_type: Option<String>,
}

/// A delay to store: checked by [`NewDelay::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelay {
    /// What kind of thing it is about (`order-timeout`).
    pub topic: String,
    /// Which one (`order-42`); unique within the topic.
    pub key: String,
    /// When to call (ms since the epoch).
    pub due_at: i64,
    /// What to call.
    pub callback: Callback,
    /// Attempts after the first when one fails.
    pub retries: u32,
}

/// What is wrong with a delay, and with which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayProblem {
    /// The field, as the API names it (`callback.url`).
    pub field: &'static str,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl NewDelay {
    /// Checks everything but whether the host may call the URL.
    pub fn check(&self) -> Result<(), DelayProblem> {
        let problem = |field, message: String| Err(DelayProblem { field, message });
        for (field, value) in [("topic", &self.topic), ("key", &self.key)] {
            let chars = value.chars().count();
            if chars == 0 || chars > MAX_DELAY_ID_CHARS {
                return problem(
                    field,
                    format!("{field} must have 1 to {MAX_DELAY_ID_CHARS} characters"),
                );
            }
            if value.chars().any(char::is_control) {
                return problem(field, format!("{field} cannot hold control characters"));
            }
        }
        let callback = &self.callback;
        if callback.url.is_empty() || callback.url.len() > MAX_URL_BYTES {
            return problem(
                "callback.url",
                format!("the URL must have 1 to {MAX_URL_BYTES} bytes"),
            );
        }
        if !CALLBACK_METHODS.contains(&callback.method.as_str()) {
            return problem(
                "callback.method",
                format!(
                    "`{}` is not a callback method; one of {}",
                    callback.method,
                    CALLBACK_METHODS.join(", ")
                ),
            );
        }
        if callback.headers.len() > MAX_HEADERS {
            return problem("callback.headers", format!("at most {MAX_HEADERS} headers"));
        }
        for (name, value) in &callback.headers {
            let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            if name.is_empty() || !name.bytes().all(token) {
                return problem("callback.headers", format!("`{name}` is not a header name"));
            }
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return problem(
                    "callback.headers",
                    format!("the value of `{name}` cannot hold line breaks"),
                );
            }
        }
        if callback
            .body
            .as_ref()
            .is_some_and(|b| b.len() > MAX_BODY_BYTES)
        {
            return problem(
                "callback.body",
                format!("the body may have at most {MAX_BODY_BYTES} bytes"),
            );
        }
        if self.retries > MAX_DELAY_RETRIES {
            return problem("retries", format!("at most {MAX_DELAY_RETRIES} retries"));
        }
        if self.due_at < 0 {
            return problem("at", "the time is before 1970".to_owned());
        }
        Ok(())
    }
}

/// When a delay asked for `delay` from `now` (a duration as people write
/// it, `90s`) or `at` (RFC 3339) is due: exactly one of the two.
pub fn due_time(delay: Option<&str>, at: Option<&str>, now: i64) -> Result<i64, DelayProblem> {
    let problem = |field, message: String| DelayProblem { field, message };
    match (delay, at) {
        (Some(text), None) => {
            let wait = crate::units::parse_duration(text).map_err(|e| problem("delay", e.to_string()))?;
            i64::try_from(wait.as_millis())
                .ok()
                .and_then(|ms| now.checked_add(ms))
                .filter(|due| *due < LATEST_DUE_MS)
                .ok_or_else(|| problem("delay", format!("`{text}` is too far off; at most a few centuries")))
        }
        (None, Some(text)) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|at| at.timestamp_millis())
            .ok()
            .filter(|due| (0..LATEST_DUE_MS).contains(due))
            .ok_or_else(|| {
                problem("at", format!("`{text}` is not an RFC 3339 time after 1970; write e.g. `2026-12-24T18:00:00Z`"))
            }),
        (Some(_), Some(_)) => Err(problem("delay", "give `delay` or `at`, not both".to_owned())),
        (None, None) => Err(problem("delay", "say when: `delay` (e.g. `90s`) or `at` (RFC 3339)".to_owned())),
    }
}

/// Later than any due time (the year 3000, ms).
const LATEST_DUE_MS: i64 = 32_503_680_000_000;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// An answer with this status.
    Status(u16),
    /// No answer: a timeout, a refused connection, a broken exchange.
    NoAnswer,
    /// The host would not make the call (not allowed, a bad row).
    Refused,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Done: the callback answered 2xx.
    Succeeded,
    /// Another attempt at this time (ms).
    RetryAt(i64),
    /// No attempts left, or no point in another.
    Failed,
}

/// What follows attempt `attempt` (from 1) of a delay allowing `retries`
/// retries, ended at `now` with `result`: waits double from `backoff_ms`
/// up to [`MAX_RETRY_WAIT_MS`].
pub fn next_step(
    result: AttemptResult,
    attempt: u32,
    retries: u32,
    now: i64,
    backoff_ms: i64,
) -> NextStep {
    match result {
        AttemptResult::Status(status) if (200..300).contains(&status) => NextStep::Succeeded,
        AttemptResult::Refused => NextStep::Failed,
        _ if attempt > retries => NextStep::Failed,
        _ => {
            let doublings = attempt.saturating_sub(1).min(30);
            let wait = backoff_ms
                .max(1)
                .saturating_mul(1 << doublings)
                .min(MAX_RETRY_WAIT_MS);
            NextStep::RetryAt(now.saturating_add(wait))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delay() -> NewDelay {
        NewDelay {
            topic: "order-timeout".into(),
            key: "order-42".into(),
            due_at: 1_000,
            callback: Callback {
                url: "http://127.0.0.1:9/x".into(),
                method: "POST".into(),
                headers: BTreeMap::new(),
                body: None,
                content_type: None,
            },
            retries: 3,
        }
    }

    #[test]
    fn retries_back_off_and_stop() {
        let status = AttemptResult::Status;
        assert_eq!(next_step(status(204), 1, 0, 0, 1000), NextStep::Succeeded);
        assert_eq!(
            next_step(status(500), 1, 2, 0, 1000),
            NextStep::RetryAt(1000)
        );
        assert_eq!(
            next_step(AttemptResult::NoAnswer, 2, 2, 0, 1000),
            NextStep::RetryAt(2000)
        );
        assert_eq!(next_step(status(500), 3, 2, 0, 1000), NextStep::Failed);
        assert_eq!(
            next_step(AttemptResult::Refused, 1, 5, 0, 1000),
            NextStep::Failed
        );
        assert_eq!(
            next_step(status(503), 60, 100, 0, 1000),
            NextStep::RetryAt(MAX_RETRY_WAIT_MS)
        );
    }

    #[test]
    fn due_times_come_from_a_delay_or_a_time() {
        assert_eq!(due_time(Some("90s"), None, 1_000), Ok(91_000));
        assert_eq!(due_time(None, Some("1970-01-01T00:00:01Z"), 0), Ok(1_000));
        assert_eq!(due_time(None, None, 0).unwrap_err().field, "delay");
        assert_eq!(
            due_time(Some("1s"), Some("x"), 0).unwrap_err().field,
            "delay"
        );
        assert_eq!(due_time(None, Some("tomorrow"), 0).unwrap_err().field, "at");
        assert_eq!(due_time(Some("soon"), None, 0).unwrap_err().field, "delay");
        assert_eq!(
            due_time(Some("106751991167d"), None, 0).unwrap_err().field,
            "delay"
        );
    }

    #[test]
    fn a_bad_delay_names_its_field() {
        let mut bad = delay();
        bad.key = "k".repeat(201);
        assert_eq!(bad.check().unwrap_err().field, "key");
        let mut bad = delay();
        bad.callback.method = "BREW".into();
        assert_eq!(bad.check().unwrap_err().field, "callback.method");
        let mut bad = delay();
        bad.callback
            .headers
            .insert("X-A".into(), "a\r\nInjected: 1".into());
        assert_eq!(bad.check().unwrap_err().field, "callback.headers");
        let mut bad = delay();
        bad.retries = 101;
        assert_eq!(bad.check().unwrap_err().field, "retries");
        assert_eq!(delay().check(), Ok(()));
    }
}
