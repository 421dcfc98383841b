//! `carillon alert`: rules (what to alert on, for which tasks, through
//! which channels), channels (webhook, Slack, Feishu, DingTalk, WeCom,
//! e-mail), keepers (people told about the tasks naming them), and the
//! alerts raised. Checked as the API checks them, and audited; serving
//! hosts use a change at once.

use std::time::Duration;

use anyhow::bail;
use clap::{Args, Subcommand};

use crate::cli::database::{DbArgs, audit};
use crate::cli::output::{say, table, time_or_dash};
use crate::clock::now_ms;
use crate::store::{ChannelRow, IntFlag, KeeperRow, RuleRow};
use crate::units::{format_duration, parse_duration};
use crate::vocab::check_channel;

#[derive(Debug, Subcommand)]
pub(crate) enum AlertCommand {
    /// What to alert on.
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Where alerts go.
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// People told about the tasks naming them (a task's `keepers`).
    #[command(subcommand)]
    Keeper(KeeperCommand),
    /// Alerts raised, newest first.
    List {
        /// Only in this state: pending, delivered, failed or suppressed.
        #[arg(long)]
        state: Option<String>,
        /// Only about this task.
        #[arg(long)]
        task: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RuleCommand {
    /// Create or replace a rule.
    Set(RuleArgs),
    /// List rules (and what is wrong with any).
    List,
    /// Remove a rule.
    Remove {
        /// Its name.
        name: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RuleArgs {
    /// Its name.
    name: String,
    /// failed, timed-out, orphaned, misfire, long-running, failures or stale.
    #[arg(long)]
    event: String,
    /// The tasks it is for, `a,b` (default: every task, unless --group).
    #[arg(long)]
    tasks: Option<String>,
    /// The group it is for.
    #[arg(long)]
    group: Option<String>,
    /// Channels its alerts go to, `ops,oncall-mail`.
    #[arg(long)]
    channels: String,
    /// long-running: how long a run may run; failures: the window; stale:
    /// the grace (`5m`).
    #[arg(long, value_parser = parse_duration)]
    threshold: Option<Duration>,
    /// failures: how many within the window.
    #[arg(long)]
    count: Option<i64>,
    /// Repeats for a task within this long after an alert are suppressed (`10m`).
    #[arg(long, value_parser = parse_duration)]
    silence: Option<Duration>,
    /// Create it paused.
    #[arg(long)]
    paused: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ChannelCommand {
    /// Create or replace a channel.
    Set {
        /// Its name.
        name: String,
        /// webhook, slack, feishu, dingtalk, wecom or email.
        #[arg(long)]
        kind: String,
        /// The webhook URL, or e-mail addresses (`a@x.com,b@x.com`; none:
        /// the task's keepers').
        #[arg(long, default_value = "")]
        target: String,
        /// A secret (`carillon secret set NAME`) signing DingTalk or Feishu messages.
        #[arg(long)]
        secret: Option<String>,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// List channels.
    List,
    /// Remove a channel no rule uses.
    Remove {
        /// Its name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeeperCommand {
    /// Create or replace a keeper.
    Set {
        /// Its name.
        name: String,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Mobile number, @-mentioned in DingTalk and WeCom messages.
        #[arg(long)]
        mobile: Option<String>,
        /// Who it is.
        #[arg(long)]
        description: Option<String>,
    },
    /// List keepers.
    List,
    /// Remove a keeper.
    Remove {
        /// Its name.
        name: String,
    },
}

pub(crate) async fn alert(db: &DbArgs, command: AlertCommand) -> anyhow::Result<()> {
    match command {
        AlertCommand::Rule(command) => rule(db, command).await,
        AlertCommand::Channel(command) => channel(db, command).await,
        AlertCommand::Keeper(command) => keeper(db, command).await,
        AlertCommand::List {
            state,
            task,
            limit,
            json,
        } => {
            let store = db.open_existing().await?;
            let alerts = store
                .list_alerts(state.as_deref(), task.as_deref(), None, None, limit)
                .await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&alerts)?);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = alerts
                .iter()
                .map(|a| {
                    vec![
                        a.id.to_string(),
                        time_or_dash(Some(a.raised_at)),
                        a.rule.clone(),
                        a.event.clone(),
                        a.task.clone(),
                        a.state.clone(),
                        a.message.clone(),
                    ]
                })
                .collect();
            table(
                &["ID", "RAISED", "RULE", "EVENT", "TASK", "STATE", "MESSAGE"],
                &rows,
            )?;
            Ok(())
        }
    }
}

async fn rule(db: &DbArgs, command: RuleCommand) -> anyhow::Result<()> {
    match command {
        RuleCommand::Set(args) => {
            let store = db.open().await?;
            let now = now_ms();
            let row = RuleRow {
                name: args.name.clone(),
                event: args.event,
                tasks: args.tasks,
                task_group: args.group,
                channels: args.channels,
                threshold_ms: args.threshold.map(|d| d.as_millis() as i64),
                count: args.count,
                silence_ms: args.silence.map_or(0, |d| d.as_millis() as i64),
                paused: IntFlag(args.paused),
                created_at: now,
                updated_at: now,
            };
            let rule = match row.rule() {
                Ok(rule) => rule,
                Err((column, why)) => bail!("rule `{}`: {column}: {why}", args.name),
            };
            let known: Vec<String> = store
                .list_channels()
                .await?
                .into_iter()
                .map(|c| c.name)
                .collect();
            if let Some(missing) = rule.channels.iter().find(|c| !known.contains(c)) {
                bail!(
                    "rule `{}`: channel `{missing}` does not exist; create it first (`carillon alert channel set {missing} --kind …`)",
                    args.name
                );
            }
            let created = store.put_rule(&row, now).await?;
            audit(
                &store,
                "alert-rule.set",
                &args.name,
                Some(&serde_json::to_string(&row)?),
            )
            .await?;
            say!(
                "alert rule `{}` {}",
                args.name,
                if created { "created" } else { "replaced" }
            );
        }
        RuleCommand::List => {
            let store = db.open_existing().await?;
            let rows: Vec<Vec<String>> = store
                .list_rules()
                .await?
                .into_iter()
                .map(|r| {
                    let scope = match (&r.tasks, &r.task_group) {
                        (Some(tasks), _) => format!("tasks {tasks}"),
                        (None, Some(group)) => format!("group {group}"),
                        (None, None) => "every task".to_owned(),
                    };
                    let problem = r.rule().err().map(|(c, why)| format!("{c}: {why}"));
                    vec![
                        r.name.clone(),
                        r.event.clone(),
                        scope,
                        r.channels.clone(),
                        r.threshold_ms.map_or_else(|| "-".to_owned(), shown),
                        r.count.map_or_else(|| "-".to_owned(), |n| n.to_string()),
                        if r.silence_ms > 0 {
                            shown(r.silence_ms)
                        } else {
                            "-".to_owned()
                        },
                        if r.paused.0 {
                            "paused".to_owned()
                        } else {
                            problem.unwrap_or_else(|| "active".to_owned())
                        },
                    ]
                })
                .collect();
            table(
                &[
                    "NAME",
                    "EVENT",
                    "FOR",
                    "CHANNELS",
                    "THRESHOLD",
                    "COUNT",
                    "SILENCE",
                    "STATE",
                ],
                &rows,
            )?;
        }
        RuleCommand::Remove { name } => {
            let store = db.open_existing().await?;
            if !store.delete_rule(&name).await? {
                bail!("there is no alert rule `{name}`; see `carillon alert rule list`");
            }
            audit(&store, "alert-rule.delete", &name, None).await?;
            say!("alert rule `{name}` removed");
        }
    }
    Ok(())
}

async fn channel(db: &DbArgs, command: ChannelCommand) -> anyhow::Result<()> {
    match command {
        ChannelCommand::Set {
            name,
            kind,
            target,
            secret,
            description,
        } => {
            if let Err((column, why)) = check_channel(&kind, &target) {
                bail!("channel `{name}`: {column}: {why}");
            }
            let store = db.open().await?;
            let now = now_ms();
            let row = ChannelRow {
                name: name.clone(),
                kind: kind.trim().to_owned(),
                target: target.trim().to_owned(),
                secret,
                description,
                created_at: now,
                updated_at: now,
            };
            let created = store.put_channel(&row, now).await?;
            audit(
                &store,
                "alert-channel.set",
                &name,
                Some(&serde_json::to_string(&row)?),
            )
            .await?;
            say!(
                "alert channel `{name}` {}",
                if created { "created" } else { "replaced" }
            );
        }
        ChannelCommand::List => {
            let store = db.open_existing().await?;
            let rows: Vec<Vec<String>> = store
                .list_channels()
                .await?
                .into_iter()
                .map(|c| {
                    vec![
                        c.name,
                        c.kind,
                        if c.target.is_empty() {
                            "(the task's keepers)".to_owned()
                        } else {
                            c.target
                        },
                        c.secret.unwrap_or_else(|| "-".to_owned()),
                        c.description.unwrap_or_default(),
                    ]
                })
                .collect();
            table(&["NAME", "KIND", "TARGET", "SECRET", "DESCRIPTION"], &rows)?;
        }
        ChannelCommand::Remove { name } => {
            let store = db.open_existing().await?;
            let users = store.rules_using_channel(&name).await?;
            if !users.is_empty() {
                bail!(
                    "channel `{name}` is used by rule(s) {}; take it out of them first",
                    users.join(", ")
                );
            }
            if !store.delete_channel(&name).await? {
                bail!("there is no alert channel `{name}`; see `carillon alert channel list`");
            }
            audit(&store, "alert-channel.delete", &name, None).await?;
            say!("alert channel `{name}` removed");
        }
    }
    Ok(())
}

async fn keeper(db: &DbArgs, command: KeeperCommand) -> anyhow::Result<()> {
    match command {
        KeeperCommand::Set {
            name,
            email,
            mobile,
            description,
        } => {
            if let Some(email) = &email
                && let Err((_, why)) = check_channel("email", email)
            {
                bail!("keeper `{name}`: {why}");
            }
            let store = db.open().await?;
            let row = KeeperRow {
                name: name.clone(),
                email,
                mobile,
                description,
            };
            let created = store.put_keeper(&row).await?;
            audit(
                &store,
                "keeper.set",
                &name,
                Some(&serde_json::to_string(&row)?),
            )
            .await?;
            say!(
                "keeper `{name}` {}; name them in a task's keepers",
                if created { "created" } else { "replaced" }
            );
        }
        KeeperCommand::List => {
            let store = db.open_existing().await?;
            let rows: Vec<Vec<String>> = store
                .list_keepers()
                .await?
                .into_iter()
                .map(|k| {
                    vec![
                        k.name,
                        k.email.unwrap_or_else(|| "-".to_owned()),
                        k.mobile.unwrap_or_else(|| "-".to_owned()),
                        k.description.unwrap_or_default(),
                    ]
                })
                .collect();
            table(&["NAME", "EMAIL", "MOBILE", "DESCRIPTION"], &rows)?;
        }
        KeeperCommand::Remove { name } => {
            let store = db.open_existing().await?;
            if !store.delete_keeper(&name).await? {
                bail!("there is no keeper `{name}`; see `carillon alert keeper list`");
            }
            audit(&store, "keeper.delete", &name, None).await?;
            say!("keeper `{name}` removed");
        }
    }
    Ok(())
}

fn shown(ms: i64) -> String {
    format_duration(Duration::from_millis(ms.max(0) as u64))
}
