//! `carillon token`: create, list and revoke the admin API's bearer tokens.
//! A token's text is printed once, when it is created; the database keeps
//! only its hash. Creating the first admin token is how the API (and,
//! later, the console) is opened beyond the loopback-only start.

use anyhow::bail;
use clap::Subcommand;

use crate::api::{issue_token, token_hash};
use crate::cli::database::DbArgs;
use crate::cli::output::{say, table, time_or_dash};
use crate::clock::now_ms;
use crate::store::AuditEntry;
use crate::vocab::parse_groups;

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token and print it (this once).
    Create {
        /// A unique name, e.g. who or what uses it.
        name: String,
        /// viewer, operator, editor or admin.
        #[arg(long)]
        role: String,
        /// Limit it to these task groups, `etl,billing`.
        #[arg(long)]
        groups: Option<String>,
        /// Let it stop working after this long, e.g. `30d`.
        #[arg(long)]
        expires: Option<String>,
    },
    /// List tokens (never their text).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        /// The token's name.
        name: String,
    },
}

pub(crate) async fn token(db: &DbArgs, command: TokenCommand) -> anyhow::Result<()> {
    let store = match &command {
        TokenCommand::Create { .. } => db.open().await?,
        _ => db.open_existing().await?,
    };
    match command {
        TokenCommand::Create {
            name,
            role,
            groups,
            expires,
        } => {
            let groups = groups
                .as_deref()
                .map(parse_groups)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let now = now_ms();
            let (row, text, key) = issue_token(&name, &role, groups, expires.as_deref(), now)?;
            if !store.create_token(&row, &key, &token_hash(&text)).await? {
                bail!(
                    "a token named `{}` exists; revoke it first (`carillon token revoke {}`) or choose another name",
                    row.name,
                    row.name
                );
            }
            store
                .audit(AuditEntry {
                    at: now,
                    actor: "cli",
                    action: "token.create",
                    target: &row.name,
                    before: None,
                    after: None,
                })
                .await?;
            say!("{text}");
            eprintln!(
                "token `{}` ({}) created; it is shown this once: send it as `Authorization: Bearer TOKEN`",
                row.name, row.role
            );
        }
        TokenCommand::List { json } => {
            let tokens = store.list_tokens().await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                let rows: Vec<Vec<String>> = tokens
                    .iter()
                    .map(|t| {
                        vec![
                            t.name.clone(),
                            t.role.to_string(),
                            t.groups.as_ref().map_or("all".to_owned(), |g| g.join(",")),
                            time_or_dash(Some(t.created_at)),
                            time_or_dash(t.expires_at),
                            time_or_dash(t.last_used_at),
                        ]
                    })
                    .collect();
                table(
                    &["NAME", "ROLE", "GROUPS", "CREATED", "EXPIRES", "LAST USED"],
                    &rows,
                )?;
            }
        }
        TokenCommand::Revoke { name } => {
            if !store.revoke_token(&name).await? {
                bail!("there is no token `{name}`; see `carillon token list`");
            }
            store
                .audit(AuditEntry {
                    at: now_ms(),
                    actor: "cli",
                    action: "token.revoke",
                    target: &name,
                    before: None,
                    after: None,
                })
                .await?;
            say!("token `{name}` revoked");
        }
    }
    Ok(())
}
