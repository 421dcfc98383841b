//! `carillon secret`: set, list and remove the secrets tasks may grant their
//! runs. A value is read from stdin (at a terminal, without echo) and never
//! printed; `list` shows names and dates only.

use std::io::{IsTerminal as _, Read as _};

use anyhow::{Context as _, bail};
use clap::Subcommand;

use crate::cli::database::DbArgs;
use crate::cli::output::{say, table, time_or_dash};
use crate::cli::quiet::read_quietly;
use crate::clock::now_ms;
use crate::secrets::Secrets;
use crate::store::AuditEntry;

#[derive(Debug, Subcommand)]
pub(crate) enum SecretCommand {
    /// Set a secret; its value is read from stdin (never from an argument).
    Set {
        /// Its name: letters, digits, `_`, `-`, `.`.
        name: String,
    },
    /// List secrets: names and dates, never values.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a secret: runs granted it can no longer read it.
    Remove {
        /// Its name.
        name: String,
    },
}

/// The value, from stdin: one line at a terminal, everything piped (less
/// one trailing newline) otherwise.
fn read_value(name: &str) -> anyhow::Result<String> {
    let value = if std::io::stdin().is_terminal() {
        read_quietly(Some(&format!("value of {name}: ")), "the value")?
    } else {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the value from stdin")?;
        text.strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text)
            .to_owned()
    };
    if value.is_empty() {
        bail!("give the value on stdin, e.g. `printf %s \"$TOKEN\" | carillon secret set {name}`");
    }
    Ok(value)
}

pub(crate) async fn secret(db: &DbArgs, command: SecretCommand) -> anyhow::Result<()> {
    let config = db.config()?;
    let store = match &command {
        SecretCommand::Set { .. } => db.open().await?,
        _ => db.open_existing().await?,
    };
    let secrets = Secrets::new(
        store.clone(),
        config.secrets_key.clone(),
        &config.database_url,
    );
    let audit = |action: &'static str, name: String| {
        let store = store.clone();
        async move {
            store
                .audit(AuditEntry {
                    at: now_ms(),
                    actor: "cli",
                    action,
                    target: &name,
                    before: None,
                    after: None,
                })
                .await
        }
    };
    match command {
        SecretCommand::Set { name } => {
            crate::vocab::check_secret_name(&name).map_err(anyhow::Error::msg)?;
            let value = read_value(&name)?;
            let new = secrets.set(&name, &value, now_ms()).await?;
            audit("secret.set", name.clone()).await?;
            say!(
                "secret `{name}` {}; grant it to a task in its secrets column",
                if new { "set" } else { "replaced" }
            );
        }
        SecretCommand::List { json } => {
            let rows = secrets.list().await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                let rows: Vec<Vec<String>> = rows
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            time_or_dash(Some(s.created_at)),
                            time_or_dash(Some(s.updated_at)),
                        ]
                    })
                    .collect();
                table(&["NAME", "CREATED", "UPDATED"], &rows)?;
            }
        }
        SecretCommand::Remove { name } => {
            if !secrets.remove(&name).await? {
                bail!("there is no secret `{name}`; see `carillon secret list`");
            }
            audit("secret.remove", name.clone()).await?;
            say!("secret `{name}` removed");
        }
    }
    Ok(())
}
