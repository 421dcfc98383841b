//! `carillon cron next "EXPR"`: prints the next fire times of a schedule, one
//! RFC 3339 UTC timestamp per line, nothing else on stdout. Any schedule the
//! task table accepts works (`every 30s`, `at …`, `after 10m` too), and
//! `--calendar NAME` skips what that calendar of the database excludes.

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};

use crate::cli::database::DbArgs;
use crate::schedule::{Calendars, Schedule, TaskTiming, parse_time_zone};

#[derive(Debug, Subcommand)]
pub(crate) enum CronCommand {
    /// Print the next fire times of a schedule.
    Next(NextArgs),
}

#[derive(Debug, Args)]
pub(crate) struct NextArgs {
    /// A Quartz cron expression (`0 15 10 ? * 6L`), `every 30s`, `at RFC3339` or `after 10m`.
    expression: String,
    /// How many fire times to print.
    #[arg(short = 'n', default_value_t = 5)]
    count: usize,
    /// Start after this time (RFC 3339; default: now).
    #[arg(long, value_name = "RFC3339")]
    from: Option<String>,
    /// IANA time zone the expression is read in.
    #[arg(long, value_name = "ZONE", default_value = "UTC")]
    tz: String,
    /// Skip the times this calendar (of the database) excludes.
    #[arg(long, value_name = "NAME")]
    calendar: Option<String>,
    #[command(flatten)]
    db: DbArgs,
}

pub(crate) async fn run(command: CronCommand) -> anyhow::Result<()> {
    let CronCommand::Next(args) = command;
    let schedule: Schedule = args.expression.parse()?;
    let tz = parse_time_zone(&args.tz).map_err(anyhow::Error::msg)?;
    let from = match &args.from {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .with_context(|| {
                format!("--from `{text}` is not an RFC 3339 time, e.g. 2026-01-31T10:15:00Z")
            })?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let timing = TaskTiming {
        schedule,
        tz,
        created_at_ms: from.timestamp_millis(),
        start_at_ms: None,
        end_at_ms: None,
        calendar: match &args.calendar {
            None => None,
            Some(name) => {
                let store = args.db.open_existing().await?;
                Some(Calendars::resolve(&store.calendar_rows().await?).get(name)?)
            }
        },
    };
    let mut out = String::new();
    for next in timing.upcoming(from.timestamp_millis(), args.count) {
        let time =
            DateTime::<Utc>::from_timestamp_millis(next).context("fire time out of range")?;
        out.push_str(&time.to_rfc3339_opts(SecondsFormat::Secs, true));
        out.push('\n');
    }
    if out.is_empty() && args.count > 0 {
        // Stdout stays a list of times (empty here); say why on stderr.
        eprintln!(
            "`{}` never fires after {}",
            args.expression,
            from.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
    }
    use std::io::Write as _;
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}
