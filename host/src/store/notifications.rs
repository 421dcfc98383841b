//! Change notifications on PostgreSQL: the channels the schema's triggers
//! notify (`migrations/postgres/0002_cluster.sql`), the notification a
//! firing host sends for the pending runs it offered, and a listener that
//! turns what arrives into [`Change`]s. Nothing on SQLite, whose single host
//! wakes its own loops in-process.

use std::collections::BTreeSet;

use sqlx::postgres::PgListener;

use crate::store::write::Tx;
use crate::store::{Backend, Store, StoreError};

/// Task rows were added, removed or changed by anyone but a scheduler.
const TASKS_CHANNEL: &str = "carillon_tasks";
/// A module was pushed, replaced or removed.
const MODULES_CHANNEL: &str = "carillon_modules";
/// Pending runs were created; the payload lists the hosts they were offered
/// to (`*`: any host).
const RUNS_CHANNEL: &str = "carillon_runs";
/// Something was written to the outbox (a run ended that is followed up).
const OUTBOX_CHANNEL: &str = "carillon_outbox";

/// The longest payload sent; PostgreSQL's limit is 8,000 bytes.
const MAX_PAYLOAD: usize = 7900;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Task rows.
    Tasks,
    /// Modules.
    Modules,
    /// The outbox has entries to follow up.
    Outbox,
    /// Pending runs were created for these hosts (`*`: any host), comma-separated.
    Runs {
        /// The hosts they were offered to.
        offered_to: String,
    },
}

impl Change {
    /// Whether runs this change announces may be claimed by `node`.
    pub fn offers_runs_to(&self, node: &str) -> bool {
        match self {
            Change::Runs { offered_to } => offered_to.split(',').any(|id| id == "*" || id == node),
            _ => false,
        }
    }
}

/// A connection listening on every channel.
#[derive(Debug)]
pub struct ChangeListener {
    listener: PgListener,
}

impl ChangeListener {
    /// The next change; `Ok(None)` for a notification on an unknown
    /// channel. An error means the connection dropped: notifications sent
    /// meanwhile are lost.
    pub async fn next(&mut self) -> Result<Option<Change>, StoreError> {
        let notification = self.listener.try_recv().await?.ok_or_else(|| {
            StoreError::Query(sqlx::Error::Protocol(
                "the notification connection was closed".into(),
            ))
        })?;
        Ok(match notification.channel() {
            TASKS_CHANNEL => Some(Change::Tasks),
            MODULES_CHANNEL => Some(Change::Modules),
            OUTBOX_CHANNEL => Some(Change::Outbox),
            RUNS_CHANNEL => Some(Change::Runs {
                offered_to: notification.payload().to_owned(),
            }),
            _ => None,
        })
    }
}

impl Store {
    /// Opens a connection of its own that listens for changes.
    pub async fn listen_for_changes(&self) -> Result<ChangeListener, StoreError> {
        if self.backend != Backend::Postgres {
            return Err(StoreError::NeedsPostgres("listening for changes"));
        }
        let mut listener = PgListener::connect(&self.url).await?;
        listener
            .listen_all([TASKS_CHANNEL, RUNS_CHANNEL, MODULES_CHANNEL, OUTBOX_CHANNEL])
            .await?;
        Ok(ChangeListener { listener })
    }

    /// PostgreSQL: tells the hosts pending runs `offered` to them (`None`:
    /// to anyone) were created, when the transaction commits. Nothing on
    /// SQLite.
    pub(crate) async fn notify_runs<'a>(
        &self,
        tx: &mut Tx,
        offered: impl Iterator<Item = Option<&'a str>>,
    ) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let hosts: BTreeSet<&str> = offered.map(|host| host.unwrap_or("*")).collect();
        if hosts.is_empty() {
            return Ok(());
        }
        let mut payload = hosts.into_iter().collect::<Vec<_>>().join(",");
        if payload.len() > MAX_PAYLOAD {
            payload = "*".to_owned();
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(RUNS_CHANNEL)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_wakes_for_offers_to_it_or_to_anyone() {
        let runs = |offered_to: &str| Change::Runs {
            offered_to: offered_to.into(),
        };
        assert!(runs("a,b").offers_runs_to("b"));
        assert!(runs("*").offers_runs_to("b"));
        assert!(!runs("a,bb").offers_runs_to("b"));
        assert!(!runs("").offers_runs_to("b"));
        assert!(!Change::Tasks.offers_runs_to("b"));
    }
}
