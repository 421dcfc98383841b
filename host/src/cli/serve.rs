//! `carillon serve`: resolves the configuration, sets up tracing and runs the
//! host until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat, Overrides};
use crate::units::parse_duration;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Config file [default: ./carillon.toml if present].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL (`sqlite://FILE` or `postgres://…`).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Plugins folder to watch.
    #[arg(long, value_name = "DIR")]
    plugins: Option<PathBuf>,
    /// This host's node id.
    #[arg(long)]
    node_id: Option<String>,
    /// This host's labels, `key=value,…`.
    #[arg(long)]
    labels: Option<String>,
    /// How often to poll the task table.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    poll_interval: Option<Duration>,
    /// How often this host heartbeats (cluster).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    heartbeat_interval: Option<Duration>,
    /// A host silent this long is dead and its runs are rescued (cluster).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    node_timeout: Option<Duration>,
    /// Runs in flight at once.
    #[arg(long)]
    max_concurrent_runs: Option<usize>,
    /// Tracing filter, e.g. `info` or `debug,sqlx=warn`.
    #[arg(long)]
    log_level: Option<String>,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        database_url: args.database,
        plugins_dir: args.plugins,
        node_id: args.node_id,
        labels: args.labels,
        poll_interval: args.poll_interval,
        heartbeat_interval: args.heartbeat_interval,
        node_timeout: args.node_timeout,
        max_concurrent_runs: args.max_concurrent_runs,
        log_level: args.log_level,
    };
    let config = Config::load(
        args.config.as_deref(),
        |name| std::env::var(name).ok(),
        &overrides,
    )?;
    init_tracing(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::serve::serve(config))
}

fn init_tracing(config: &Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log_level).map_err(|e| {
        anyhow::anyhow!(
            "log level `{}` is not a valid filter: {e}",
            config.log_level
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}
