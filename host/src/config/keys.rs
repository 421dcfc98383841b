//! The one table of settings. Every key is declared once, in [`KEYS`]: its
//! name in `carillon.toml`, its `CARILLON_*` variable, its flag, what it
//! means, its default as people read it, and how a text value is applied.
//! The file, the environment, `carillon serve`'s flags and the README's
//! table all come from it, so adding a setting is one entry here (and a test
//! says which line to paste into the README).

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Config, LogFormat};
use crate::egress::AllowList;
use crate::labels::Labels;
use crate::units::{ByteSize, parse_duration};

/// One setting.
#[derive(Debug)]
pub struct Key {
    /// `section.name` in `carillon.toml`.
    pub name: &'static str,
    /// The environment variable.
    pub env: &'static str,
    /// The flag of `carillon serve`, without `--`.
    pub flag: &'static str,
    /// What it sets.
    pub help: &'static str,
    /// The default as the README and `--help` show it.
    pub default: Shown,
    /// How a text value (from the file, the environment or a flag) is applied.
    pub(super) set: Set,
}

/// How a key applies a text value to the configuration.
#[derive(Debug)]
pub(super) enum Set {
    /// A duration (`250ms`, `2s`, `1h30m`) into this field.
    Duration(fn(&mut Config) -> &mut Duration),
    /// A byte size (`64MiB`) into this field.
    Size(fn(&mut Config) -> &mut ByteSize),
    /// Anything else, named for `--help` (`URL`, `DIR`, …): parse and
    /// check the text.
    Text(&'static str, fn(&mut Config, &str) -> Result<(), String>),
}

/// How a default is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// A value as it would be written (applying it gives the default).
    Value(&'static str),
    /// Words for a default that is computed (the host name, say).
    Words(&'static str),
}

impl Key {
    /// Applies `text` to `config`, or says what is wrong with it.
    pub(super) fn apply(&self, config: &mut Config, text: &str) -> Result<(), String> {
        match self.set {
            Set::Duration(field) => {
                *field(config) = parse_duration(text).map_err(|e| e.to_string())?;
            }
            Set::Size(field) => {
                *field(config) = text.parse::<ByteSize>().map_err(|e| e.to_string())?;
            }
            Set::Text(_, apply) => apply(config, text)?,
        }
        Ok(())
    }

    /// A value to show in messages: the default, or one of its kind.
    pub fn example(&self) -> &'static str {
        match (self.default, &self.set) {
            (Shown::Value(value), _) => value,
            (_, Set::Duration(_)) => "10s",
            (_, Set::Size(_)) => "64MiB",
            (Shown::Words(_), Set::Text(name, _)) => name,
        }
    }

    /// What the value is, for `--help`.
    pub fn value_name(&self) -> &'static str {
        match self.set {
            Set::Duration(_) => "DURATION",
            Set::Size(_) => "SIZE",
            Set::Text(name, _) => name,
        }
    }

    /// The `--help` line: what it sets, its file key, variable and default.
    pub fn help_line(&self) -> String {
        let default = match self.default {
            Shown::Value(value) => value,
            Shown::Words(words) => words,
        };
        format!(
            "{} [{}, {}; default: {default}]",
            self.help, self.name, self.env
        )
    }
}

/// The key called `name`.
pub fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.name == name)
}

/// Every setting, in the order the README lists them.
pub const KEYS: &[Key] = &[
    Key {
        name: "database.url",
        env: "CARILLON_DATABASE_URL",
        flag: "database",
        help: "the database: `sqlite://FILE` (one host) or `postgres://USER@HOST/DB` (a cluster)",
        default: Shown::Value("sqlite://carillon.db"),
        set: Set::Text("URL", |c, v| {
            c.database_url = v.trim().to_owned();
            Ok(())
        }),
    },
    Key {
        name: "plugins.dir",
        env: "CARILLON_PLUGINS_DIR",
        flag: "plugins",
        help: "the watched folder of NAME.wasm job modules and NAME.toml manifests",
        default: Shown::Value("plugins"),
        set: Set::Text("DIR", |c, v| {
            c.plugins_dir = PathBuf::from(v);
            Ok(())
        }),
    },
    Key {
        name: "plugins.cache_dir",
        env: "CARILLON_CACHE_DIR",
        flag: "cache-dir",
        help: "compiled modules, by digest (empty: no cache)",
        default: Shown::Words(
            "`$XDG_CACHE_HOME/carillon`, else `~/.cache/carillon`, else `.carillon-cache`",
        ),
        set: Set::Text("DIR", |c, v| {
            c.cache_dir = (!v.is_empty()).then(|| PathBuf::from(v));
            Ok(())
        }),
    },
    Key {
        name: "node.id",
        env: "CARILLON_NODE_ID",
        flag: "node-id",
        help: "this host's name in the cluster",
        default: Shown::Words("the host name"),
        set: Set::Text("ID", |c, v| {
            if v.trim().is_empty() {
                return Err("the node id cannot be empty".into());
            }
            c.node_id = v.trim().to_owned();
            Ok(())
        }),
    },
    Key {
        name: "node.labels",
        env: "CARILLON_NODE_LABELS",
        flag: "labels",
        help: "this host's labels, matched against task selectors",
        default: Shown::Words("none"),
        set: Set::Text("K=V,…", |c, v| {
            c.labels = Labels::parse(v)?;
            Ok(())
        }),
    },
    Key {
        name: "node.max_concurrent_runs",
        env: "CARILLON_MAX_CONCURRENT_RUNS",
        flag: "max-concurrent-runs",
        help: "runs executing at once on this host (1 to 10000)",
        default: Shown::Value("64"),
        set: Set::Text("N", |c, v| {
            c.max_concurrent_runs = v
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| format!("`{v}` is not a number from 1 to 10000"))?;
            Ok(())
        }),
    },
    Key {
        name: "node.heartbeat_interval",
        env: "CARILLON_HEARTBEAT_INTERVAL",
        flag: "heartbeat-interval",
        help: "how often this host writes its heartbeat",
        default: Shown::Value("2s"),
        set: Set::Duration(|c| &mut c.heartbeat_interval),
    },
    Key {
        name: "node.node_timeout",
        env: "CARILLON_NODE_TIMEOUT",
        flag: "node-timeout",
        help: "a host silent this long is dead and its runs are rescued (at least 2s)",
        default: Shown::Value("10s"),
        set: Set::Duration(|c| &mut c.node_timeout),
    },
    Key {
        name: "scheduler.poll_interval",
        env: "CARILLON_POLL_INTERVAL",
        flag: "poll-interval",
        help: "how often the task table is read for changes (at least 10ms)",
        default: Shown::Value("1s"),
        set: Set::Duration(|c| &mut c.poll_interval),
    },
    Key {
        name: "scheduler.misfire_threshold",
        env: "CARILLON_MISFIRE_THRESHOLD",
        flag: "misfire-threshold",
        help: "a slot older than this when it comes due is a misfire",
        default: Shown::Value("60s"),
        set: Set::Duration(|c| &mut c.misfire_threshold),
    },
    Key {
        name: "limits.timeout",
        env: "CARILLON_DEFAULT_TIMEOUT",
        flag: "default-timeout",
        help: "run timeout, for tasks that set none",
        default: Shown::Value("5m"),
        set: Set::Duration(|c| &mut c.limits.timeout),
    },
    Key {
        name: "limits.memory",
        env: "CARILLON_DEFAULT_MEMORY",
        flag: "default-memory",
        help: "memory cap per run, for tasks that set none",
        default: Shown::Value("64MiB"),
        set: Set::Size(|c| &mut c.limits.memory),
    },
    Key {
        name: "limits.log",
        env: "CARILLON_DEFAULT_LOG_CAP",
        flag: "default-log-cap",
        help: "log output per run",
        default: Shown::Value("1MiB"),
        set: Set::Size(|c| &mut c.limits.log),
    },
    Key {
        name: "limits.http_requests",
        env: "CARILLON_HTTP_REQUESTS",
        flag: "http-requests",
        help: "outbound HTTP requests a run may make (0 to 1000000)",
        default: Shown::Value("100"),
        set: Set::Text("N", |c, v| {
            c.limits.http_requests = v
                .trim()
                .parse()
                .ok()
                .filter(|n| *n <= 1_000_000)
                .ok_or_else(|| format!("`{v}` is not a number from 0 to 1000000"))?;
            Ok(())
        }),
    },
    Key {
        name: "limits.http_received",
        env: "CARILLON_HTTP_RECEIVED",
        flag: "http-received",
        help: "HTTP answer bytes a run may receive, all its requests together",
        default: Shown::Value("16MiB"),
        set: Set::Size(|c| &mut c.limits.http_received),
    },
    Key {
        name: "limits.cancel_grace",
        env: "CARILLON_CANCEL_GRACE",
        flag: "cancel-grace",
        help: "how long a job asked to stop has before it is stopped",
        default: Shown::Value("2s"),
        set: Set::Duration(|c| &mut c.limits.cancel_grace),
    },
    Key {
        name: "log.level",
        env: "CARILLON_LOG_LEVEL",
        flag: "log-level",
        help: "what the host logs: a level or a tracing filter, e.g. `info,carillon::job=warn`",
        default: Shown::Value("info"),
        set: Set::Text("FILTER", |c, v| {
            check_log_filter(v)?;
            c.log_level = v.trim().to_owned();
            Ok(())
        }),
    },
    Key {
        name: "log.format",
        env: "CARILLON_LOG_FORMAT",
        flag: "log-format",
        help: "`text` or `json` (one object per line)",
        default: Shown::Value("text"),
        set: Set::Text("FORMAT", |c, v| {
            c.log_format = match v.trim() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(format!("`{v}` is not `text` or `json`")),
            };
            Ok(())
        }),
    },
    Key {
        name: "shutdown.grace",
        env: "CARILLON_SHUTDOWN_GRACE",
        flag: "shutdown-grace",
        help: "at shutdown, how long running runs have to finish before they are interrupted",
        default: Shown::Value("10s"),
        set: Set::Duration(|c| &mut c.shutdown_grace),
    },
    Key {
        name: "retention.succeeded",
        env: "CARILLON_RETENTION_SUCCEEDED",
        flag: "retention-succeeded",
        help: "how long succeeded and skipped runs are kept, with their logs (and succeeded delays)",
        default: Shown::Value("7d"),
        set: Set::Duration(|c| &mut c.retention.succeeded),
    },
    Key {
        name: "retention.failed",
        env: "CARILLON_RETENTION_FAILED",
        flag: "retention-failed",
        help: "how long failed, timed-out, cancelled and orphaned runs (and misfire records, failed and cancelled delays) are kept",
        default: Shown::Value("30d"),
        set: Set::Duration(|c| &mut c.retention.failed),
    },
    Key {
        name: "api.listen",
        env: "CARILLON_API_LISTEN",
        flag: "listen",
        help: "where the admin API listens, `IP:PORT` (port 0: any free one), or `off`; until a token exists only loopback requests are served",
        default: Shown::Value("127.0.0.1:7878"),
        set: Set::Text("ADDRESS", |c, v| {
            let v = v.trim();
            c.api_listen = if v.eq_ignore_ascii_case("off") {
                None
            } else {
                Some(v.parse().map_err(|_| {
                    format!("`{v}` is not an address; write `IP:PORT` (e.g. `127.0.0.1:7878`, `0.0.0.0:7878`) or `off`")
                })?)
            };
            Ok(())
        }),
    },
    Key {
        name: "delays.allowed_hosts",
        env: "CARILLON_DELAYS_ALLOWED_HOSTS",
        flag: "delays-allowed-hosts",
        help: "the hosts delay callbacks may call, comma-separated: `https://api.example.com`, `http://127.0.0.1:8080`, `https://*.example.com`, `https://example.com:*`; none by default",
        default: Shown::Words("none"),
        set: Set::Text("HOSTS", |c, v| {
            c.delays.allowed_hosts = AllowList::parse(v)?;
            Ok(())
        }),
    },
    Key {
        name: "delays.timeout",
        env: "CARILLON_DELAYS_TIMEOUT",
        flag: "delays-timeout",
        help: "how long one callback attempt may take, connecting and answering",
        default: Shown::Value("10s"),
        set: Set::Duration(|c| &mut c.delays.timeout),
    },
    Key {
        name: "delays.retry_backoff",
        env: "CARILLON_DELAYS_RETRY_BACKOFF",
        flag: "delays-retry-backoff",
        help: "the wait before a failed callback's first retry; it doubles for each next one, up to 10m",
        default: Shown::Value("1s"),
        set: Set::Duration(|c| &mut c.delays.retry_backoff),
    },
    Key {
        name: "egress.allowed_hosts",
        env: "CARILLON_EGRESS_ALLOWED_HOSTS",
        flag: "egress-allowed-hosts",
        help: "the ceiling for what HTTP tasks and jobs (wasi:http, within their task's allowed_hosts) may reach, in the syntax of delays.allowed_hosts; by default any public host (internal addresses need egress.allow_private or to be written out)",
        default: Shown::Value("http://*:*,https://*:*"),
        set: Set::Text("HOSTS", |c, v| {
            c.egress.allowed_hosts = AllowList::parse(v)?;
            Ok(())
        }),
    },
    Key {
        name: "egress.allow_private",
        env: "CARILLON_EGRESS_ALLOW_PRIVATE",
        flag: "egress-allow-private",
        help: "`true` lets an allowed host name resolve to a loopback, private, link-local or metadata address (an address written out in a list is always allowed)",
        default: Shown::Value("false"),
        set: Set::Text("BOOL", |c, v| {
            c.egress.allow_private = match v.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "on" => true,
                "false" | "no" | "0" | "off" => false,
                other => return Err(format!("`{other}` is not true or false")),
            };
            Ok(())
        }),
    },
    Key {
        name: "egress.ca_roots",
        env: "CARILLON_EGRESS_CA_ROOTS",
        flag: "egress-ca-roots",
        help: "a PEM file of CA certificates to trust for outbound HTTPS, besides the bundled web roots",
        default: Shown::Words("none"),
        set: Set::Text("FILE", |c, v| {
            c.egress.ca_roots = (!v.trim().is_empty()).then(|| PathBuf::from(v.trim()));
            Ok(())
        }),
    },
    Key {
        name: "secrets.key",
        env: "CARILLON_SECRETS_KEY",
        flag: "secrets-key",
        help: "64 hex digits sealing the secrets table, the same on every host of a cluster; on SQLite, unset means a key file beside the database, made on first use",
        default: Shown::Words("the file beside a SQLite database"),
        set: Set::Text("HEX", |c, v| {
            c.secrets_key = Some(
                v.parse()
                    .map_err(|e: crate::secrets::KeyError| e.to_string())?,
            );
            Ok(())
        }),
    },
    Key {
        name: "alerts.console_url",
        env: "CARILLON_ALERTS_CONSOLE_URL",
        flag: "alerts-console-url",
        help: "the console's address as people reach it, for the links in alerts (`https://carillon.example.com`); by default the API's own address, and no link when that is `0.0.0.0` or `[::]`",
        default: Shown::Words("http://api.listen/"),
        set: Set::Text("URL", |c, v| {
            let v = v.trim();
            if !(v.is_empty() || v.starts_with("http://") || v.starts_with("https://")) {
                return Err(format!("`{v}` is not an http(s) URL"));
            }
            c.alerts.console_url = (!v.is_empty()).then(|| v.trim_end_matches('/').to_owned());
            Ok(())
        }),
    },
    Key {
        name: "alerts.smtp_url",
        env: "CARILLON_ALERTS_SMTP_URL",
        flag: "alerts-smtp-url",
        help: "the SMTP server e-mail alerts go through: `smtp://host:25`, `smtp://user:password@host:587?tls=required` (STARTTLS) or `smtps://host:465`; unset: e-mail channels fail, saying so",
        default: Shown::Words("none"),
        set: Set::Text("URL", |c, v| {
            c.alerts.smtp_url = (!v.trim().is_empty()).then(|| v.trim().to_owned());
            Ok(())
        }),
    },
    Key {
        name: "alerts.email_from",
        env: "CARILLON_ALERTS_EMAIL_FROM",
        flag: "alerts-email-from",
        help: "the sender of e-mail alerts",
        default: Shown::Value("carillon@localhost"),
        set: Set::Text("ADDRESS", |c, v| {
            c.alerts.email_from = v.trim().to_owned();
            Ok(())
        }),
    },
    Key {
        name: "alerts.timeout",
        env: "CARILLON_ALERTS_TIMEOUT",
        flag: "alerts-timeout",
        help: "how long one delivery of an alert may take; failed ones are retried after 5s, 10s, 20s … up to 6 attempts",
        default: Shown::Value("10s"),
        set: Set::Duration(|c| &mut c.alerts.timeout),
    },
];

/// The levels a log filter may name.
const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// A tracing filter whose every directive names a level: `info`, or
/// `target=level`. A bare word that is no level (`loud`) would be read as a
/// target at trace level and silence everything else, so it is refused.
fn check_log_filter(text: &str) -> Result<(), String> {
    let is_level = |word: &str| LEVELS.contains(&word.trim().to_ascii_lowercase().as_str());
    if text.trim().is_empty() {
        return Err("the log filter cannot be empty; write e.g. `info`".to_owned());
    }
    for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(_, level)| level);
        if !is_level(level) {
            return Err(format!(
                "`{directive}` names no level; write a level ({}) or `target=level`, e.g. `info,carillon::job=warn`",
                LEVELS.join(", ")
            ));
        }
    }
    Ok(())
}

/// The README's table of settings, as [`KEYS`] says it.
pub fn markdown_table() -> String {
    let mut table =
        String::from("| key | env | flag | default | what it sets |\n|---|---|---|---|---|\n");
    for key in KEYS {
        let default = match key.default {
            Shown::Value(value) => format!("`{value}`"),
            Shown::Words(words) => words.to_owned(),
        };
        table.push_str(&format!(
            "| `{}` | `{}` | `--{}` | {default} | {} |\n",
            key.name, key.env, key.flag, key.help
        ));
    }
    table
}
