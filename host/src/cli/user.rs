//! `carillon user`: add, list and remove the console's users. A password is
//! read from stdin (one line; at a terminal it is asked for twice, without
//! echo) and kept only as its argon2id hash.

use std::io::IsTerminal as _;

use anyhow::bail;
use clap::Subcommand;

use crate::api::new_user;
use crate::cli::database::DbArgs;
use crate::cli::output::{say, table, time_or_dash};
use crate::cli::quiet::read_quietly;
use crate::clock::now_ms;
use crate::store::AuditEntry;
use crate::vocab::parse_groups;

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user; their password is read from stdin.
    Add {
        /// A unique name, used to sign in.
        name: String,
        /// viewer, operator, editor or admin.
        #[arg(long)]
        role: String,
        /// Limit them to these task groups, `etl,billing`.
        #[arg(long)]
        groups: Option<String>,
    },
    /// List users (never their passwords).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a user: their sessions end at once.
    Remove {
        /// The user's name.
        name: String,
    },
}

/// The password, from stdin: asked twice at a terminal.
fn read_password() -> anyhow::Result<String> {
    let read_line = |prompt| read_quietly(prompt, "the password");
    if !std::io::stdin().is_terminal() {
        let password = read_line(None)?;
        if password.is_empty() {
            bail!(
                "give the password on stdin, e.g. `printf %s \"$PASSWORD\" | carillon user add …`"
            );
        }
        return Ok(password);
    }
    let password = read_line(Some("password: "))?;
    if read_line(Some("again: "))? != password {
        bail!("the two passwords differ; nothing was added");
    }
    Ok(password)
}

pub(crate) async fn user(db: &DbArgs, command: UserCommand) -> anyhow::Result<()> {
    let store = match &command {
        UserCommand::Add { .. } => db.open().await?,
        _ => db.open_existing().await?,
    };
    match command {
        UserCommand::Add { name, role, groups } => {
            let groups = groups
                .as_deref()
                .map(parse_groups)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let password = read_password()?;
            let now = now_ms();
            let (row, hash) = new_user(&name, &role, groups, &password, now)?;
            if !store.create_user(&row, &hash).await? {
                bail!(
                    "a user named `{}` exists; remove them first (`carillon user remove {}`) or choose another name",
                    row.name,
                    row.name
                );
            }
            store
                .audit(AuditEntry {
                    at: now,
                    actor: "cli",
                    action: "user.create",
                    target: &row.name,
                    before: None,
                    after: None,
                })
                .await?;
            say!(
                "user `{}` ({}) added; they sign in to the console or POST /api/v1/login",
                row.name,
                row.role
            );
        }
        UserCommand::List { json } => {
            let users = store.list_users().await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| {
                        vec![
                            u.name.clone(),
                            u.role.to_string(),
                            u.groups.as_ref().map_or("all".to_owned(), |g| g.join(",")),
                            time_or_dash(Some(u.created_at)),
                            time_or_dash(u.last_login_at),
                        ]
                    })
                    .collect();
                table(&["NAME", "ROLE", "GROUPS", "ADDED", "LAST SIGN-IN"], &rows)?;
            }
        }
        UserCommand::Remove { name } => {
            if !store.remove_user(&name).await? {
                bail!("there is no user `{name}`; see `carillon user list`");
            }
            store
                .audit(AuditEntry {
                    at: now_ms(),
                    actor: "cli",
                    action: "user.remove",
                    target: &name,
                    before: None,
                    after: None,
                })
                .await?;
            say!("user `{name}` removed; their sessions ended");
        }
    }
    Ok(())
}
