//! Host configuration: `carillon.toml`, overridden by `CARILLON_*` environment
//! variables, overridden by command-line flags. Unknown keys and bad values
//! fail start-up with the file (or variable), the key and the reason.
//!
//! ```toml
//! [database]
//! url = "sqlite://carillon.db"      # or postgres://user@host/db
//!
//! [plugins]
//! dir = "plugins"                   # watched folder of NAME.wasm (+ NAME.toml)
//! cache_dir = ".carillon-cache"     # compiled modules
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
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::labels::Labels;
use crate::runtime::RunLimits;
use crate::units::{ByteSize, parse_duration};

/// Where a setting came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The config file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

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
    /// The file is not valid TOML or has unknown keys or bad values.
    #[error("config file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line, column and key).
        message: String,
    },
    /// A value (from the file or the environment) is bad.
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
#[derive(Debug, Clone)]
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
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://carillon.db".to_owned(),
            plugins_dir: PathBuf::from("plugins"),
            cache_dir: Some(PathBuf::from(".carillon-cache")),
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    database: Database,
    #[serde(default)]
    plugins: Plugins,
    #[serde(default)]
    node: Node,
    #[serde(default)]
    scheduler: Scheduler,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    log: Log,
    #[serde(default)]
    shutdown: Shutdown,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Database {
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Plugins {
    dir: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Node {
    id: Option<String>,
    labels: Option<String>,
    max_concurrent_runs: Option<usize>,
    heartbeat_interval: Option<String>,
    node_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scheduler {
    poll_interval: Option<String>,
    misfire_threshold: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    timeout: Option<String>,
    memory: Option<String>,
    log: Option<String>,
    cancel_grace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Log {
    level: Option<String>,
    format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Shutdown {
    grace: Option<String>,
}

/// Settings from flags; `None` leaves the file/env value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--database`.
    pub database_url: Option<String>,
    /// `--plugins`.
    pub plugins_dir: Option<PathBuf>,
    /// `--node-id`.
    pub node_id: Option<String>,
    /// `--labels`.
    pub labels: Option<String>,
    /// `--poll-interval`.
    pub poll_interval: Option<Duration>,
    /// `--heartbeat-interval`.
    pub heartbeat_interval: Option<Duration>,
    /// `--node-timeout`.
    pub node_timeout: Option<Duration>,
    /// `--max-concurrent-runs`.
    pub max_concurrent_runs: Option<usize>,
    /// `--log-level`.
    pub log_level: Option<String>,
}

/// One settable key: how it is named in the file and the environment, and how
/// a text value is applied.
struct Key {
    name: &'static str,
    env: &'static str,
    apply: fn(&mut Config, &str) -> Result<(), String>,
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

const KEYS: &[Key] = &[
    Key {
        name: "database.url",
        env: "CARILLON_DATABASE_URL",
        apply: |c, v| {
            c.database_url = v.to_owned();
            Ok(())
        },
    },
    Key {
        name: "plugins.dir",
        env: "CARILLON_PLUGINS_DIR",
        apply: |c, v| {
            c.plugins_dir = PathBuf::from(v);
            Ok(())
        },
    },
    Key {
        name: "plugins.cache_dir",
        env: "CARILLON_CACHE_DIR",
        apply: |c, v| {
            c.cache_dir = (!v.is_empty()).then(|| PathBuf::from(v));
            Ok(())
        },
    },
    Key {
        name: "node.id",
        env: "CARILLON_NODE_ID",
        apply: |c, v| {
            if v.trim().is_empty() {
                return Err("the node id cannot be empty".into());
            }
            c.node_id = v.trim().to_owned();
            Ok(())
        },
    },
    Key {
        name: "node.labels",
        env: "CARILLON_NODE_LABELS",
        apply: |c, v| {
            c.labels = Labels::parse(v)?;
            Ok(())
        },
    },
    Key {
        name: "node.max_concurrent_runs",
        env: "CARILLON_MAX_CONCURRENT_RUNS",
        apply: |c, v| {
            c.max_concurrent_runs = v
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| format!("`{v}` is not a number from 1 to 10000"))?;
            Ok(())
        },
    },
    Key {
        name: "node.heartbeat_interval",
        env: "CARILLON_HEARTBEAT_INTERVAL",
        apply: |c, v| {
            c.heartbeat_interval = duration(v)?;
            Ok(())
        },
    },
    Key {
        name: "node.node_timeout",
        env: "CARILLON_NODE_TIMEOUT",
        apply: |c, v| {
            c.node_timeout = duration(v)?;
            Ok(())
        },
    },
    Key {
        name: "scheduler.poll_interval",
        env: "CARILLON_POLL_INTERVAL",
        apply: |c, v| {
            c.poll_interval = duration(v)?;
            Ok(())
        },
    },
    Key {
        name: "scheduler.misfire_threshold",
        env: "CARILLON_MISFIRE_THRESHOLD",
        apply: |c, v| {
            c.misfire_threshold = duration(v)?;
            Ok(())
        },
    },
    Key {
        name: "limits.timeout",
        env: "CARILLON_DEFAULT_TIMEOUT",
        apply: |c, v| {
            c.limits.timeout = duration(v)?;
            Ok(())
        },
    },
    Key {
        name: "limits.memory",
        env: "CARILLON_DEFAULT_MEMORY",
        apply: |c, v| {
            c.limits.memory = v.parse::<ByteSize>().map_err(|e| e.to_string())?;
            Ok(())
        },
    },
    Key {
        name: "limits.log",
        env: "CARILLON_DEFAULT_LOG_CAP",
        apply: |c, v| {
            c.limits.log = v.parse::<ByteSize>().map_err(|e| e.to_string())?;
            Ok(())
        },
    },
    Key {
        name: "limits.cancel_grace",
        env: "CARILLON_CANCEL_GRACE",
        apply: |c, v| {
            c.limits.cancel_grace = duration(v)?;
            Ok(())
        },
    },
    Key {
        name: "log.level",
        env: "CARILLON_LOG_LEVEL",
        apply: |c, v| {
            c.log_level = v.to_owned();
            Ok(())
        },
    },
    Key {
        name: "log.format",
        env: "CARILLON_LOG_FORMAT",
        apply: |c, v| {
            c.log_format = match v.trim() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(format!("`{v}` is not `text` or `json`")),
            };
            Ok(())
        },
    },
    Key {
        name: "shutdown.grace",
        env: "CARILLON_SHUTDOWN_GRACE",
        apply: |c, v| {
            c.shutdown_grace = duration(v)?;
            Ok(())
        },
    },
];

impl Config {
    /// Resolves the configuration: defaults, then the file (`path`, or
    /// `carillon.toml` if present), then the environment, then `overrides`.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        overrides: &Overrides,
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
                (key.apply)(&mut config, &value).map_err(|message| ConfigError::BadValue {
                    origin: format!("environment variable {}", key.env),
                    key: key.name,
                    message,
                })?;
            }
        }
        config.apply_overrides(overrides)?;
        config.check()?;
        Ok(config)
    }

    fn apply_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let values: [(&str, Option<String>); 17] = [
            ("database.url", file.database.url),
            (
                "plugins.dir",
                file.plugins.dir.map(|p| p.display().to_string()),
            ),
            (
                "plugins.cache_dir",
                file.plugins.cache_dir.map(|p| p.display().to_string()),
            ),
            ("node.id", file.node.id),
            ("node.labels", file.node.labels),
            (
                "node.max_concurrent_runs",
                file.node.max_concurrent_runs.map(|n| n.to_string()),
            ),
            ("node.heartbeat_interval", file.node.heartbeat_interval),
            ("node.node_timeout", file.node.node_timeout),
            ("scheduler.poll_interval", file.scheduler.poll_interval),
            (
                "scheduler.misfire_threshold",
                file.scheduler.misfire_threshold,
            ),
            ("limits.timeout", file.limits.timeout),
            ("limits.memory", file.limits.memory),
            ("limits.log", file.limits.log),
            ("limits.cancel_grace", file.limits.cancel_grace),
            ("log.level", file.log.level),
            ("log.format", file.log.format),
            ("shutdown.grace", file.shutdown.grace),
        ];
        for (name, value) in values {
            let Some(value) = value else { continue };
            let key = KEYS
                .iter()
                .find(|k| k.name == name)
                .expect("every file key is in KEYS");
            (key.apply)(self, &value).map_err(|message| ConfigError::BadValue {
                origin: format!("config file {}", path.display()),
                key: key.name,
                message,
            })?;
        }
        Ok(())
    }

    fn apply_overrides(&mut self, overrides: &Overrides) -> Result<(), ConfigError> {
        let o = overrides.clone();
        if let Some(v) = o.database_url {
            self.database_url = v;
        }
        if let Some(v) = o.plugins_dir {
            self.plugins_dir = v;
        }
        if let Some(v) = o.node_id {
            self.node_id = v;
        }
        if let Some(v) = o.poll_interval {
            self.poll_interval = v;
        }
        if let Some(v) = o.heartbeat_interval {
            self.heartbeat_interval = v;
        }
        if let Some(v) = o.node_timeout {
            self.node_timeout = v;
        }
        if let Some(v) = o.max_concurrent_runs {
            self.max_concurrent_runs = v;
        }
        if let Some(v) = o.log_level {
            self.log_level = v;
        }
        if let Some(text) = o.labels {
            self.labels = Labels::parse(&text).map_err(|message| ConfigError::BadValue {
                origin: "flag --labels".to_owned(),
                key: "node.labels",
                message,
            })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
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
            &Overrides::default(),
        )
    }

    #[test]
    fn file_then_env_then_flags() {
        let config = load_text(
            "[database]\nurl = \"sqlite://a.db\"\n[scheduler]\npoll_interval = \"250ms\"\n[node]\nlabels = \"region=eu\"\n",
            &[("CARILLON_DATABASE_URL", "sqlite://b.db")],
        )
        .unwrap();
        assert_eq!(config.database_url, "sqlite://b.db");
        assert_eq!(config.poll_interval, Duration::from_millis(250));
        assert!(config.labels.satisfy(Some("region=eu")));
        let mut config = config;
        config
            .apply_overrides(&Overrides {
                database_url: Some("sqlite://c.db".into()),
                ..Overrides::default()
            })
            .unwrap();
        assert_eq!(config.database_url, "sqlite://c.db");
        let error = config
            .apply_overrides(&Overrides {
                labels: Some("eu".into()),
                ..Overrides::default()
            })
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("flag --labels: key `node.labels`"),
            "{error}"
        );
    }

    #[test]
    fn unknown_keys_name_the_file_and_key() {
        let error = load_text("[scheduler]\npol_interval = \"1s\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("config file "), "{error}");
        assert!(error.contains("pol_interval"), "{error}");
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
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("cannot read config file /no/such/carillon.toml"),
            "{error}"
        );
    }
}
