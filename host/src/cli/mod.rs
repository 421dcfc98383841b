//! The `carillon` command line: parses arguments and hands each subcommand to
//! its module. Exit codes: 0 success, 1 a job reported failure, 2 bad input or a
//! contained fault.

mod output;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Carillon: schedules and runs job plugins compiled to WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "carillon", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a job component once, print its log and its outcome.
    Run(run::RunArgs),
}

/// Exit code for bad input or a contained fault.
pub(crate) const EXIT_BAD_INPUT: u8 = 2;

/// Entry point of the `carillon` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("carillon: {error:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// Where compiled components are cached unless told otherwise:
/// `$CARILLON_CACHE_DIR`, else `$XDG_CACHE_HOME/carillon`, else `~/.cache/carillon`.
pub(crate) fn default_cache_dir() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("carillon"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|home| PathBuf::from(home).join(".cache").join("carillon"))
}
