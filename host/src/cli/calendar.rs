//! `carillon calendar`: set, import, list, show and remove the calendars
//! tasks name in their `calendar` column. Every change is checked as the
//! API checks it (kind, what it excludes, its zone, its base chain) and
//! audited; a serving host picks it up on its next pass.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};

use crate::cli::database::{DbArgs, audit};
use crate::cli::output::{say, table, time_or_dash};
use crate::clock::now_ms;
use crate::schedule::calendar::{check_put, check_remove, ics::dates_of_ics};
use crate::schedule::{CalendarKind, Calendars};
use crate::store::{CalendarRecord, Store};

#[derive(Debug, Subcommand)]
pub(crate) enum CalendarCommand {
    /// Create or replace a calendar.
    Set(SetArgs),
    /// Create or replace a holiday calendar from the dates of an iCalendar (.ics) file.
    Import(ImportArgs),
    /// List calendars.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a calendar and the tasks using it.
    Show {
        /// Its name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a calendar no task and no other calendar uses.
    Remove {
        /// Its name.
        name: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct SetArgs {
    /// Its name: letters, digits, `-`, `_`, `.`.
    name: String,
    /// annual, holiday, monthly, weekly, daily or cron.
    #[arg(long)]
    kind: String,
    /// What it excludes: `12-25, 01-01` (annual), `2026-12-25` (holiday),
    /// `1, 15` (monthly), `SAT, SUN` (weekly), `12:00-13:00` or
    /// `outside 08:00-18:00` (daily), a Quartz cron expression (cron).
    #[arg(long)]
    excludes: String,
    /// A calendar that excludes more: a time is included only when both include it.
    #[arg(long)]
    base: Option<String>,
    /// IANA zone it is read in (default: the zone of each task using it).
    #[arg(long, value_name = "ZONE")]
    zone: Option<String>,
    /// What it is for.
    #[arg(long)]
    description: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The holiday calendar to create or replace.
    name: String,
    /// The .ics file (`-` for stdin).
    file: PathBuf,
    /// A calendar that excludes more (e.g. weekends).
    #[arg(long)]
    base: Option<String>,
    /// IANA zone its dates are read in (default: the zone of each task using it).
    #[arg(long, value_name = "ZONE")]
    zone: Option<String>,
    /// What it is for.
    #[arg(long)]
    description: Option<String>,
}

pub(crate) async fn calendar(db: &DbArgs, command: CalendarCommand) -> anyhow::Result<()> {
    match command {
        CalendarCommand::Set(args) => {
            let store = db.open().await?;
            let record = CalendarRecord {
                name: args.name,
                kind: args.kind,
                excludes: args.excludes,
                base: args.base,
                time_zone: args.zone,
                description: args.description,
                created_at: now_ms(),
                updated_at: now_ms(),
            };
            put(&store, record).await
        }
        CalendarCommand::Import(args) => {
            let text = if args.file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
            } else {
                std::fs::read_to_string(&args.file)
                    .with_context(|| format!("cannot read {}", args.file.display()))?
            };
            let found =
                dates_of_ics(&text).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
            if found.dates.is_empty() {
                bail!(
                    "{}: no event in it has a date ({} event(s) read); nothing to import",
                    args.file.display(),
                    found.events
                );
            }
            let excludes = found
                .dates
                .iter()
                .map(|date| date.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let store = db.open().await?;
            put(
                &store,
                CalendarRecord {
                    name: args.name,
                    kind: CalendarKind::Holiday.as_str().to_owned(),
                    excludes,
                    base: args.base,
                    time_zone: args.zone,
                    description: args.description,
                    created_at: now_ms(),
                    updated_at: now_ms(),
                },
            )
            .await?;
            say!(
                "{} date(s) from {} event(s){}",
                found.dates.len(),
                found.events,
                if found.recurring > 0 {
                    format!(
                        "; {} recurring event(s) gave only their first date: list each year's dates in the file",
                        found.recurring
                    )
                } else {
                    String::new()
                }
            );
            Ok(())
        }
        CalendarCommand::List { json } => {
            let store = db.open_existing().await?;
            let calendars = store.list_calendars().await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&calendars)?);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = calendars
                .iter()
                .map(|c| {
                    vec![
                        c.name.clone(),
                        c.kind.clone(),
                        shorten(&c.excludes, 48),
                        c.base.clone().unwrap_or_else(|| "-".into()),
                        c.time_zone.clone().unwrap_or_else(|| "(task's)".into()),
                        time_or_dash(Some(c.updated_at)),
                    ]
                })
                .collect();
            table(
                &["NAME", "KIND", "EXCLUDES", "BASE", "ZONE", "UPDATED"],
                &rows,
            )?;
            Ok(())
        }
        CalendarCommand::Show { name, json } => {
            let store = db.open_existing().await?;
            let Some(record) = store.get_calendar(&name).await? else {
                bail!("there is no calendar `{name}`; see `carillon calendar list`");
            };
            let tasks = store.tasks_using_calendar(&name).await?;
            if json {
                let mut value = serde_json::to_value(&record)?;
                value["tasks"] = serde_json::json!(tasks);
                say!("{}", serde_json::to_string_pretty(&value)?);
                return Ok(());
            }
            let calendars = Calendars::resolve(&store.calendar_rows().await?);
            say!("name:        {}", record.name);
            say!("kind:        {}", record.kind);
            say!("excludes:    {}", record.excludes);
            say!("base:        {}", record.base.as_deref().unwrap_or("-"));
            say!(
                "zone:        {}",
                record.time_zone.as_deref().unwrap_or("(the task's)")
            );
            if let Some(description) = &record.description {
                say!("description: {description}");
            }
            say!("updated:     {}", time_or_dash(Some(record.updated_at)));
            say!(
                "tasks:       {}",
                if tasks.is_empty() {
                    "-".to_owned()
                } else {
                    tasks.join(", ")
                }
            );
            match calendars.get(&name) {
                Err(error) => say!("problem:     {error}"),
                Ok(_) => say!(
                    "preview:     carillon cron next \"0 0 9 * * ?\" --calendar {name} --tz Europe/Berlin"
                ),
            }
            Ok(())
        }
        CalendarCommand::Remove { name } => {
            let store = db.open_existing().await?;
            if store.get_calendar(&name).await?.is_none() {
                bail!("there is no calendar `{name}`; see `carillon calendar list`");
            }
            let tasks = store.tasks_using_calendar(&name).await?;
            if !tasks.is_empty() {
                bail!(
                    "calendar `{name}` is used by task(s) {}; clear their calendar first (`carillon task set NAME --calendar none`)",
                    tasks.join(", ")
                );
            }
            check_remove(&store.calendar_rows().await?, &name)?;
            store.delete_calendar(&name).await?;
            audit_calendar(&store, "calendar.remove", &name, None).await?;
            say!("calendar `{name}` removed");
            Ok(())
        }
    }
}

/// Checks and stores `record`, keeping its creation time if it exists.
async fn put(store: &Store, mut record: CalendarRecord) -> anyhow::Result<()> {
    check_put(&store.calendar_rows().await?, &record.row())?;
    let before = store.get_calendar(&record.name).await?;
    if let Some(before) = &before {
        record.created_at = before.created_at;
    }
    let new = store.put_calendar(&record).await?;
    audit_calendar(store, "calendar.set", &record.name, Some(&record)).await?;
    say!(
        "calendar `{}` {}; name it in a task's calendar column",
        record.name,
        if new { "created" } else { "replaced" }
    );
    Ok(())
}

async fn audit_calendar(
    store: &Store,
    action: &'static str,
    name: &str,
    after: Option<&CalendarRecord>,
) -> anyhow::Result<()> {
    let after = after.map(serde_json::to_string).transpose()?;
    audit(store, action, name, after.as_deref()).await
}

fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(width - 1).collect::<String>())
    }
}
