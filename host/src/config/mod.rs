//! Host configuration: `carillon.toml`, overridden by `CARILLON_*` environment
//! variables, overridden by command-line flags, all from one table of keys
//! ([`keys::KEYS`]). Unknown keys and bad values fail start-up with the file,
//! variable or flag, the key and the reason.
//!
//! ```toml
//! [database]
//! url = "sqlite://carillon.db"      # or postgres://user@host/db
//!
//! [plugins]
//! dir = "plugins"                   # watched folder of NAME.wasm (+ NAME.toml)
//! cache_dir = "/var/cache/carillon" # compiled modules ("": none)
//!
//! [node]
//! id = "host-a"                     # default: the machine's host name
//! labels = "region=eu,disk=ssd"
//! max_concurrent_runs = 64
//! heartbeat_interval = "2s"
//! node_timeout = "10s"
//!
//! [scheduler]
//! poll_interval = "1s"
//! misfire_threshold = "60s"
//!
//! [limits]                          # for tasks that set none
//! timeout = "5m"
//! memory = "64MiB"
//! log = "1MiB"
//! cancel_grace = "2s"
//!
//! [log]
//! level = "info"                    # or a filter: "info,carillon::job=warn"
//! format = "text"                   # or "json"
//!
//! [shutdown]
//! grace = "10s"
//!
//! [retention]
//! succeeded = "7d"                  # succeeded and skipped runs
//! failed = "30d"                    # failed, timed-out, cancelled, orphaned
//!
//! [mounts.reports]                  # a folder tasks may be granted (named.rs)
//! path = "/srv/reports"
//! writable = true
//!
//! [databases.crm]                   # a database tasks may be granted (named.rs)
//! url = "postgres://jobs@db.internal/crm"
//! ```

mod flags;
pub mod keys;
mod named;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use flags::ConfigFlags;
pub use keys::{KEYS, Key, Shown};
pub use named::mount_of;

use crate::egress::AllowList;
use crate::labels::Labels;
use crate::retention::Retention;
use crate::runtime::{Mount, RunLimits};
use crate::secrets::SecretKey;
use crate::store::JobDatabase;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("config file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (with line and column for TOML errors).
        message: String,
    },
    /// A value (from the file, the environment or a flag) is bad.
    #[error("{origin}: key `{key}`: {message}")]
    BadValue {
        /// Where it came from.
        origin: String,
        /// The key.
        key: &'static str,
        /// Why.
        message: String,
    },
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The resolved configuration of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Database URL.
    pub database_url: String,
    /// Plugins folder.
    pub plugins_dir: PathBuf,
    /// Compiled-module cache; `None` disables it.
    pub cache_dir: Option<PathBuf>,
    /// Node id.
    pub node_id: String,
    /// Node labels.
    pub labels: Labels,
    /// Runs in flight at once.
    pub max_concurrent_runs: usize,
    /// Heartbeat interval.
    pub heartbeat_interval: Duration,
    /// A node silent this long is dead; its runs are rescued.
    pub node_timeout: Duration,
    /// How often the task table is polled.
    pub poll_interval: Duration,
    /// Slots older than this when due are misfires.
    pub misfire_threshold: Duration,
    /// Limits for tasks that set none.
    pub limits: RunLimits,
    /// Tracing filter.
    pub log_level: String,
    /// Tracing format.
    pub log_format: LogFormat,
    /// Time running runs get to finish at shutdown.
    pub shutdown_grace: Duration,
    /// How long finished runs are kept.
    pub retention: Retention,
    /// Where the admin API listens; `None`: it is off.
    pub api_listen: Option<std::net::SocketAddr>,
    /// Delay callbacks: where they may go, how long one may take, retries.
    pub delays: DelaySettings,
    /// Outbound HTTP, for every caller: internal addresses, CA roots.
    pub egress: EgressSettings,
    /// How alerts are sent.
    pub alerts: AlertSettings,
    /// The key secrets are sealed with; `None`: on SQLite, the file beside
    /// the database.
    pub secrets_key: Option<SecretKey>,
    /// Folders tasks may be granted (`[mounts.NAME]`), by name.
    pub mounts: BTreeMap<String, Mount>,
    /// Databases tasks may be granted (`[databases.NAME]`), by name.
    pub databases: BTreeMap<String, JobDatabase>,
}

/// How delay callbacks are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelaySettings {
    /// The hosts callbacks may call (until tasks get their own grants, the
    /// one list for delays).
    pub allowed_hosts: AllowList,
    /// How long one attempt may take in all.
    pub timeout: Duration,
    /// The wait before the first retry; it doubles for each next one.
    pub retry_backoff: Duration,
}

/// How alerts are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// The console's address for links in alerts (`None`: the API's).
    pub console_url: Option<String>,
    /// The SMTP server for e-mail channels.
    pub smtp_url: Option<String>,
    /// The sender of e-mail alerts.
    pub email_from: String,
    /// How long one delivery may take.
    pub timeout: Duration,
}

/// The host's ceiling for outbound HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressSettings {
    /// What tasks' HTTP calls may reach at most.
    pub allowed_hosts: AllowList,
    /// Whether a host name may lead to an internal address (loopback,
    /// private, link-local, metadata); an address written out in an
    /// allow-list may always be called.
    pub allow_private: bool,
    /// A PEM file of extra CA certificates to trust.
    pub ca_roots: Option<PathBuf>,
}

impl Default for EgressSettings {
    fn default() -> Self {
        Self {
            allowed_hosts: AllowList::any_host(),
            allow_private: false,
            ca_roots: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://carillon.db".to_owned(),
            plugins_dir: PathBuf::from("plugins"),
            cache_dir: Some(default_cache_dir()),
            node_id: default_node_id(),
            labels: Labels::default(),
            max_concurrent_runs: 64,
            heartbeat_interval: Duration::from_secs(2),
            node_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            misfire_threshold: Duration::from_secs(60),
            limits: RunLimits {
                timeout: Duration::from_secs(300),
                ..RunLimits::default()
            },
            log_level: "info".to_owned(),
            log_format: LogFormat::Text,
            shutdown_grace: Duration::from_secs(10),
            retention: Retention {
                succeeded: Duration::from_secs(7 * 86_400),
                failed: Duration::from_secs(30 * 86_400),
            },
            api_listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 7878))),
            delays: DelaySettings {
                allowed_hosts: AllowList::default(),
                timeout: Duration::from_secs(10),
                retry_backoff: Duration::from_secs(1),
            },
            egress: EgressSettings::default(),
            alerts: AlertSettings {
                console_url: None,
                smtp_url: None,
                email_from: "carillon@localhost".to_owned(),
                timeout: Duration::from_secs(10),
            },
            secrets_key: None,
            mounts: BTreeMap::new(),
            databases: BTreeMap::new(),
        }
    }
}

/// The machine's host name, or `carillon`.
fn default_node_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "carillon".to_owned())
}

/// Where compiled components are cached unless configured otherwise (by
/// `carillon serve` and `carillon run` alike): `$XDG_CACHE_HOME/carillon`,
/// else `~/.cache/carillon`, else `.carillon-cache` in the working folder.
pub fn default_cache_dir() -> PathBuf {
    let from = |name: &str| std::env::var_os(name).filter(|dir| !dir.is_empty());
    if let Some(dir) = from("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("carillon");
    }
    match from("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("carillon"),
        None => PathBuf::from(".carillon-cache"),
    }
}

impl Config {
    /// Resolves the configuration: defaults, then the file (`path`, or
    /// `carillon.toml` if present), then the environment (`env` looks a
    /// variable up), then `flags`.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        flags: &ConfigFlags,
    ) -> Result<Self, ConfigError> {
        let mut config = Config::default();
        let default_path = Path::new("carillon.toml");
        let path = match path {
            Some(path) => Some(path),
            None => default_path.exists().then_some(default_path),
        };
        if let Some(path) = path {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
                path: path.to_owned(),
                source,
            })?;
            config.apply_file(path, &text)?;
        }
        for key in KEYS {
            if let Some(value) = env(key.env) {
                config.apply(key, &value, || format!("environment variable {}", key.env))?;
            }
        }
        for (name, value) in flags.values() {
            let key = keys::key(name).ok_or_else(|| ConfigError::BadValue {
                origin: "flags".to_owned(),
                key: "?",
                message: format!("there is no setting `{name}`"),
            })?;
            config.apply(key, value, || format!("flag --{}", key.flag))?;
        }
        config.check()?;
        Ok(config)
    }

    fn apply(
        &mut self,
        key: &'static Key,
        value: &str,
        origin: impl FnOnce() -> String,
    ) -> Result<(), ConfigError> {
        key.apply(self, value)
            .map_err(|message| ConfigError::BadValue {
                origin: origin(),
                key: key.name,
                message,
            })
    }

    /// Applies every `[section] name = value` of the file's text.
    fn apply_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| invalid(e.to_string().trim().replace('\n', " ")))?;
        for (section, entries) in &table {
            if section == "mounts" {
                self.mounts = named::mounts(entries).map_err(invalid)?;
                continue;
            }
            if section == "databases" {
                self.databases = named::databases(entries).map_err(invalid)?;
                continue;
            }
            let in_section = |key: &&Key| key.name.split_once('.').map(|(s, _)| s) == Some(section);
            if !KEYS.iter().any(|key| in_section(&key)) {
                let what = if entries.is_table() {
                    format!("unknown section `[{section}]`")
                } else {
                    format!("unknown key `{section}` (keys belong in a section)")
                };
                return Err(invalid(format!(
                    "{what}; the sections are {}",
                    sections().join(", ")
                )));
            }
            let Some(entries) = entries.as_table() else {
                return Err(invalid(format!(
                    "`{section}` must be a section, written `[{section}]` on a line of its own"
                )));
            };
            for (name, value) in entries {
                let full = format!("{section}.{name}");
                let Some(key) = keys::key(&full) else {
                    let known: Vec<&str> = KEYS
                        .iter()
                        .filter(in_section)
                        .filter_map(|key| key.name.split_once('.').map(|(_, n)| n))
                        .collect();
                    return Err(invalid(format!(
                        "unknown key `{full}`; the keys of [{section}] are {}",
                        known.join(", ")
                    )));
                };
                let text = match value {
                    toml::Value::String(text) => text.clone(),
                    toml::Value::Integer(number) => number.to_string(),
                    toml::Value::Boolean(flag) => flag.to_string(),
                    toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => items
                        .iter()
                        .filter_map(toml::Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => {
                        return Err(invalid(format!(
                            "key `{full}` must be a string (or a whole number, true/false, or a list of strings), e.g. {name} = \"{}\"",
                            key.example()
                        )));
                    }
                };
                self.apply(key, &text, || format!("config file {}", path.display()))?;
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<(), ConfigError> {
        let bad = |key, message: &str| ConfigError::BadValue {
            origin: "configuration".to_owned(),
            key,
            message: message.to_owned(),
        };
        if self.poll_interval < Duration::from_millis(10) {
            return Err(bad("scheduler.poll_interval", "must be at least 10ms"));
        }
        if self.node_timeout < Duration::from_secs(2) {
            return Err(bad("node.node_timeout", "must be at least 2s"));
        }
        if self.heartbeat_interval >= self.node_timeout {
            return Err(bad(
                "node.heartbeat_interval",
                "must be shorter than node.node_timeout",
            ));
        }
        Ok(())
    }
}

/// The sections of the file, `[database]` …, in table order.
fn sections() -> Vec<String> {
    let mut sections: Vec<&str> = Vec::new();
    for key in KEYS {
        if let Some((section, _)) = key.name.split_once('.')
            && !sections.contains(&section)
        {
            sections.push(section);
        }
    }
    let named = named::NAMED_SECTIONS.iter().map(|s| format!("[{s}.NAME]"));
    sections
        .iter()
        .map(|s| format!("[{s}]"))
        .chain(named)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        load_with(text, env, &ConfigFlags::default())
    }

    fn load_with(
        text: &str,
        env: &[(&str, &str)],
        flags: &ConfigFlags,
    ) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("carillon.toml");
        std::fs::write(&path, text).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load(
            Some(&path),
            |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            flags,
        )
    }

    #[test]
    fn file_then_env_then_flags() {
        let file = "[database]\nurl = \"sqlite://a.db\"\n[scheduler]\npoll_interval = \"250ms\"\n\
                    [node]\nlabels = \"region=eu\"\nmax_concurrent_runs = 8\n";
        let env = [("CARILLON_DATABASE_URL", "sqlite://b.db")];
        let config = load_text(file, &env).unwrap();
        assert_eq!(config.database_url, "sqlite://b.db");
        assert_eq!(config.poll_interval, Duration::from_millis(250));
        assert_eq!(config.max_concurrent_runs, 8, "a TOML integer is read too");
        assert!(config.labels.satisfy(Some("region=eu")));

        let mut flags = ConfigFlags::default();
        flags.set("database.url", "sqlite://c.db");
        assert_eq!(
            load_with(file, &env, &flags).unwrap().database_url,
            "sqlite://c.db"
        );
        flags.set("node.labels", "eu");
        let error = load_with(file, &env, &flags).unwrap_err().to_string();
        assert!(
            error.starts_with("flag --labels: key `node.labels`"),
            "{error}"
        );
    }

    #[test]
    fn unknown_keys_and_sections_name_the_file_and_what_is_known() {
        let error = load_text("[scheduler]\npol_interval = \"1s\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("config file "), "{error}");
        assert!(
            error.ends_with(
                "unknown key `scheduler.pol_interval`; the keys of [scheduler] are poll_interval, misfire_threshold"
            ),
            "{error}"
        );
        let error = load_text("[schedule]\npoll_interval = \"1s\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "unknown section `[schedule]`; the sections are [database], [plugins], [node]"
            ),
            "{error}"
        );
        let error = load_text("database = \"x\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("`database` must be a section"), "{error}");
        let error = load_text("[node]\nid = [1]\n", &[])
            .unwrap_err()
            .to_string();
        let more = [
            ("[log]\nlevel = 1.5\n", "e.g. level = \"info\""),
            (
                "poll_interval = \"1s\"\n",
                "unknown key `poll_interval` (keys belong in a section)",
            ),
        ];
        for (text, expected) in more {
            let error = load_text(text, &[]).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
        assert!(
            error.contains("key `node.id` must be a string (or a whole number, true/false, or a list of strings)"),
            "{error}"
        );
        let error = load_text("[node\n", &[]).unwrap_err().to_string();
        assert!(error.starts_with("config file "), "{error}");
    }

    #[test]
    fn bad_values_name_where_they_came_from() {
        let error = load_text("[scheduler]\npoll_interval = \"soon\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("key `scheduler.poll_interval`: `soon` is not a valid duration"),
            "{error}"
        );
        let error = load_text("", &[("CARILLON_DEFAULT_MEMORY", "lots")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("environment variable CARILLON_DEFAULT_MEMORY: key `limits.memory`"),
            "{error}"
        );
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let error = Config::load(
            Some(Path::new("/no/such/carillon.toml")),
            |_| None,
            &ConfigFlags::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("cannot read config file /no/such/carillon.toml"),
            "{error}"
        );
    }

    #[test]
    fn every_key_is_read_from_the_file_the_environment_and_a_flag() {
        for key in KEYS {
            let (section, name) = key.name.split_once('.').unwrap();
            let value = match (key.default, key.value_name()) {
                (Shown::Value(value), _) => value,
                (Shown::Words(_), "HOSTS") => "https://api.example.com, http://127.0.0.1:8080",
                (Shown::Words(_), "HEX") => {
                    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
                }
                (Shown::Words(_), "URL") => "https://carillon.example.com",
                (Shown::Words(_), _) => "x=y",
            };
            let file = format!("[{section}]\n{name} = \"{value}\"\n");
            assert!(load_text(&file, &[]).is_ok(), "{}: {file}", key.name);
            assert!(load_text("", &[(key.env, value)]).is_ok(), "{}", key.env);
            let mut flags = ConfigFlags::default();
            flags.set(key.name, value);
            assert!(load_with("", &[], &flags).is_ok(), "--{}", key.flag);
        }
    }

    #[test]
    fn the_documented_defaults_are_the_defaults() {
        let defaults = Config::default();
        for key in KEYS {
            if let Shown::Value(value) = key.default {
                let mut config = defaults.clone();
                key.apply(&mut config, value).unwrap();
                assert_eq!(config, defaults, "{} = {value}", key.name);
            }
        }
    }

    #[test]
    fn the_readme_lists_every_key_as_the_table_says() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let expected = keys::markdown_table();
        assert!(
            readme.contains(&expected),
            "README.md's table of settings is not the one config/keys.rs gives; \
             replace it with:\n\n{expected}"
        );
    }

    #[test]
    fn log_filters_must_name_levels() {
        for good in [
            "info",
            "debug,sqlx=warn",
            "info,carillon::job=off",
            " warn ",
        ] {
            assert!(
                load_text("", &[("CARILLON_LOG_LEVEL", good)]).is_ok(),
                "{good}"
            );
        }
        for bad in ["loud", "info,carillon", "", "sqlx=loud"] {
            let error = load_text("", &[("CARILLON_LOG_LEVEL", bad)])
                .unwrap_err()
                .to_string();
            assert!(error.contains("key `log.level`"), "{bad}: {error}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn any_value_of_any_key_is_applied_or_named_with_its_key(
                key in 0..KEYS.len(),
                value in prop_oneof![
                    any::<String>(),
                    "[0-9]{0,25}(ms|s|d|MiB|GiB)?",
                    "[a-z=,:]{0,10}",
                ],
            ) {
                let key = &KEYS[key];
                let env = |name: &str| (name == key.env).then(|| value.clone());
                if let Err(error) = Config::load(None, env, &ConfigFlags::default()) {
                    let message = error.to_string();
                    prop_assert!(message.contains("key `"), "{message}");
                }
            }
        }
    }
}
