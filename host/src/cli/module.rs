//! `carillon module`: list, push and remove job modules in the database. A
//! pushed file is validated before it is stored, so a broken file never
//! reaches the hosts.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Subcommand;

use crate::cli::database::DbArgs;
use crate::cli::output::say;
use crate::cli::output::{rfc3339_ms, table};
use crate::clock::now_ms;
use crate::digest::Digest;
use crate::plugins::reserved_name;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::units::ByteSize;
use crate::vocab::is_builtin_module;

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
    // Pushing a module may create the database; listing and removing need one.
    let store = match &command {
        ModuleCommand::Push { .. } => db.open().await?,
        _ => db.open_existing().await?,
    };
    match command {
        ModuleCommand::List { json } => {
            let modules = store.list_modules().await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&modules)?);
            } else {
                let rows: Vec<Vec<String>> = modules
                    .iter()
                    .map(|m| {
                        vec![
                            m.name.clone(),
                            m.digest.chars().take(12).collect(),
                            ByteSize(m.size as u64).to_string(),
                            rfc3339_ms(m.updated_at),
                            m.source.clone(),
                        ]
                    })
                    .collect();
                table(&["NAME", "DIGEST", "SIZE", "UPDATED", "SOURCE"], &rows)?;
            }
        }
        ModuleCommand::Push { name, file } => {
            anyhow::ensure!(!is_builtin_module(&name), "{}", reserved_name(&name));
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            // Validate with a small runtime before storing, so a broken file never reaches the hosts.
            let runtime = Runtime::new(RuntimeConfig {
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
            say!("module `{name}` {verb} (digest {})", digest.short());
        }
        ModuleCommand::Remove { name } => {
            if !store.remove_module(&name).await? {
                bail!("there is no module `{name}`");
            }
            say!("module `{name}` removed");
        }
    }
    Ok(())
}
