//! `carillon serve`: wires the parts into a running host and owns its loops.
//! Start-up: open (and migrate) the database, bind the admin API's address
//! (refusing a non-loopback one while no token exists), build the runtime, load modules
//! (database, then the plugins folder), rescue runs this node left behind,
//! register the node. Then, until SIGINT/SIGTERM, these loops: the scheduler
//! materialises fires, the dispatcher claims and runs them, liveness
//! heartbeats, rescues runs of dead hosts and fences this one when the
//! database is out of reach, housekeeping relays cancel requests and loads
//! modules pushed to the database, and on PostgreSQL a listener wakes the
//! scheduler and dispatcher on change notifications; the API serves beside
//! them. At shutdown: stop
//! claiming, give running runs the grace period, hand the rest back as
//! interrupted.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;

use crate::alerts::Alerts;
use crate::api::{ApiServer, ApiState, HostGauges, Readiness, SETUP_HINT};
use crate::clock::now_ms;
use crate::cluster::liveness::Fence as _;
use crate::cluster::{ClusterView, OFFER_WINDOW, liveness, notify};
use crate::config::Config;
use crate::delays::Deliverer;
use crate::dispatch::{DispatchConfig, Dispatcher};
use crate::egress::{Egress, EgressConfig, Mailer};
use crate::followups::FollowUps;
use crate::metrics::{self, Gauge};
use crate::plugins::{ModuleRegistry, Plugins};
use crate::repeats::Repeats;
use crate::retention;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::scheduler::{FIRE_AHEAD, Scheduler, SchedulerConfig};
use crate::secrets::Secrets;
use crate::store::{Backend, JobDatabases, Rescued, Store, redact};
use crate::units::ByteSize;
use crate::vocab::CancelReason;
use crate::vocab::{HTTP_MODULE, WORKFLOW_MODULE};

/// How a user of `carillon serve` lets names reach internal addresses.
const PRIVATE_SWITCH: &str = "set egress.allow_private = true";

/// Runs a host until a shutdown signal.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested: no new runs will start");
        let _ = stop.send(true);
    });
    serve_until(config, stopped).await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs a host until `stop` turns true, or until one of its loops fails
/// (then it shuts down the same way and returns the error, so a supervisor
/// restarts it rather than leaving a host that heartbeats but never fires).
pub async fn serve_until(config: Config, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let (halt, stopped) = watch::channel(false);
    {
        let halt = halt.clone();
        tokio::spawn(async move {
            let _ = stop.wait_for(|s| *s).await;
            let _ = halt.send(true);
        });
    }
    let store = Store::connect(&config.database_url).await?;
    tracing::info!(database = %redact(&config.database_url), node = %config.node_id, "database ready");
    let api = match config.api_listen {
        None => None,
        Some(address) => {
            if !address.ip().is_loopback() && !store.has_principals().await? {
                anyhow::bail!(
                    "api.listen is {address}, reachable from other machines, but {SETUP_HINT}; \
                     create it before listening beyond loopback (or set api.listen to `off`)"
                );
            }
            Some(ApiServer::bind(address).await?)
        }
    };

    let runtime = Arc::new(Runtime::new(RuntimeConfig {
        max_concurrent_runs: config.max_concurrent_runs as u32,
        max_memory: config.limits.memory.max(ByteSize(1 << 30)),
        cache_dir: config.cache_dir.clone(),
        ..RuntimeConfig::default()
    })?);
    let registry = Arc::new(ModuleRegistry::new());
    let plugins = Plugins::new(store.clone(), runtime.clone(), registry.clone());
    plugins.sync_from_store().await?;
    std::fs::create_dir_all(&config.plugins_dir).with_context(|| {
        format!(
            "cannot create plugins folder {}",
            config.plugins_dir.display()
        )
    })?;
    let folder_watch = Plugins::watch(&config.plugins_dir).with_context(|| {
        format!(
            "cannot watch plugins folder {}",
            config.plugins_dir.display()
        )
    })?;
    plugins.scan_folder(&config.plugins_dir).await?;
    // HTTP tasks need no module: a host from before they existed may have
    // marked them as waiting for a module `http` that can never arrive.
    store.unblock_module_tasks(HTTP_MODULE).await?;
    store.unblock_module_tasks(WORKFLOW_MODULE).await?;

    let now = now_ms();
    // This node (its previous process) was alive until at most one interval
    // after its last heartbeat.
    let alive_until = store
        .last_heartbeat(&config.node_id)
        .await?
        .map_or(now, |beat| {
            (beat + config.heartbeat_interval.as_millis() as i64).min(now)
        });
    let rescued = store
        .rescue_runs_of(&config.node_id, now, alive_until)
        .await?;
    if rescued != Rescued::default() {
        tracing::warn!(
            requeued = rescued.requeued,
            orphaned = rescued.orphaned,
            never_started = rescued.unstarted,
            "this node stopped last time with runs in flight: rescued them"
        );
    }
    store
        .register_node(
            &config.node_id,
            &config.labels.to_string(),
            config.max_concurrent_runs as i64,
            now,
        )
        .await?;

    let view = Arc::new(ClusterView::new(&config.node_id, config.labels.clone()));
    let scheduler = Scheduler::new(
        store.clone(),
        registry.clone(),
        view.clone(),
        SchedulerConfig {
            misfire_threshold: config.misfire_threshold,
            ..SchedulerConfig::new(&config.node_id, config.labels.clone())
        },
    );
    // HTTP tasks' calls and jobs' wasi:http requests: under the host's
    // ceiling, egress.allowed_hosts.
    let task_egress = Arc::new(
        Egress::new(EgressConfig {
            allowed: config.egress.allowed_hosts.clone(),
            list_name: "egress.allowed_hosts",
            allow_private: config.egress.allow_private,
            private_switch: PRIVATE_SWITCH,
            ca_roots: config.egress.ca_roots.clone(),
        })
        .context("cannot set up outbound HTTP")?,
    );
    // Alerts go out under the same ceiling as tasks' calls; e-mail through
    // the host's SMTP server, if it names one.
    let alert_egress = task_egress.clone();
    let mailer = match &config.alerts.smtp_url {
        None => None,
        Some(url) => Some(
            Mailer::new(url, &config.alerts.email_from, config.alerts.timeout)
                .map_err(|e| anyhow::anyhow!(e))?,
        ),
    };
    let dispatcher = Dispatcher::new(
        store.clone(),
        runtime.clone(),
        registry.clone(),
        DispatchConfig {
            node_id: config.node_id.clone(),
            labels: config.labels.clone(),
            max_concurrent_runs: config.max_concurrent_runs,
            default_limits: config.limits,
            offer_window: OFFER_WINDOW,
            claim_ahead: FIRE_AHEAD,
            egress: task_egress,
            secrets: Secrets::new(
                store.clone(),
                config.secrets_key.clone(),
                &config.database_url,
            ),
            mounts: Arc::new(config.mounts.clone()),
            databases: JobDatabases::new(config.databases.clone()),
        },
    );

    let egress = Arc::new(
        Egress::new(EgressConfig {
            allowed: config.delays.allowed_hosts.clone(),
            list_name: "delays.allowed_hosts",
            allow_private: config.egress.allow_private,
            private_switch: PRIVATE_SWITCH,
            ca_roots: config.egress.ca_roots.clone(),
        })
        .context("cannot set up outbound HTTP")?,
    );
    // Wakes the delay loop: a delay was created here.
    let delays_wake = Arc::new(tokio::sync::Notify::new());

    let watcher = {
        let plugins = plugins.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            plugins.follow(folder_watch, shutdown).await;
        })
    };
    if let Some(api) = api {
        let address = api.local_addr()?;
        let state = ApiState {
            store: store.clone(),
            node_id: config.node_id.clone(),
            node_timeout: config.node_timeout,
            gauges: host_gauges(dispatcher.clone()),
            runtime: runtime.clone(),
            readiness: readiness(dispatcher.clone(), stopped.clone()),
            stopped: stopped.clone(),
            egress: egress.clone(),
            delays_wake: delays_wake.clone(),
            delay_writer: Default::default(),
            settled_hours: Default::default(),
        };
        api.start(state, stopped.clone())
            .context("cannot start the API's threads")?;
        tracing::info!("admin API listening on http://{address}/ (spec at /api/v1/openapi.json)");
    }
    tracing::info!(
        plugins = %config.plugins_dir.display(),
        modules = registry.names().len(),
        "carillon is serving"
    );

    // Wakes the dispatcher: runs were fired, rescued or offered to this host.
    let runnable = Arc::new(tokio::sync::Notify::new());
    // Wakes the scheduler: task rows changed.
    let tasks_changed = Arc::new(tokio::sync::Notify::new());
    // Wakes the module sync: modules were pushed or removed elsewhere.
    let modules_changed = Arc::new(tokio::sync::Notify::new());
    // Wakes the follow-up loop: another host wrote the outbox.
    let outbox_written = Arc::new(tokio::sync::Notify::new());
    let mut loops = tokio::task::JoinSet::new();
    loops.spawn(schedule_loop(
        scheduler,
        dispatcher.clone(),
        store.clone(),
        config.clone(),
        runnable.clone(),
        tasks_changed.clone(),
        stopped.clone(),
    ));
    loops.spawn(dispatch_loop(
        dispatcher.clone(),
        config.poll_interval,
        runnable.clone(),
        stopped.clone(),
    ));
    loops.spawn(liveness::run(
        store.clone(),
        view,
        liveness::LivenessConfig {
            node_id: config.node_id.clone(),
            labels: config.labels.clone(),
            capacity: config.max_concurrent_runs as i64,
            heartbeat_interval: config.heartbeat_interval,
            node_timeout: config.node_timeout,
            poll_interval: config.poll_interval,
        },
        Arc::new(dispatcher.clone()),
        runnable.clone(),
        stopped.clone(),
    ));
    loops.spawn(housekeeping_loop(
        plugins.clone(),
        dispatcher.clone(),
        config.clone(),
        modules_changed.clone(),
        stopped.clone(),
    ));
    let fenced = {
        let dispatcher = dispatcher.clone();
        Arc::new(move || dispatcher.is_raised())
    };
    loops.spawn(
        Deliverer {
            store: store.clone(),
            egress,
            node_id: config.node_id.clone(),
            timeout: config.delays.timeout,
            retry_backoff: config.delays.retry_backoff,
            poll_interval: config.poll_interval,
            node_timeout: config.node_timeout,
            shutdown_grace: config.shutdown_grace,
            wake: delays_wake,
            fenced,
        }
        .run(stopped.clone()),
    );
    let alerts_raised = Arc::new(tokio::sync::Notify::new());
    loops.spawn(
        FollowUps {
            store: store.clone(),
            poll_interval: config.poll_interval,
            wake: outbox_written.clone(),
            runnable: runnable.clone(),
            alerts: alerts_raised.clone(),
        }
        .run(stopped.clone()),
    );
    loops.spawn(
        Alerts {
            store: store.clone(),
            egress: alert_egress,
            mailer,
            secrets: Secrets::new(
                store.clone(),
                config.secrets_key.clone(),
                &config.database_url,
            ),
            node_id: config.node_id.clone(),
            console_url: alert_links(&config),
            timeout: config.alerts.timeout,
            poll_interval: config.poll_interval,
            wake: alerts_raised,
        }
        .run(stopped.clone()),
    );
    if store.backend() == Backend::Postgres {
        loops.spawn(notify::listen(
            store.clone(),
            notify::Wakers {
                node_id: config.node_id.clone(),
                tasks: tasks_changed,
                runs: runnable,
                modules: modules_changed,
                outbox: outbox_written,
            },
            stopped.clone(),
        ));
        let store = store.clone();
        let stopped = stopped.clone();
        tokio::spawn(async move { store.keep_vacuumed(stopped).await });
    }
    tokio::spawn(retention::purge_loop(
        store.clone(),
        config.retention,
        stopped.clone(),
    ));
    let failure = supervise(&mut loops, stopped.clone(), &halt).await;
    while loops.join_next().await.is_some() {}

    dispatcher.shutdown(config.shutdown_grace).await;
    let _ = watcher.await;
    store.close().await;
    tracing::info!("carillon stopped");
    match failure {
        None => Ok(()),
        Some(why) => {
            anyhow::bail!("a loop of the host stopped unexpectedly ({why}); restart the host")
        }
    }
}

/// Why the host is not ready, for `/readyz`: stopping, or fenced.
fn readiness(dispatcher: Dispatcher, stopped: watch::Receiver<bool>) -> Readiness {
    Arc::new(move || {
        if *stopped.borrow() {
            Some("the host is stopping".to_owned())
        } else if dispatcher.is_raised() {
            Some("fenced: the host lost the database and runs nothing until it is back".to_owned())
        } else {
            None
        }
    })
}

/// This host's gauges for `/metrics`: runs executing, free capacity, the
/// recorder's queue.
fn host_gauges(dispatcher: Dispatcher) -> HostGauges {
    Arc::new(move || {
        let (executing, max) = dispatcher.executing();
        vec![
            Gauge {
                name: "carillon_runs_executing",
                help: "Runs executing on this host now.",
                value: executing as f64,
            },
            Gauge {
                name: "carillon_free_capacity",
                help: "Runs this host could start at once (node.max_concurrent_runs minus those executing).",
                value: max.saturating_sub(executing) as f64,
            },
            Gauge {
                name: "carillon_recorder_queue_bytes",
                help: "Bytes of log lines waiting to be written to the database.",
                value: dispatcher.queued_record_bytes() as f64,
            },
        ]
    })
}

/// Waits until the host is asked to stop or one of its loops ends first (a
/// panic, or a return it should not make); then stops the rest through
/// `halt` and returns why.
async fn supervise(
    loops: &mut tokio::task::JoinSet<()>,
    mut stopped: watch::Receiver<bool>,
    halt: &watch::Sender<bool>,
) -> Option<String> {
    let stopping = stopped.clone();
    tokio::select! {
        biased;
        _ = stopped.wait_for(|stop| *stop) => None,
        Some(ended) = loops.join_next() => {
            let why = match ended {
                // A loop ending because the host is stopping is no failure.
                Ok(()) if *stopping.borrow() => None,
                Ok(()) => Some("it returned".to_owned()),
                Err(error) => Some(error.to_string()),
            };
            if let Some(why) = &why {
                tracing::error!("a loop of this host stopped unexpectedly ({why}): shutting down");
                let _ = halt.send(true);
            }
            why
        }
    }
}

/// Materialises due fires, then sleeps until the next task is due, a change
/// notification arrives, or one poll interval passed (so rows changed with
/// plain SQL are seen in time without notifications).
async fn schedule_loop(
    scheduler: Scheduler,
    dispatcher: Dispatcher,
    store: Store,
    config: Config,
    fired: Arc<tokio::sync::Notify>,
    tasks_changed: Arc<tokio::sync::Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut failures = Repeats::new("a scheduling pass");
    while !*stopped.borrow() {
        let reservation = dispatcher.reserve();
        let now = now_ms();
        let horizon = now + FIRE_AHEAD.as_millis() as i64;
        match scheduler.tick(now, horizon, reservation.len()).await {
            Ok(report) => {
                failures.succeeded();
                metrics::global().fired(report.runs, report.missed);
                let claimed = report.claimed.len();
                dispatcher.start_claimed(report.claimed, reservation);
                if report.runs > claimed {
                    fired.notify_one();
                }
                for id in &report.cancelled {
                    dispatcher.cancel(*id, CancelReason::Replaced);
                }
            }
            Err(error) => {
                metrics::global().database_error("scheduling");
                failures.failed(&error);
            }
        }
        let wake = next_wake(&store, &config).await;
        tokio::select! {
            () = tokio::time::sleep(wake) => {}
            () = tasks_changed.notified() => {}
            _ = stopped.changed() => {}
        }
    }
}

/// Claims runs whenever there is a free permit and something to run: woken by
/// new or rescued runs (of this host, or offered to it by another), by
/// permits freeing up, or at the poll interval (retries whose backoff ended,
/// runs whose offer window passed, missed notifications).
async fn dispatch_loop(
    dispatcher: Dispatcher,
    poll: Duration,
    fired: Arc<tokio::sync::Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut polled = true;
    let mut failures = Repeats::new("claiming runs");
    while !*stopped.borrow() {
        match dispatcher.claim_and_start(polled).await {
            Ok(_) => failures.succeeded(),
            Err(error) => {
                metrics::global().database_error("claiming");
                failures.failed(&error);
            }
        }
        polled = tokio::select! {
            () = fired.notified() => false,
            () = dispatcher.permits_freed() => false,
            () = tokio::time::sleep(poll) => true,
            _ = stopped.changed() => false,
        };
    }
}

/// Every poll interval: relay cancel requests; every heartbeat interval, or
/// at once when notified: load modules pushed to the database meanwhile.
async fn housekeeping_loop(
    plugins: Plugins,
    dispatcher: Dispatcher,
    config: Config,
    modules_changed: Arc<tokio::sync::Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut last_sync = now_ms();
    let mut sync_now = false;
    let mut cancel_failures = Repeats::new("reading cancel requests");
    let mut sync_failures = Repeats::new("the module sync");
    while !*stopped.borrow() {
        match dispatcher.relay_cancel_requests().await {
            Ok(()) => cancel_failures.succeeded(),
            Err(error) => {
                metrics::global().database_error("relaying cancels");
                cancel_failures.failed(&error);
            }
        }
        let now = now_ms();
        if sync_now || now - last_sync >= config.heartbeat_interval.as_millis() as i64 {
            last_sync = now;
            match plugins.sync_from_store().await {
                Ok(()) => sync_failures.succeeded(),
                Err(error) => {
                    metrics::global().database_error("syncing modules");
                    sync_failures.failed(&error);
                }
            }
        }
        sync_now = tokio::select! {
            () = tokio::time::sleep(config.poll_interval) => false,
            () = modules_changed.notified() => true,
            _ = stopped.changed() => false,
        };
    }
}

/// Ticks come at most this often: tasks due within the same 5 ms are fired
/// in one transaction instead of one each.
const MIN_TICK: Duration = Duration::from_millis(5);

/// Sleep until the next task is due for firing: [`FIRE_AHEAD`] before its
/// slot, or at its slot for a task still unfired within the horizon (its
/// concurrency policy is decided at the slot). At most one poll interval,
/// at least [`MIN_TICK`].
async fn next_wake(store: &Store, config: &Config) -> Duration {
    let poll = config.poll_interval;
    let ahead = FIRE_AHEAD.as_millis() as i64;
    let now = now_ms();
    let until = match store.next_fire_after(now).await {
        Ok(Some(at)) if at <= now + ahead => Duration::from_millis((at - now) as u64),
        Ok(Some(at)) => Duration::from_millis((at - ahead - now) as u64),
        _ => poll,
    };
    until.clamp(MIN_TICK, poll.max(MIN_TICK))
}

/// Where alerts link to: `alerts.console_url`, else the API's address when
/// a reader elsewhere could use it (not `0.0.0.0` or `[::]`, which name
/// every address and so none); else no link, and a hint.
fn alert_links(config: &Config) -> Option<String> {
    if let Some(url) = &config.alerts.console_url {
        return Some(url.clone());
    }
    let address = config.api_listen?;
    if address.ip().is_unspecified() {
        tracing::warn!(
            "alerts carry no console link: the API listens on {address}, which is no address a \
             reader can open; set alerts.console_url (e.g. https://carillon.example.com)"
        );
        return None;
    }
    Some(format!("http://{address}"))
}
