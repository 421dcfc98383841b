//! The CLI commands that work on the database directly: `task`, `runs`,
//! `logs`, `module` (and, in its own module, `nodes`). They work whether or not a host is serving; a serving
//! host picks their changes up within its poll interval.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::cli::output::{rfc3339_ms, table, time_or_dash};
use crate::cli::parse_param;
use crate::clock::now_ms;
use crate::config::{Config, Overrides};
use crate::digest::Digest;
use crate::scheduler::{TaskDefinition, shard_runs};
use crate::store::{RunFilter, Store, TaskRow, TaskSpec};
use crate::units::{ByteSize, parse_duration};

/// Which database to use.
#[derive(Debug, Args)]
pub(crate) struct DbArgs {
    /// Database URL [default: from the config, else sqlite://carillon.db].
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
    /// Config file to read the database URL from.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl DbArgs {
    /// The configuration these flags, the config file and `CARILLON_*` give.
    pub(crate) fn config(&self) -> anyhow::Result<Config> {
        let overrides = Overrides {
            database_url: self.database.clone(),
            ..Overrides::default()
        };
        Ok(Config::load(
            self.config.as_deref(),
            |name| std::env::var(name).ok(),
            &overrides,
        )?)
    }

    /// Opens (and migrates) the configured database.
    pub(crate) async fn open(&self) -> anyhow::Result<Store> {
        Ok(Store::connect(&self.config()?.database_url).await?)
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum TaskCommand {
    /// Create a task.
    Add(TaskAddArgs),
    /// List tasks.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one task.
    Show {
        /// Task name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a task (only the given settings).
    Edit(TaskEditArgs),
    /// Stop a task firing.
    Pause {
        /// Task name.
        name: String,
    },
    /// Let a paused task fire again (from now; missed fires are not made up).
    Resume {
        /// Task name.
        name: String,
    },
    /// Fire a task now, outside its schedule.
    Trigger {
        /// Task name.
        name: String,
        /// Per-fire param KEY=VALUE (wins over the task's); repeatable.
        #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
    },
    /// Delete a task (its runs and logs stay).
    Remove {
        /// Task name.
        name: String,
    },
}

/// Task settings shared by `add` and `edit`.
#[derive(Debug, Args)]
pub(crate) struct TaskSettings {
    /// Module (job component) to run.
    #[arg(long)]
    module: Option<String>,
    /// Quartz cron, `every 30s`, `at RFC3339` or `after 10m`.
    #[arg(long)]
    schedule: Option<String>,
    /// IANA time zone of the schedule.
    #[arg(long = "tz")]
    time_zone: Option<String>,
    /// Group.
    #[arg(long)]
    group: Option<String>,
    /// Shards per fire.
    #[arg(long)]
    shards: Option<i64>,
    /// Per-shard parameters, `0=Beijing,1=Shanghai`.
    #[arg(long)]
    shard_params: Option<String>,
    /// Page size (makes the task paged).
    #[arg(long)]
    page_size: Option<i64>,
    /// Param KEY=VALUE; repeatable (replaces all params when given).
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// allow | forbid | replace.
    #[arg(long)]
    concurrency: Option<String>,
    /// fire-now | skip | catch-up | catch-up:N.
    #[arg(long)]
    misfire: Option<String>,
    /// Run timeout, e.g. `30s`.
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Memory cap, e.g. `64MiB`.
    #[arg(long)]
    memory: Option<ByteSize>,
    /// Retries after a failed attempt.
    #[arg(long)]
    retries: Option<i64>,
    /// First retry delay (doubles each retry).
    #[arg(long, value_parser = parse_duration)]
    retry_backoff: Option<Duration>,
    /// Node labels a host needs, `key=value,…`.
    #[arg(long)]
    selector: Option<String>,
}

impl TaskSettings {
    fn apply(&self, spec: &mut TaskSpec) {
        let s = self;
        if let Some(v) = &s.module {
            spec.module = v.clone();
        }
        if let Some(v) = &s.schedule {
            spec.schedule = v.clone();
        }
        if let Some(v) = &s.time_zone {
            spec.time_zone = v.clone();
        }
        if let Some(v) = &s.group {
            spec.group = v.clone();
        }
        if let Some(v) = s.shards {
            spec.shard_total = v;
        }
        if let Some(v) = &s.shard_params {
            spec.shard_params = Some(v.clone());
        }
        if let Some(v) = s.page_size {
            spec.page_size = Some(v);
        }
        if !s.params.is_empty() {
            let map: BTreeMap<&str, &str> = s
                .params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            spec.params = serde_json::to_string(&map).unwrap_or_else(|_| "{}".into());
        }
        if let Some(v) = &s.concurrency {
            spec.concurrency = v.clone();
        }
        if let Some(v) = &s.misfire {
            spec.misfire = v.clone();
        }
        if let Some(v) = s.timeout {
            spec.timeout_ms = Some(v.as_millis() as i64);
        }
        if let Some(v) = s.memory {
            spec.memory_mib = Some((v.bytes() >> 20).max(1) as i64);
        }
        if let Some(v) = s.retries {
            spec.max_retries = v;
        }
        if let Some(v) = s.retry_backoff {
            spec.retry_backoff_ms = v.as_millis() as i64;
        }
        if let Some(v) = &s.selector {
            spec.selector = Some(v.clone());
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct TaskAddArgs {
    /// Task name.
    name: String,
    #[command(flatten)]
    settings: TaskSettings,
    /// Create it paused.
    #[arg(long)]
    paused: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TaskEditArgs {
    /// Task name.
    name: String,
    #[command(flatten)]
    settings: TaskSettings,
}

/// Checks a spec the way the scheduler will, before it reaches the table.
fn check(spec: &TaskSpec) -> anyhow::Result<TaskDefinition> {
    let row = TaskRow {
        spec: spec.clone(),
        created_at: now_ms(),
        next_fire_at: None,
        last_fire_at: None,
        error: None,
        revision: 0,
    };
    TaskDefinition::from_row(&row).map_err(|e| anyhow::anyhow!("task `{}`: {e}", spec.name))
}

pub(crate) async fn task(db: &DbArgs, command: TaskCommand) -> anyhow::Result<()> {
    let store = db.open().await?;
    match command {
        TaskCommand::Add(args) => {
            let (Some(module), Some(schedule)) = (&args.settings.module, &args.settings.schedule)
            else {
                bail!("task add needs --module and --schedule");
            };
            let mut spec = TaskSpec::new(&args.name, module, schedule);
            args.settings.apply(&mut spec);
            spec.paused = args.paused;
            check(&spec)?;
            if store.get_task(&spec.name).await?.is_some() {
                bail!(
                    "task `{}` already exists; change it with `carillon task edit`",
                    spec.name
                );
            }
            store.upsert_task(&spec).await?;
            println!("task `{}` added", spec.name);
        }
        TaskCommand::Edit(args) => {
            let mut spec = existing(&store, &args.name).await?.spec;
            args.settings.apply(&mut spec);
            check(&spec)?;
            store.upsert_task(&spec).await?;
            println!("task `{}` updated", spec.name);
        }
        TaskCommand::List { json } => {
            let tasks = store.list_tasks().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tasks)?);
            } else {
                let rows: Vec<Vec<String>> = tasks
                    .iter()
                    .map(|t| {
                        vec![
                            t.spec.name.clone(),
                            t.spec.module.clone(),
                            t.spec.schedule.clone(),
                            if t.spec.paused {
                                "paused".into()
                            } else {
                                "active".into()
                            },
                            time_or_dash(t.next_fire_at),
                            t.error.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                table(
                    &["NAME", "MODULE", "SCHEDULE", "STATUS", "NEXT FIRE", "NOTE"],
                    &rows,
                );
            }
        }
        TaskCommand::Show { name, json } => {
            let task = existing(&store, &name).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&task)?);
            } else {
                let value = serde_json::to_value(&task)?;
                for (key, value) in value.as_object().into_iter().flatten() {
                    println!("{key:<17} {}", value.to_string().trim_matches('"'));
                }
            }
        }
        TaskCommand::Pause { name } => {
            if !store.set_paused(&name, true).await? {
                bail!("there is no task `{name}`");
            }
            println!("task `{name}` paused");
        }
        TaskCommand::Resume { name } => {
            if !store.set_paused(&name, false).await? {
                bail!("there is no task `{name}`");
            }
            println!("task `{name}` resumed");
        }
        TaskCommand::Trigger { name, params } => {
            let task = existing(&store, &name).await?;
            let definition = TaskDefinition::from_row(&task)
                .map_err(|e| anyhow::anyhow!("task `{name}`: {e}"))?;
            let overrides: BTreeMap<String, String> = params.into_iter().collect();
            let now = now_ms();
            let runs = shard_runs(&definition, now, &definition.params_json(&overrides), None);
            let created = store.insert_runs(&name, &runs, now).await?;
            println!("task `{name}` triggered: {created} run(s) pending");
        }
        TaskCommand::Remove { name } => {
            if !store.delete_task(&name).await? {
                bail!("there is no task `{name}`");
            }
            println!("task `{name}` removed");
        }
    }
    Ok(())
}

async fn existing(store: &Store, name: &str) -> anyhow::Result<TaskRow> {
    store
        .get_task(name)
        .await?
        .with_context(|| format!("there is no task `{name}`; see `carillon task list`"))
}

#[derive(Debug, Args)]
pub(crate) struct RunsArgs {
    /// Only this task's runs.
    #[arg(long)]
    task: Option<String>,
    /// Only runs in this state (pending, running, succeeded, failed, timed-out, cancelled, orphaned, skipped).
    #[arg(long)]
    state: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 20)]
    limit: i64,
    /// Print a JSON array.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn runs(db: &DbArgs, args: RunsArgs) -> anyhow::Result<()> {
    let store = db.open().await?;
    let runs = store
        .list_runs(&RunFilter {
            task: args.task,
            state: args.state,
            limit: args.limit,
        })
        .await?;
    if args.json {
        let items: Vec<_> = runs
            .iter()
            .map(|r| {
                json!({
                    "id": r.id, "task": r.task, "shard_index": r.shard_index, "shard_total": r.shard_total,
                    "scheduled_at": rfc3339_ms(r.scheduled_at),
                    "started_at": r.started_at.map(rfc3339_ms), "finished_at": r.finished_at.map(rfc3339_ms),
                    "state": r.state, "attempt": r.attempt, "error": r.error, "module_digest": r.module_digest,
                    "node": r.node, "summary": r.summary, "items": r.items, "page_index": r.page_index,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.task.clone(),
                format!("{}/{}", r.shard_index, r.shard_total),
                rfc3339_ms(r.scheduled_at),
                r.state.clone(),
                r.attempt.to_string(),
                r.error
                    .clone()
                    .or_else(|| r.summary.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "TASK",
            "SHARD",
            "SCHEDULED",
            "STATE",
            "ATTEMPT",
            "SUMMARY / ERROR",
        ],
        &rows,
    );
    Ok(())
}

pub(crate) async fn logs(db: &DbArgs, run_id: i64, as_json: bool) -> anyhow::Result<()> {
    let store = db.open().await?;
    if store.get_run(run_id).await?.is_none() {
        bail!("there is no run {run_id}; see `carillon runs`");
    }
    let lines = store.run_logs(run_id).await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&lines)?);
        return Ok(());
    }
    for line in lines {
        let fields: Vec<(String, String)> = line
            .fields
            .as_deref()
            .and_then(|f| serde_json::from_str(f).ok())
            .unwrap_or_default();
        let fields: String = fields.iter().map(|(k, v)| format!(" {k}={v}")).collect();
        println!(
            "{} #{} {:<5} {}{fields}",
            rfc3339_ms(line.at),
            line.attempt,
            line.level.to_uppercase(),
            line.message
        );
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModuleCommand {
    /// List modules.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Store a job component in the database under NAME (every host loads it).
    Push {
        /// Module name tasks refer to.
        name: String,
        /// The `.wasm` file.
        file: PathBuf,
    },
    /// Remove a module (its tasks stop firing).
    Remove {
        /// Module name.
        name: String,
    },
}

pub(crate) async fn module(db: &DbArgs, command: ModuleCommand) -> anyhow::Result<()> {
    let store = db.open().await?;
    match command {
        ModuleCommand::List { json } => {
            let modules = store.list_modules().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&modules)?);
            } else {
                let rows: Vec<Vec<String>> = modules
                    .iter()
                    .map(|m| {
                        vec![
                            m.name.clone(),
                            m.digest[..12.min(m.digest.len())].to_owned(),
                            ByteSize(m.size as u64).to_string(),
                            rfc3339_ms(m.updated_at),
                            m.source.clone(),
                        ]
                    })
                    .collect();
                table(&["NAME", "DIGEST", "SIZE", "UPDATED", "SOURCE"], &rows);
            }
        }
        ModuleCommand::Push { name, file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            // Validate with a small runtime before storing, so a broken file never reaches the hosts.
            let runtime = crate::runtime::Runtime::new(crate::runtime::RuntimeConfig {
                max_concurrent_runs: 1,
                ..Default::default()
            })?;
            runtime
                .load(&bytes)
                .with_context(|| format!("cannot push {}", file.display()))?;
            let digest = Digest::of(&bytes);
            let changed = store
                .put_module(&name, &digest.to_string(), &bytes, "push", now_ms())
                .await?;
            let verb = if changed { "pushed" } else { "unchanged" };
            println!("module `{name}` {verb} (digest {})", digest.short());
        }
        ModuleCommand::Remove { name } => {
            if !store.remove_module(&name).await? {
                bail!("there is no module `{name}`");
            }
            println!("module `{name}` removed");
        }
    }
    Ok(())
}
