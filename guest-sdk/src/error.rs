//! Errors a job returns, and the typed-param error.

use std::any::Any;
use std::fmt;

use crate::bindings::carillon::job::types as wit;

/// Why a run failed. Return it from your job function; `?` converts any
/// `std::error::Error` into a retryable `JobError` and a [`ParamError`] into a
/// non-retryable one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    message: String,
    retryable: bool,
}

impl JobError {
    /// A failure that running the shard again may fix (a flaky dependency).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure that retrying cannot fix (bad input, a bug).
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }

    /// The message the operator will read.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the host may retry the run.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    pub(crate) fn into_wit(self) -> wit::JobError {
        wit::JobError {
            message: self.message,
            retryable: self.retryable,
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error + 'static> From<E> for JobError {
    fn from(error: E) -> Self {
        let retryable = !(&error as &dyn Any).is::<ParamError>();
        Self {
            message: error.to_string(),
            retryable,
        }
    }
}

/// A param that is missing or does not parse as the type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    name: String,
    expected: &'static str,
    got: Option<String>,
}

impl ParamError {
    pub(crate) fn missing<T>(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            expected: short_type_name::<T>(),
            got: None,
        }
    }

    pub(crate) fn invalid<T>(name: &str, got: &str) -> Self {
        Self {
            name: name.to_owned(),
            expected: short_type_name::<T>(),
            got: Some(got.to_owned()),
        }
    }

    /// The param's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.got {
            Some(got) => write!(
                f,
                "param `{}`: expected {}, got `{}`",
                self.name, self.expected, got
            ),
            None => write!(
                f,
                "param `{}`: expected {}, but the param is not set",
                self.name, self.expected
            ),
        }
    }
}

impl std::error::Error for ParamError {}

/// `alloc::string::String` → `String`, `u32` → `u32`.
fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let generic_start = full.find('<').unwrap_or(full.len());
    match full[..generic_start].rfind("::") {
        Some(cut) => &full[cut + 2..],
        None => full,
    }
}

/// A host call (checkpoint or state) that the host refused or could not store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    pub(crate) operation: &'static str,
    pub(crate) message: String,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.operation, self.message)
    }
}

impl std::error::Error for HostError {}
