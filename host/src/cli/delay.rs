//! `carillon delay`: add, list and cancel delay tasks on the database
//! directly, with the same checks as the API (the host checks the callback
//! URL against its `delays.allowed_hosts` when it is due).

use std::collections::BTreeMap;

use anyhow::bail;
use clap::Subcommand;

use crate::cli::database::DbArgs;
use crate::cli::output::{say, table, time_or_dash};
use crate::clock::now_ms;
use crate::egress::Target;
use crate::store::{AuditEntry, CancelDelay, DelayFilter};
use crate::vocab::{Callback, DelayState, NewDelay, due_time};

#[derive(Debug, Subcommand)]
pub(crate) enum DelayCommand {
    /// Add a delay: call URL after a while (`--in 90s`) or at a time (`--at`).
    Add {
        /// What it is about, e.g. `order-timeout`.
        topic: String,
        /// Which one, e.g. `order-42`; unique within the topic.
        key: String,
        /// The URL to call.
        #[arg(long)]
        url: String,
        /// How long from now, e.g. `90s`, `15m`.
        #[arg(long = "in")]
        delay: Option<String>,
        /// When, RFC 3339, e.g. `2026-12-24T18:00:00Z`.
        #[arg(long)]
        at: Option<String>,
        /// GET, POST, PUT, PATCH or DELETE.
        #[arg(long, default_value = "POST")]
        method: String,
        /// A header, `Name: value`; repeat for more.
        #[arg(long = "header")]
        headers: Vec<String>,
        /// The body to send.
        #[arg(long)]
        body: Option<String>,
        /// The body's Content-Type.
        #[arg(long)]
        content_type: Option<String>,
        /// Attempts after the first when one gets no 2xx.
        #[arg(long, default_value_t = 3)]
        retries: u32,
    },
    /// List delays, newest first.
    List {
        /// Only this topic.
        #[arg(long)]
        topic: Option<String>,
        /// Only this state: pending, delivering, succeeded, failed, cancelled.
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a delay that has not been called yet.
    Cancel {
        /// Its topic.
        topic: String,
        /// Its key.
        key: String,
    },
}

pub(crate) async fn delay(db: &DbArgs, command: DelayCommand) -> anyhow::Result<()> {
    let store = match &command {
        DelayCommand::Add { .. } => db.open().await?,
        _ => db.open_existing().await?,
    };
    match command {
        DelayCommand::Add {
            topic,
            key,
            url,
            delay,
            at,
            method,
            headers,
            body,
            content_type,
            retries,
        } => {
            let now = now_ms();
            let problem =
                |p: crate::vocab::DelayProblem| anyhow::anyhow!("{}: {}", p.field, p.message);
            let due_at = due_time(delay.as_deref(), at.as_deref(), now).map_err(|mut p| {
                p.field = if p.field == "delay" { "--in" } else { "--at" };
                problem(p)
            })?;
            let mut header_map = BTreeMap::new();
            for header in headers {
                let Some((name, value)) = header.split_once(':') else {
                    bail!("--header `{header}`: write `Name: value`");
                };
                header_map.insert(name.trim().to_owned(), value.trim().to_owned());
            }
            let url_parsed = url
                .parse()
                .map_err(|_| anyhow::anyhow!("--url: `{url}` is not a URL"))?;
            Target::of_url(&url_parsed).map_err(|e| anyhow::anyhow!("--url: {e}"))?;
            let new = NewDelay {
                topic,
                key,
                due_at,
                callback: Callback {
                    url,
                    method: method.to_ascii_uppercase(),
                    headers: header_map,
                    body,
                    content_type,
                },
                retries,
            };
            new.check().map_err(problem)?;
            let (row, created) = store.create_delay(&new, now).await?;
            if !created {
                bail!(
                    "delay {}/{} exists ({}); cancel it (`carillon delay cancel {} {}`) or use another key",
                    row.topic,
                    row.key,
                    row.state,
                    row.topic,
                    row.key
                );
            }
            let target = format!("{}/{}", row.topic, row.key);
            store
                .audit(AuditEntry {
                    at: now,
                    actor: "cli",
                    action: "delay.create",
                    target: &target,
                    before: None,
                    after: None,
                })
                .await?;
            say!(
                "delay {target} added, due {}",
                time_or_dash(Some(row.due_at))
            );
        }
        DelayCommand::List {
            topic,
            state,
            limit,
            json,
        } => {
            let state = state
                .as_deref()
                .map(str::parse::<DelayState>)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--state: {e}"))?;
            if !(1..=100_000).contains(&limit) {
                bail!("--limit: ask for 1 to 100000 delays");
            }
            let delays = store
                .list_delays(&DelayFilter {
                    topic,
                    state,
                    before_id: None,
                    limit,
                })
                .await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&delays)?);
            } else {
                let rows: Vec<Vec<String>> = delays
                    .iter()
                    .map(|d| {
                        vec![
                            d.topic.clone(),
                            d.key.clone(),
                            d.state.to_string(),
                            time_or_dash(Some(d.due_at)),
                            d.attempts.to_string(),
                            d.last_status.map_or("-".to_owned(), |s| s.to_string()),
                            format!("{} {}", d.callback.method, d.callback.url),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "TOPIC", "KEY", "STATE", "DUE", "ATTEMPTS", "STATUS", "CALLBACK",
                    ],
                    &rows,
                )?;
            }
        }
        DelayCommand::Cancel { topic, key } => {
            match store.cancel_delay(&topic, &key, now_ms()).await? {
                CancelDelay::Missing => {
                    bail!("there is no delay {topic}/{key}; see `carillon delay list`")
                }
                CancelDelay::NotPending(row) => {
                    bail!(
                        "delay {topic}/{key} is {}: only a pending delay can be cancelled",
                        row.state
                    )
                }
                CancelDelay::Cancelled(_) => {
                    let target = format!("{topic}/{key}");
                    store
                        .audit(AuditEntry {
                            at: now_ms(),
                            actor: "cli",
                            action: "delay.cancel",
                            target: &target,
                            before: None,
                            after: None,
                        })
                        .await?;
                    say!("delay {target} cancelled");
                }
            }
        }
    }
    Ok(())
}
