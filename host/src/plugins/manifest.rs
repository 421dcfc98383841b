//! Sidecar manifests: `name.toml` beside `name.wasm` declares the module's
//! tasks, so dropping two files into the plugins folder is enough.
//!
//! ```toml
//! [[task]]
//! name = "hello-every-2s"       # required
//! schedule = "every 2s"         # required: cron, `every`, `at`, `after` or `manual`
//! time_zone = "UTC"
//! group = "examples"
//! shards = 2
//! shard_params = "0=Beijing,1=Shanghai"
//! page_size = 100
//! params = { name = "Ada" }
//! concurrency = "allow"         # allow | forbid | replace
//! misfire = "fire-now"          # fire-now | skip | catch-up | catch-up:N
//! timeout = "30s"
//! memory = "32MiB"
//! retries = 2
//! retry_backoff = "1s"
//! selector = "region=eu"
//! keep_runs = 100               # keep the newest 100 finished runs
//! allowed_hosts = ["https://api.example.com"]   # what it may call (wasi:http)
//! secrets = ["api_token"]       # what it may read (wasi:config, `secret.api_token`)
//! mounts = ["reports"]          # folders it sees (the host's [mounts.reports], at /reports)
//! databases = ["crm"]           # databases it may query (the host's [databases.crm])
//! calendar = "workdays"         # skip the times this calendar excludes
//! on_success = ["report"]       # fire these once when a fire of it succeeded
//! on_failure = ["page-oncall"]  # … or failed, timed out or was orphaned
//! keepers = ["ada"]             # alerts about it go to them as well
//! paused = false
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::units::{ByteSize, parse_duration};
use crate::vocab::TaskSpec;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default)]
    task: Vec<ManifestTask>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestTask {
    name: String,
    schedule: String,
    time_zone: Option<String>,
    group: Option<String>,
    shards: Option<i64>,
    shard_params: Option<String>,
    page_size: Option<i64>,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
    concurrency: Option<String>,
    misfire: Option<String>,
    timeout: Option<String>,
    memory: Option<String>,
    retries: Option<i64>,
    retry_backoff: Option<String>,
    selector: Option<String>,
    keep_runs: Option<i64>,
    allowed_hosts: Option<Vec<String>>,
    secrets: Option<Vec<String>>,
    mounts: Option<Vec<String>>,
    databases: Option<Vec<String>>,
    calendar: Option<String>,
    on_success: Option<Vec<String>>,
    on_failure: Option<Vec<String>>,
    keepers: Option<Vec<String>>,
    #[serde(default)]
    paused: bool,
}

/// Reads a manifest of module `module`; the error names the key and says why.
pub fn parse_manifest(module: &str, text: &str) -> Result<Vec<TaskSpec>, String> {
    let manifest: Manifest =
        toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))?;
    manifest
        .task
        .into_iter()
        .map(|task| {
            let mut spec = TaskSpec::new(&task.name, module, &task.schedule);
            let name = task.name.clone();
            let at = |key: &str, e: String| format!("task `{name}`, key `{key}`: {e}");
            if let Some(zone) = task.time_zone {
                spec.time_zone = zone;
            }
            if let Some(group) = task.group {
                spec.group = group;
            }
            spec.shard_total = task.shards.unwrap_or(1);
            spec.shard_params = task.shard_params;
            spec.page_size = task.page_size;
            let params: BTreeMap<String, String> = task
                .params
                .into_iter()
                .map(|(key, value)| match value {
                    toml::Value::String(s) => Ok((key, s)),
                    toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                        Ok((key, value.to_string()))
                    }
                    _ => Err(at(
                        "params",
                        format!("param `{key}` must be a string, number or boolean"),
                    )),
                })
                .collect::<Result<_, _>>()?;
            spec.params = serde_json::to_string(&params).unwrap_or_else(|_| "{}".into());
            if let Some(concurrency) = task.concurrency {
                spec.concurrency = concurrency;
            }
            if let Some(misfire) = task.misfire {
                spec.misfire = misfire;
            }
            if let Some(timeout) = task.timeout {
                spec.timeout_ms = Some(
                    parse_duration(&timeout)
                        .map_err(|e| at("timeout", e.to_string()))?
                        .as_millis() as i64,
                );
            }
            if let Some(memory) = task.memory {
                let size: ByteSize = memory
                    .parse()
                    .map_err(|e: crate::units::UnitError| at("memory", e.to_string()))?;
                spec.memory_mib = Some((size.bytes() >> 20).max(1) as i64);
            }
            spec.max_retries = task.retries.unwrap_or(0);
            if let Some(backoff) = task.retry_backoff {
                spec.retry_backoff_ms = parse_duration(&backoff)
                    .map_err(|e| at("retry_backoff", e.to_string()))?
                    .as_millis() as i64;
            }
            spec.selector = task.selector;
            spec.keep_runs = task.keep_runs;
            spec.allowed_hosts = task.allowed_hosts.map(|hosts| hosts.join(", "));
            spec.secrets = task.secrets.map(|names| names.join(", "));
            spec.mounts = task.mounts.map(|names| names.join(", "));
            spec.databases = task.databases.map(|names| names.join(", "));
            spec.calendar = task.calendar;
            spec.on_success = task.on_success.map(|names| names.join(", "));
            spec.on_failure = task.on_failure.map(|names| names.join(", "));
            spec.keepers = task.keepers.map(|names| names.join(", "));
            spec.paused = task.paused;
            Ok(spec)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_declares_tasks_of_its_module() {
        let specs = parse_manifest(
            "hello",
            r#"
            [[task]]
            name = "greet"
            schedule = "every 2s"
            shards = 2
            params = { name = "Ada", times = 3 }
            timeout = "30s"
            memory = "32MiB"
            "#,
        )
        .unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].module, "hello");
        assert_eq!(specs[0].shard_total, 2);
        assert_eq!(specs[0].params, r#"{"name":"Ada","times":"3"}"#);
        assert_eq!(specs[0].timeout_ms, Some(30_000));
        assert_eq!(specs[0].memory_mib, Some(32));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let error = parse_manifest(
            "hello",
            "[[task]]\nname = \"x\"\nschedule = \"every 1s\"\nshardz = 2\n",
        )
        .unwrap_err();
        assert!(error.contains("shardz"), "{error}");
        let error = parse_manifest(
            "hello",
            "[[task]]\nname = \"x\"\nschedule = \"every 1s\"\ntimeout = \"soon\"\n",
        )
        .unwrap_err();
        assert!(error.starts_with("task `x`, key `timeout`"), "{error}");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_manifest_text_is_tasks_or_an_error(
            text in prop_oneof![
                any::<String>(),
                "\\[\\[task\\]\\]\nname = \"[a-z]{0,4}\"\nschedule = \"[a-z0-9 ]{0,12}\"\n([a-z_]{1,12} = (\"[a-z0-9 ]{0,8}\"|-?[0-9]{1,20}|true)\n){0,4}",
            ]
        ) {
            match parse_manifest("m", &text) {
                Ok(specs) => prop_assert!(specs.iter().all(|spec| spec.module == "m")),
                Err(error) => prop_assert!(!error.is_empty()),
            }
        }
    }
}
