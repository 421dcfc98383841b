//! `carillon serve`: resolves the configuration, sets up tracing and runs the
//! host until SIGINT/SIGTERM.

use std::path::PathBuf;

use clap::Args;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, ConfigFlags, LogFormat};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Config file [default: ./carillon.toml if present].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Every setting of the configuration, as a flag.
    #[command(flatten)]
    flags: ConfigFlags,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(
        args.config.as_deref(),
        |name| std::env::var(name).ok(),
        &args.flags,
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
