//! Which database a CLI command works on: `--database URL`, else the
//! configuration's (`--config FILE`, `CARILLON_DATABASE_URL`, default
//! `sqlite://carillon.db`).

use std::path::PathBuf;

use clap::Args;

use crate::config::{Config, ConfigFlags};
use crate::store::Store;

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
        let mut flags = ConfigFlags::default();
        if let Some(url) = &self.database {
            flags.set("database.url", url);
        }
        Ok(Config::load(
            self.config.as_deref(),
            |name| std::env::var(name).ok(),
            &flags,
        )?)
    }

    /// Opens (and migrates) the configured database, creating a SQLite file
    /// if there is none: for commands that write.
    pub(crate) async fn open(&self) -> anyhow::Result<Store> {
        Ok(Store::connect(&self.config()?.database_url).await?)
    }

    /// Opens the configured database, which must exist: for commands that
    /// only read.
    pub(crate) async fn open_existing(&self) -> anyhow::Result<Store> {
        Ok(Store::connect_existing(&self.config()?.database_url).await?)
    }
}

/// Records in the audit log that the CLI did `action` to `target`, with
/// what it is now (JSON), if anything.
pub(crate) async fn audit(
    store: &Store,
    action: &'static str,
    target: &str,
    after: Option<&str>,
) -> anyhow::Result<()> {
    store
        .audit(crate::store::AuditEntry {
            at: crate::clock::now_ms(),
            actor: "cli",
            action,
            target,
            before: None,
            after,
        })
        .await?;
    Ok(())
}
