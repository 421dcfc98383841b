//! The run's context as a job sees it: who, which shard and page, params, checkpoint.

use std::str::FromStr;

use crate::bindings::carillon::job::types as wit;
use crate::error::ParamError;

/// Everything the host tells a job about the run it is doing.
#[derive(Debug, Clone)]
pub struct Context {
    inner: wit::Context,
}

/// The slice of the task's work this run owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard<'a> {
    /// 0-based shard index, below `total`.
    pub index: u32,
    /// Number of shards each fire is split into (at least 1).
    pub total: u32,
    /// The per-shard parameter configured on the task, if any.
    pub parameter: Option<&'a str>,
}

/// The page of a paged task this run must process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 0-based page number.
    pub index: u64,
    /// Items per page.
    pub size: u32,
}

impl Page {
    /// The first item offset of this page (`index * size`).
    pub fn offset(&self) -> u64 {
        self.index * u64::from(self.size)
    }
}

impl Context {
    pub(crate) fn from_wit(inner: wit::Context) -> Self {
        Self { inner }
    }

    /// Name of the task this run belongs to.
    pub fn task(&self) -> &str {
        &self.inner.task
    }

    /// Group of the task.
    pub fn group(&self) -> &str {
        &self.inner.group
    }

    /// Host-assigned run identifier, stable across retries of this run.
    pub fn run_id(&self) -> u64 {
        self.inner.run_id
    }

    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// The slot this run was scheduled for, ms since the Unix epoch.
    pub fn scheduled_at_ms(&self) -> i64 {
        self.inner.scheduled_at
    }

    /// When this attempt started, ms since the Unix epoch.
    pub fn fired_at_ms(&self) -> i64 {
        self.inner.fired_at
    }

    /// The shard this run owns.
    pub fn shard(&self) -> Shard<'_> {
        let shard = &self.inner.shard;
        Shard {
            index: shard.index,
            total: shard.total,
            parameter: shard.parameter.as_deref(),
        }
    }

    /// The page this run owns, when the task pages through data.
    pub fn page(&self) -> Option<Page> {
        self.inner.page.map(|page| Page {
            index: page.index,
            size: page.size,
        })
    }

    /// All params (task params merged with per-fire params), in key order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.inner
            .params
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// The raw text of param `name`, if set.
    pub fn param_str(&self, name: &str) -> Option<&str> {
        self.params()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// Param `name` parsed as `T`.
    ///
    /// Fails with a message naming the param, the expected type and the text it
    /// got (`param `batch`: expected u32, got `abc``), or saying it is missing.
    /// The `?` operator turns the error into a non-retryable [`JobError`](crate::JobError).
    pub fn param<T: FromStr>(&self, name: &str) -> Result<T, ParamError> {
        let text = self
            .param_str(name)
            .ok_or_else(|| ParamError::missing::<T>(name))?;
        text.trim()
            .parse()
            .map_err(|_| ParamError::invalid::<T>(name, text))
    }

    /// Param `name` parsed as `T`, or `default` when the param is not set.
    /// A param that is set but does not parse is still an error.
    pub fn param_or<T: FromStr>(&self, name: &str, default: T) -> Result<T, ParamError> {
        match self.param_str(name) {
            None => Ok(default),
            Some(_) => self.param(name),
        }
    }

    /// The last checkpoint saved by an earlier attempt of this shard run, if any.
    pub fn checkpoint(&self) -> Option<&[u8]> {
        self.inner.checkpoint.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(params: &[(&str, &str)]) -> Context {
        Context::from_wit(wit::Context {
            task: "t".into(),
            group: "default".into(),
            run_id: 1,
            scheduled_at: 0,
            fired_at: 0,
            attempt: 1,
            shard: wit::Shard {
                index: 1,
                total: 4,
                parameter: Some("Shanghai".into()),
            },
            page: Some(wit::Page {
                index: 3,
                size: 100,
            }),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            checkpoint: None,
        })
    }

    #[test]
    fn typed_params_parse_or_name_param_type_and_text() {
        let ctx = context(&[("batch", "abc"), ("size", " 12 "), ("name", "x")]);
        assert_eq!(ctx.param::<u32>("size"), Ok(12));
        assert_eq!(ctx.param::<String>("name").as_deref(), Ok("x"));
        assert_eq!(
            ctx.param::<u32>("batch").unwrap_err().to_string(),
            "param `batch`: expected u32, got `abc`"
        );
        assert_eq!(
            ctx.param::<String>("missing").unwrap_err().to_string(),
            "param `missing`: expected String, but the param is not set"
        );
        assert_eq!(ctx.param_or("missing", 7u8), Ok(7));
        assert!(
            ctx.param_or("batch", 7u8).is_err(),
            "a set but bad param is still an error"
        );
    }

    #[test]
    fn shard_and_page_read_back() {
        let ctx = context(&[]);
        assert_eq!(
            ctx.shard(),
            Shard {
                index: 1,
                total: 4,
                parameter: Some("Shanghai")
            }
        );
        assert_eq!(ctx.page().map(|p| p.offset()), Some(300));
    }

    #[test]
    fn question_mark_makes_param_errors_fatal_and_other_errors_retryable() {
        let from_param: crate::JobError = context(&[]).param::<u8>("x").unwrap_err().into();
        assert!(!from_param.is_retryable());
        let io = std::io::Error::other("connection reset");
        let from_io: crate::JobError = io.into();
        assert!(from_io.is_retryable());
        assert_eq!(from_io.message(), "connection reset");
    }
}
