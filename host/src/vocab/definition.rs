//! Reading a task row into a checked definition. The task table is written by
//! anyone with SQL, so every column is validated here, once for every door
//! (SQL, manifests, the CLI), and a bad value is reported naming the column,
//! the value and what is accepted.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::labels::Labels;
use crate::schedule::{MisfirePolicy, Schedule, TaskTiming, parse_time_zone};
use crate::vocab::{TaskError, TaskRow};

/// What happens when a fire comes while runs of the task are still active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Run anyway.
    Allow,
    /// Skip the fire and record why.
    Forbid,
    /// Cancel the running runs and fire.
    Replace,
}

impl Concurrency {
    /// The text of the `concurrency` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Concurrency::Allow => "allow",
            Concurrency::Forbid => "forbid",
            Concurrency::Replace => "replace",
        }
    }
}

impl fmt::Display for Concurrency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Concurrency {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "allow" => Ok(Concurrency::Allow),
            "forbid" => Ok(Concurrency::Forbid),
            "replace" => Ok(Concurrency::Replace),
            _ => Err("must be `allow`, `forbid` or `replace`".to_owned()),
        }
    }
}

/// A task row, checked.
#[derive(Debug, Clone)]
pub struct TaskDefinition {
    /// When it fires.
    pub timing: TaskTiming,
    /// Shards per fire.
    pub shard_total: u32,
    /// Per-shard parameters by shard index.
    pub shard_params: BTreeMap<u32, String>,
    /// Task params.
    pub params: BTreeMap<String, String>,
    /// Concurrency policy.
    pub concurrency: Concurrency,
    /// Misfire policy.
    pub misfire: MisfirePolicy,
    /// The params every scheduled fire gets, as the JSON stored on its runs.
    pub fire_params: String,
}

fn column(name: &str, value: &str, reason: impl fmt::Display) -> TaskError {
    TaskError::invalid(format!("column `{name}` = `{value}`: {reason}"))
}

impl TaskDefinition {
    /// Checks every column of `row`; the error names the first bad one.
    pub fn from_row(row: &TaskRow) -> Result<Self, TaskError> {
        let spec = &row.spec;
        let schedule: Schedule = spec
            .schedule
            .parse()
            .map_err(|e| column("schedule", &spec.schedule, e))?;
        let tz = parse_time_zone(&spec.time_zone)
            .map_err(|e| column("time_zone", &spec.time_zone, e))?;
        if spec.shard_total < 1 || spec.shard_total > 10_000 {
            return Err(column(
                "shard_total",
                &spec.shard_total.to_string(),
                "must be 1 to 10000",
            ));
        }
        let shard_total = spec.shard_total as u32;
        let shard_params = match &spec.shard_params {
            None => BTreeMap::new(),
            Some(text) => parse_shard_params(text, shard_total)
                .map_err(|e| column("shard_params", text, e))?,
        };
        if let Some(size) = spec.page_size.filter(|s| *s < 1 || *s > u32::MAX as i64) {
            return Err(column(
                "page_size",
                &size.to_string(),
                "must be a positive number",
            ));
        }
        let params = parse_params(&spec.params).map_err(|e| column("params", &spec.params, e))?;
        let concurrency: Concurrency = spec
            .concurrency
            .parse()
            .map_err(|e| column("concurrency", &spec.concurrency, e))?;
        let misfire: MisfirePolicy = spec
            .misfire
            .parse()
            .map_err(|e| column("misfire", &spec.misfire, e))?;
        for (name, value) in [
            ("timeout_ms", spec.timeout_ms),
            ("memory_mib", spec.memory_mib),
        ] {
            if let Some(value) = value.filter(|v| *v <= 0) {
                return Err(column(
                    name,
                    &value.to_string(),
                    "must be positive (or NULL for the host default)",
                ));
            }
        }
        if spec.max_retries < 0 || spec.retry_backoff_ms < 0 {
            return Err(column(
                "max_retries",
                &spec.max_retries.to_string(),
                "retries and backoff cannot be negative",
            ));
        }
        if let Some(selector) = &spec.selector {
            Labels::parse(selector).map_err(|e| column("selector", selector, e))?;
        }
        let fire_params = merged_params_json(&params, &BTreeMap::new());
        Ok(Self {
            fire_params,
            timing: TaskTiming {
                schedule,
                tz,
                created_at_ms: row.created_at,
                start_at_ms: spec.start_at,
                end_at_ms: spec.end_at,
            },
            shard_total,
            shard_params,
            params,
            concurrency,
            misfire,
        })
    }

    /// The params as a JSON object, with `overrides` (per-fire params) winning.
    pub fn params_json(&self, overrides: &BTreeMap<String, String>) -> String {
        merged_params_json(&self.params, overrides)
    }
}

/// `params` with `overrides` winning, as the JSON object stored on runs.
fn merged_params_json(
    params: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
) -> String {
    let mut merged = params.clone();
    merged.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    serde_json::to_string(&merged).unwrap_or_else(|_| "{}".to_owned())
}

/// `0=Beijing,1=Shanghai` → {0: Beijing, 1: Shanghai}.
pub fn parse_shard_params(text: &str, shard_total: u32) -> Result<BTreeMap<u32, String>, String> {
    let mut params = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (index, value) = item
            .split_once('=')
            .ok_or_else(|| format!("`{item}` is not INDEX=VALUE, e.g. `0=Beijing,1=Shanghai`"))?;
        let index: u32 = index
            .trim()
            .parse()
            .map_err(|_| format!("`{index}` in `{item}` is not a shard index"))?;
        if index >= shard_total {
            return Err(format!(
                "shard {index} does not exist: the task has {shard_total} shard(s), 0 to {}",
                shard_total - 1
            ));
        }
        params.insert(index, value.trim().to_owned());
    }
    Ok(params)
}

/// A JSON object whose values are strings, numbers or booleans (kept as text).
pub fn parse_params(text: &str) -> Result<BTreeMap<String, String>, String> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("not JSON ({e}); write an object like {{\"batch\": \"100\"}}"))?;
    let object = value
        .as_object()
        .ok_or_else(|| "not a JSON object; write an object like {\"batch\": \"100\"}".to_owned())?;
    object
        .iter()
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => return Err(format!("param `{key}` must be a string, number or boolean")),
            };
            Ok((key.clone(), text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{TaskErrorKind, TaskSpec};

    fn row(edit: impl FnOnce(&mut TaskSpec)) -> TaskRow {
        let mut spec = TaskSpec::new("t", "hello", "every 1s");
        edit(&mut spec);
        TaskRow::new(spec, 0)
    }

    fn error(edit: impl FnOnce(&mut TaskSpec)) -> String {
        let error = TaskDefinition::from_row(&row(edit)).unwrap_err();
        assert_eq!(error.kind, TaskErrorKind::Invalid);
        error.message
    }

    #[test]
    fn a_row_with_defaults_is_valid() {
        let definition = TaskDefinition::from_row(&row(|_| {})).unwrap();
        assert_eq!(definition.shard_total, 1);
        assert_eq!(definition.concurrency, Concurrency::Allow);
        assert_eq!(definition.misfire, MisfirePolicy::FireNow);
    }

    #[test]
    fn bad_columns_are_named_with_their_value() {
        assert_eq!(
            error(|s| s.schedule = "0 0 25 * * ?".into()),
            "column `schedule` = `0 0 25 * * ?`: cron hours `25`: 25 is out of range 0-23"
        );
        assert!(
            error(|s| s.time_zone = "Mars/Base".into())
                .starts_with("column `time_zone` = `Mars/Base`")
        );
        assert!(
            error(|s| s.concurrency = "sometimes".into())
                .contains("`allow`, `forbid` or `replace`")
        );
        assert!(error(|s| s.misfire = "later".into()).starts_with("column `misfire` = `later`"));
        assert!(error(|s| s.params = "[1]".into()).contains("not a JSON object"));
        assert!(error(|s| s.shard_total = 0).starts_with("column `shard_total` = `0`"));
        assert!(error(|s| s.shard_params = Some("5=x".into())).contains("shard 5 does not exist"));
        assert!(error(|s| s.selector = Some("region".into())).starts_with("column `selector`"));
    }

    #[test]
    fn shard_params_and_params_parse() {
        let definition = TaskDefinition::from_row(&row(|s| {
            s.shard_total = 3;
            s.shard_params = Some("0=Beijing, 1=Shanghai".into());
            s.params = r#"{"batch": 100, "dry": true, "city": "x"}"#.into();
        }))
        .unwrap();
        assert_eq!(
            definition.shard_params.get(&1).map(String::as_str),
            Some("Shanghai")
        );
        assert_eq!(definition.shard_params.get(&2), None);
        let overrides = BTreeMap::from([("city".to_owned(), "y".to_owned())]);
        assert_eq!(
            definition.params_json(&overrides),
            r#"{"batch":"100","city":"y","dry":"true"}"#
        );
    }
}
