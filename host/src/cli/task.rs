//! `carillon task`: add, list, show, edit, pause, resume, trigger and remove
//! tasks in the database. Every change is checked the way the scheduler
//! checks a row ([`TaskDefinition::from_row`]) before it reaches the table.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};

use crate::cli::database::DbArgs;
use crate::cli::output::say;
use crate::cli::output::{table, time_or_dash};
use crate::cli::parse_param;
use crate::clock::now_ms;
use crate::schedule::Calendars;
use crate::scheduler::shard_runs;
use crate::store::Store;
use crate::units::{ByteSize, parse_duration};
use crate::vocab::{HTTP_MODULE, HttpCall};
use crate::vocab::{TaskDefinition, TaskRow, TaskSpec};

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
    /// Keep at most this many finished runs (newest first).
    #[arg(long)]
    keep_runs: Option<i64>,
    /// Hosts its runs may call over wasi:http, `https://api.example.com,…`
    /// (`none` clears the list).
    #[arg(long)]
    allowed_hosts: Option<String>,
    /// Secrets its runs may read, `api_token,smtp.password` (`none` clears).
    #[arg(long)]
    secrets: Option<String>,
    /// Folders its runs see, `reports,inbox`: the host config's
    /// `[mounts.NAME]`, each at `/NAME` (`none` clears).
    #[arg(long)]
    mounts: Option<String>,
    /// Databases its runs may query (the `sql` import), `crm,warehouse`:
    /// the host config's `[databases.NAME]` (`none` clears).
    #[arg(long)]
    databases: Option<String>,
    /// The calendar whose excluded times its slots skip (`carillon calendar
    /// list`; `none` clears).
    #[arg(long)]
    calendar: Option<String>,
    /// Tasks to fire once when a fire of this one succeeded,
    /// `report,notify` (`none` clears).
    #[arg(long)]
    on_success: Option<String>,
    /// Tasks to fire once when a fire of this one failed, timed out or was
    /// orphaned (`none` clears).
    #[arg(long)]
    on_failure: Option<String>,
    /// Keepers alerts about it go to as well, `ada,bo` (`none` clears).
    #[arg(long)]
    keepers: Option<String>,
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
        if let Some(v) = s.keep_runs {
            spec.keep_runs = Some(v);
        }
        if let Some(v) = &s.allowed_hosts {
            spec.allowed_hosts = (v.trim() != "none").then(|| v.clone());
        }
        if let Some(v) = &s.secrets {
            spec.secrets = (v.trim() != "none").then(|| v.clone());
        }
        if let Some(v) = &s.mounts {
            spec.mounts = (v.trim() != "none").then(|| v.clone());
        }
        if let Some(v) = &s.databases {
            spec.databases = (v.trim() != "none").then(|| v.clone());
        }
        if let Some(v) = &s.calendar {
            spec.calendar = (v.trim() != "none").then(|| v.clone());
        }
        if let Some(v) = &s.on_success {
            spec.on_success = (v.trim() != "none").then(|| v.clone());
        }
        if let Some(v) = &s.on_failure {
            spec.on_failure = (v.trim() != "none").then(|| v.clone());
        }
        if let Some(v) = &s.keepers {
            spec.keepers = (v.trim() != "none").then(|| v.clone());
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

/// Checks a spec the way the scheduler will (its calendar included), before
/// it reaches the table.
async fn check(store: &Store, spec: &TaskSpec) -> anyhow::Result<TaskDefinition> {
    let row = TaskRow::new(spec.clone(), now_ms());
    let calendars = match &spec.calendar {
        Some(_) => Calendars::resolve(&store.calendar_rows().await?),
        None => Calendars::default(),
    };
    if let Some(problem) = store.chain_problem(spec).await? {
        bail!("task `{}`: {problem}", spec.name);
    }
    TaskDefinition::from_row(&row)
        .and_then(|definition| definition.with_calendar(&calendars))
        .map_err(|e| anyhow::anyhow!("task `{}`: {e}", spec.name))
}

pub(crate) async fn task(db: &DbArgs, command: TaskCommand) -> anyhow::Result<()> {
    // Adding a task may create the database; every other command needs one.
    let store = match &command {
        TaskCommand::Add(_) => db.open().await?,
        _ => db.open_existing().await?,
    };
    match command {
        TaskCommand::Add(args) => {
            let (Some(module), Some(schedule)) = (&args.settings.module, &args.settings.schedule)
            else {
                bail!("task add needs --module and --schedule");
            };
            let mut spec = TaskSpec::new(&args.name, module, schedule);
            args.settings.apply(&mut spec);
            spec.paused = args.paused;
            check(&store, &spec).await?;
            if store.get_task(&spec.name).await?.is_some() {
                bail!(
                    "task `{}` already exists; change it with `carillon task edit`",
                    spec.name
                );
            }
            store.upsert_task(&spec).await?;
            say!("task `{}` added", spec.name);
        }
        TaskCommand::Edit(args) => {
            let task = existing(&store, &args.name).await?;
            if let Some(problem) = &task.unreadable {
                bail!(
                    "task `{}` cannot be edited here: {problem}; fix the column with SQL, \
                     or remove the task and add it again",
                    args.name
                );
            }
            let mut spec = task.spec;
            args.settings.apply(&mut spec);
            check(&store, &spec).await?;
            store.upsert_task(&spec).await?;
            say!("task `{}` updated", spec.name);
        }
        TaskCommand::List { json } => {
            let tasks = store.list_tasks().await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&tasks)?);
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
                            t.error
                                .clone()
                                .or_else(|| t.unreadable.clone())
                                .unwrap_or_default(),
                        ]
                    })
                    .collect();
                table(
                    &["NAME", "MODULE", "SCHEDULE", "STATUS", "NEXT FIRE", "NOTE"],
                    &rows,
                )?;
            }
        }
        TaskCommand::Show { name, json } => {
            let task = existing(&store, &name).await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&task)?);
            } else {
                let value = serde_json::to_value(&task)?;
                for (key, value) in value.as_object().into_iter().flatten() {
                    say!("{key:<17} {}", value.to_string().trim_matches('"'));
                }
            }
        }
        TaskCommand::Pause { name } => {
            if !store.set_paused(&name, true).await? {
                bail!("there is no task `{name}`");
            }
            say!("task `{name}` paused");
        }
        TaskCommand::Resume { name } => {
            if !store.set_paused(&name, false).await? {
                bail!("there is no task `{name}`");
            }
            say!("task `{name}` resumed");
        }
        TaskCommand::Trigger { name, params } => {
            let task = existing(&store, &name).await?;
            let definition = TaskDefinition::from_row(&task)
                .map_err(|e| anyhow::anyhow!("task `{name}`: {e}"))?;
            let overrides: BTreeMap<String, String> = params.into_iter().collect();
            if task.spec.module == HTTP_MODULE {
                HttpCall::with_overrides(&definition.params, &overrides)
                    .map_err(|e| anyhow::anyhow!("task `{name}`: {e}"))?;
            }
            let now = now_ms();
            let runs = shard_runs(&definition, now, &definition.params_json(&overrides), None);
            let created = store.insert_runs(&name, &runs, now).await?;
            say!("task `{name}` triggered: {created} run(s) pending");
        }
        TaskCommand::Remove { name } => {
            if !store.delete_task(&name).await? {
                bail!("there is no task `{name}`");
            }
            say!("task `{name}` removed");
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
