//! Reading a task row into a checked definition. The task table is written by
//! anyone with SQL, so every column is validated here, once for every door
//! (SQL, manifests, the CLI), and a bad value is reported naming the column,
//! the value and what is accepted.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::labels::Labels;
use crate::schedule::calendar::check_name as check_calendar_name;
use crate::schedule::{Calendars, LATEST_MS, MisfirePolicy, Schedule, TaskTiming, parse_time_zone};
use crate::vocab::{
    AllowList, GrantKind, HTTP_MODULE, HttpCall, TaskError, TaskRow, WORKFLOW_MODULE,
    WORKFLOW_PARAM, check_workflow_name, is_builtin_module, parse_grant_names, parse_secret_names,
    parse_task_list,
};

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
    /// The calendar the row names, if any: [`TaskDefinition::with_calendar`]
    /// puts it into `timing`.
    pub calendar: Option<String>,
}

/// Shards per fire at most.
pub const MAX_SHARDS: i64 = 1000;
/// Items per page at most.
pub const MAX_PAGE_SIZE: i64 = 1_000_000;
/// The longest run timeout: 365 days.
pub const MAX_TIMEOUT_MS: i64 = 365 * 86_400_000;
/// The largest memory cap a task may ask for: 64 GiB (a host also refuses
/// more than its own largest, `limits.memory` or 1 GiB).
pub const MAX_MEMORY_MIB: i64 = 65_536;
/// The most finished runs a task may ask to keep by count.
pub const MAX_KEEP_RUNS: i64 = 1_000_000_000;
/// Retries after a failed attempt at most.
pub const MAX_RETRIES: i64 = 100;
/// The longest first retry delay: a day.
pub const MAX_BACKOFF_MS: i64 = 86_400_000;
/// The longest text column (params, shard params, selector): 64 KiB, since
/// it is copied into every run.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// The longest name, group or module name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

fn column(name: &'static str, value: &str, reason: impl fmt::Display) -> TaskError {
    TaskError::invalid(format!("column `{name}` = `{value}`: {reason}")).in_column(name)
}

/// `value` if it is within `min..=max`, else an error naming the column.
fn in_range(name: &'static str, value: i64, min: i64, max: i64) -> Result<i64, TaskError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(column(
            name,
            &value.to_string(),
            format!("must be {min} to {max}"),
        ))
    }
}

/// A name, group or module: not empty, not too long, no control
/// characters (they would reach terminals and logs raw).
fn check_name(name: &'static str, value: &str, may_be_empty: bool) -> Result<(), TaskError> {
    let shown = value.escape_debug().to_string();
    if value.trim().is_empty() && !may_be_empty {
        return Err(column(name, &shown, "cannot be empty"));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(column(
            name,
            &format!("{}…", shown.chars().take(40).collect::<String>()),
            format!("is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(column(name, &shown, "cannot hold control characters"));
    }
    Ok(())
}

/// A text column that is copied into every run: at most [`MAX_TEXT_BYTES`].
fn check_length(name: &'static str, value: &str) -> Result<(), TaskError> {
    if value.len() > MAX_TEXT_BYTES {
        return Err(column(
            name,
            &format!(
                "{}…",
                value.chars().take(40).collect::<String>().escape_debug()
            ),
            format!(
                "is {} bytes; at most {MAX_TEXT_BYTES} bytes are allowed",
                value.len()
            ),
        ));
    }
    Ok(())
}

impl TaskDefinition {
    /// Checks every column of `row`; the error names the first bad one.
    pub fn from_row(row: &TaskRow) -> Result<Self, TaskError> {
        if let Some(problem) = &row.unreadable {
            return Err(TaskError::invalid(problem.clone()));
        }
        let spec = &row.spec;
        check_name("name", &spec.name, false)?;
        check_name("task_group", &spec.group, false)?;
        check_name("module", &spec.module, false)?;
        let schedule: Schedule = spec
            .schedule
            .parse()
            .map_err(|e| column("schedule", &spec.schedule, e))?;
        let tz = parse_time_zone(&spec.time_zone)
            .map_err(|e| column("time_zone", &spec.time_zone, e))?;
        let shard_total = in_range("shard_total", spec.shard_total, 1, MAX_SHARDS)? as u32;
        let shard_params = match &spec.shard_params {
            None => BTreeMap::new(),
            Some(text) => {
                check_length("shard_params", text)?;
                parse_shard_params(text, shard_total)
                    .map_err(|e| column("shard_params", text, e))?
            }
        };
        if let Some(size) = spec.page_size {
            in_range("page_size", size, 1, MAX_PAGE_SIZE)?;
        }
        check_length("params", &spec.params)?;
        let params = parse_params(&spec.params).map_err(|e| column("params", &spec.params, e))?;
        if spec.module == HTTP_MODULE {
            HttpCall::from_params(&params).map_err(|e| column("params", &spec.params, e))?;
        }
        if spec.module == WORKFLOW_MODULE {
            let Some(workflow) = params.get(WORKFLOW_PARAM) else {
                return Err(column(
                    "params",
                    &spec.params,
                    "a task whose module is `workflow` needs the param `workflow` naming the workflow it starts",
                ));
            };
            check_workflow_name("workflow", workflow)
                .map_err(|e| column("params", &spec.params, e))?;
        }
        if is_builtin_module(&spec.module)
            && let Some(size) = spec.page_size
        {
            return Err(column(
                "page_size",
                &size.to_string(),
                format!(
                    "a task whose module is `{}` cannot be paged (it has no job to hand pages to); leave it NULL",
                    spec.module
                ),
            ));
        }
        let concurrency: Concurrency = spec
            .concurrency
            .parse()
            .map_err(|e| column("concurrency", &spec.concurrency, e))?;
        let misfire: MisfirePolicy = spec
            .misfire
            .parse()
            .map_err(|e| column("misfire", &spec.misfire, e))?;
        if let Some(timeout) = spec.timeout_ms {
            in_range("timeout_ms", timeout, 1, MAX_TIMEOUT_MS)?;
        }
        if let Some(memory) = spec.memory_mib {
            in_range("memory_mib", memory, 1, MAX_MEMORY_MIB)?;
        }
        in_range("max_retries", spec.max_retries, 0, MAX_RETRIES)?;
        if let Some(keep) = spec.keep_runs {
            in_range("keep_runs", keep, 0, MAX_KEEP_RUNS)?;
        }
        in_range("retry_backoff_ms", spec.retry_backoff_ms, 0, MAX_BACKOFF_MS)?;
        if let Some(hosts) = &spec.allowed_hosts {
            check_length("allowed_hosts", hosts)?;
            AllowList::parse(hosts).map_err(|e| column("allowed_hosts", hosts, e))?;
        }
        if let Some(names) = &spec.secrets {
            check_length("secrets", names)?;
            parse_secret_names(names).map_err(|e| column("secrets", names, e))?;
        }
        if let Some(names) = &spec.mounts {
            check_length("mounts", names)?;
            parse_grant_names(GrantKind::Mount, names).map_err(|e| column("mounts", names, e))?;
        }
        if let Some(names) = &spec.databases {
            check_length("databases", names)?;
            parse_grant_names(GrantKind::Database, names)
                .map_err(|e| column("databases", names, e))?;
        }
        let calendar = match spec.calendar.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => {
                check_calendar_name(name).map_err(|e| column("calendar", name, e))?;
                Some(name.to_owned())
            }
        };
        for (name, list) in [
            ("on_success", &spec.on_success),
            ("on_failure", &spec.on_failure),
        ] {
            if let Some(text) = list {
                check_length(name, text)?;
                let names = parse_task_list(text).map_err(|e| column(name, text, e))?;
                if names.contains(&spec.name) {
                    return Err(column(
                        name,
                        text,
                        "names the task itself: a chain may not loop",
                    ));
                }
            }
        }
        if let Some(text) = &spec.keepers {
            check_length("keepers", text)?;
            parse_task_list(text)
                .map_err(|e| column("keepers", text, e.replace("task name", "keeper name")))?;
        }
        if let Some(selector) = &spec.selector {
            check_length("selector", selector)?;
            Labels::parse(selector).map_err(|e| column("selector", selector, e))?;
        }
        for (name, time) in [
            ("start_at", spec.start_at),
            ("end_at", spec.end_at),
            ("created_at", Some(row.created_at)),
        ] {
            if let Some(time) = time {
                in_range(name, time, 0, LATEST_MS)?;
            }
        }
        if let (Some(start), Some(end)) = (spec.start_at, spec.end_at)
            && end < start
        {
            return Err(column(
                "end_at",
                &end.to_string(),
                format!("is before start_at ({start}): the task could never fire"),
            ));
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
                calendar: None,
            },
            calendar,
            shard_total,
            shard_params,
            params,
            concurrency,
            misfire,
        })
    }

    /// The definition with the calendar it names taken from `calendars`;
    /// a calendar that does not exist or does not check out is the task's
    /// error ([`crate::vocab::TaskErrorKind::Calendar`]: cleared when the calendars change).
    pub fn with_calendar(mut self, calendars: &Calendars) -> Result<Self, TaskError> {
        if let Some(name) = &self.calendar {
            let calendar = calendars.get(name).map_err(|error| {
                TaskError::calendar(format!("column `calendar`: {error}")).in_column("calendar")
            })?;
            self.timing.calendar = Some(calendar);
        }
        Ok(self)
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
    fn an_http_tasks_params_are_checked_as_its_call() {
        let message = error(|s| {
            s.module = "http".into();
            s.params = r#"{"method": "POST"}"#.into();
        });
        assert!(
            message
                .starts_with("column `params` = `{\"method\": \"POST\"}`: param `url` is missing"),
            "{message}"
        );
        let ok = row(|s| {
            s.module = "http".into();
            s.params = r#"{"url": "https://example.com/"}"#.into();
        });
        assert!(TaskDefinition::from_row(&ok).is_ok());
        // Any other module's params are its own business.
        assert!(
            TaskDefinition::from_row(&row(|s| s.params = r#"{"method": "POST"}"#.into())).is_ok()
        );
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
        assert!(
            error(|s| s.allowed_hosts = Some("api.example.com".into()))
                .starts_with("column `allowed_hosts` = `api.example.com`: ")
        );
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

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::vocab::TaskSpec;

    // Boxed: a row of eighteen unboxed strategies overflows a test thread's
    // stack in a debug build.
    fn text() -> BoxedStrategy<String> {
        prop_oneof![
            any::<String>(),
            "[a-z0-9_{}\":, =-]{0,12}",
            Just(String::new()),
            Just("every 10000000000000000000s 10000000000000000000s".to_owned()),
            Just("every 106751991167d".to_owned()),
        ]
        .boxed()
    }

    fn number() -> BoxedStrategy<i64> {
        prop_oneof![any::<i64>(), -3i64..2000, Just(i64::MIN), Just(i64::MAX)].boxed()
    }

    prop_compose! {
        fn spec()(
            name in text(), group in text(), module in text(), schedule in text(),
            time_zone in text(), shard_total in number(), shard_params in proptest::option::of(text()),
            page_size in proptest::option::of(number()), params in text(), concurrency in text(),
            misfire in text(), timeout_ms in proptest::option::of(number()),
            memory_mib in proptest::option::of(number()), max_retries in number(),
            retry_backoff_ms in number(), selector in proptest::option::of(text()),
            start_at in proptest::option::of(number()), end_at in proptest::option::of(number()),
            keep_runs in proptest::option::of(number()),
            allowed_hosts in proptest::option::of(text()),
            secrets in proptest::option::of(text()),
            mounts in proptest::option::of(text()),
            databases in proptest::option::of(text()),
            calendar in proptest::option::of(text()),
            on_success in proptest::option::of(text()),
            on_failure in proptest::option::of(text()),
            keepers in proptest::option::of(text()),
        ) -> TaskSpec {
            TaskSpec {
                name, group, module, schedule, time_zone, paused: false, shard_total, shard_params,
                page_size, params, concurrency, misfire, timeout_ms, memory_mib, max_retries,
                retry_backoff_ms, selector, start_at, end_at, keep_runs, allowed_hosts, secrets,
                mounts, databases, calendar, on_success, on_failure, keepers,
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn any_row_is_a_definition_or_an_error_naming_the_column(
            spec in spec(),
            created_at in number(),
        ) {
            let row = TaskRow::new(spec, created_at);
            match TaskDefinition::from_row(&row) {
                Ok(definition) => {
                    let _ = definition.timing.next_after(0);
                }
                Err(error) => prop_assert!(error.message.starts_with("column `"), "{}", error.message),
            }
        }

        #[test]
        fn any_params_text_is_params_or_says_what_to_write(text in text()) {
            if let Err(error) = parse_params(&text) {
                prop_assert!(error.contains("object") || error.contains("param `"), "{error}");
            }
        }

        #[test]
        fn any_shard_params_text_is_parsed_or_explained(text in text(), total in 1u32..=1000) {
            if let Err(error) = parse_shard_params(&text, total) {
                prop_assert!(!error.is_empty());
            }
        }
    }
}
