//! Alerts, the service: one loop that looks for what nothing ends to set
//! off (`look`: runs running too long, stale schedules) and sends the
//! alerts due (`deliver`), in each channel's format (`channels`). Alerts
//! about run ends and misfires are raised where those are followed up (the
//! outbox, in the store), which wakes this loop. Every host runs it: an
//! alert is raised once per rule, task and subject, and each delivery is
//! taken by one host at a time.

mod channels;
mod deliver;
mod look;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use crate::egress::{Egress, Mailer};
use crate::metrics;
use crate::repeats::Repeats;
use crate::secrets::Secrets;
use crate::store::Store;

/// How often the loop looks for long runs and stale schedules.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// The alert loop's parts.
#[derive(Debug)]
pub struct Alerts {
    /// The database.
    pub store: Store,
    /// Where webhooks go out, under the host's ceiling.
    pub egress: Arc<Egress>,
    /// The SMTP server, if the host has one.
    pub mailer: Option<Mailer>,
    /// For the secrets channels sign with.
    pub secrets: Secrets,
    /// This host, holding the deliveries it takes.
    pub node_id: String,
    /// The console's address, for links.
    pub console_url: Option<String>,
    /// How long one delivery may take.
    pub timeout: Duration,
    /// How often to look for deliveries due when nothing wakes the loop.
    pub poll_interval: Duration,
    /// Woken when alerts were raised on this host.
    pub wake: Arc<Notify>,
}

impl Alerts {
    /// Watches and delivers until `stopped`.
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        let mut watch_failures = Repeats::new("looking for long runs and stale schedules");
        let mut deliver_failures = Repeats::new("sending alerts");
        let mut watched = Instant::now() - WATCH_EVERY;
        while !*stopped.borrow() {
            if watched.elapsed() >= WATCH_EVERY {
                watched = Instant::now();
                match self.look().await {
                    Ok(_) => watch_failures.succeeded(),
                    Err(error) => {
                        metrics::global().database_error("watching for alerts");
                        watch_failures.failed(&error);
                    }
                }
            }
            match self.deliver_due().await {
                Ok(taken) => {
                    deliver_failures.succeeded();
                    if taken > 0 {
                        continue;
                    }
                }
                Err(error) => {
                    metrics::global().database_error("sending alerts");
                    deliver_failures.failed(&error);
                }
            }
            let nap = self.poll_interval.min(WATCH_EVERY);
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(nap) => {}
                _ = stopped.changed() => {}
            }
        }
    }
}
