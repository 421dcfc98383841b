//! The `carillon` command line: parses arguments and hands each subcommand to
//! its module. Exit codes: 0 success, 1 a job reported failure, 2 bad input or a
//! contained fault.

mod alert;
mod calendar;
mod cron;
mod database;
mod delay;
mod logs;
mod module;
mod nodes;
mod output;
mod quiet;
mod run;
mod runs;
mod secret;
mod serve;
mod task;
mod token;
mod user;
mod workflow;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Carillon: schedules and runs job plugins compiled to WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "carillon", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a job component once, print its log and its outcome.
    Run(run::RunArgs),
    /// Work with schedules: `carillon cron next "0 15 10 ? * 6L" -n 3`.
    #[command(subcommand)]
    Cron(cron::CronCommand),
    /// Serve: fire the task table's tasks from the plugins folder.
    Serve(serve::ServeArgs),
    /// Manage tasks in the database.
    Task {
        #[command(flatten)]
        db: database::DbArgs,
        #[command(subcommand)]
        command: task::TaskCommand,
    },
    /// List runs, newest first.
    Runs {
        #[command(flatten)]
        db: database::DbArgs,
        #[command(flatten)]
        args: runs::RunsArgs,
    },
    /// Print a run's log.
    Logs {
        #[command(flatten)]
        db: database::DbArgs,
        /// The run's id (see `carillon runs`).
        run_id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage job modules in the database.
    Module {
        #[command(flatten)]
        db: database::DbArgs,
        #[command(subcommand)]
        command: module::ModuleCommand,
    },
    /// Manage the admin API's bearer tokens.
    Token {
        #[command(flatten)]
        db: database::DbArgs,
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// Manage the secrets jobs may be granted (values read from stdin).
    Secret {
        #[command(flatten)]
        db: database::DbArgs,
        #[command(subcommand)]
        command: secret::SecretCommand,
    },
    /// Manage the console's users (passwords read from stdin).
    User {
        #[command(flatten)]
        db: database::DbArgs,
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// Manage the calendars tasks skip times by (holidays, weekends, hours).
    Calendar {
        #[command(flatten)]
        db: database::DbArgs,
        #[command(subcommand)]
        command: calendar::CalendarCommand,
    },
    /// Alert rules, channels (webhook, Slack, Feishu, DingTalk, WeCom, e-mail), keepers, and the alerts raised.
    Alert {
        #[command(flatten)]
        db: database::DbArgs,
        #[command(subcommand)]
        command: alert::AlertCommand,
    },
    /// Define workflows (graphs of tasks), start and steer their runs.
    Workflow {
        #[command(flatten)]
        db: database::DbArgs,
        #[command(subcommand)]
        command: workflow::WorkflowCommand,
    },
    /// Add, list and cancel delay tasks (HTTP callbacks at a time).
    Delay {
        #[command(flatten)]
        db: database::DbArgs,
        #[command(subcommand)]
        command: delay::DelayCommand,
    },
    /// List the hosts sharing the database: labels, heartbeat age, runs.
    Nodes {
        #[command(flatten)]
        db: database::DbArgs,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
}

/// Exit code for bad input or a contained fault.
pub(crate) const EXIT_BAD_INPUT: u8 = 2;

/// Entry point of the `carillon` binary.
pub fn main() -> ExitCode {
    report_panics_briefly();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Cron(command) => block_on(cron::run(command)),
        Command::Serve(args) => serve::run(args).map(|()| ExitCode::SUCCESS),
        Command::Task { db, command } => block_on(task::task(&db, command)),
        Command::Runs { db, args } => block_on(runs::runs(&db, args)),
        Command::Logs { db, run_id, json } => block_on(logs::logs(&db, run_id, json)),
        Command::Module { db, command } => block_on(module::module(&db, command)),
        Command::Token { db, command } => block_on(token::token(&db, command)),
        Command::User { db, command } => block_on(user::user(&db, command)),
        Command::Secret { db, command } => block_on(secret::secret(&db, command)),
        Command::Calendar { db, command } => block_on(calendar::calendar(&db, command)),
        Command::Delay { db, command } => block_on(delay::delay(&db, command)),
        Command::Workflow { db, command } => block_on(workflow::workflow(&db, command)),
        Command::Alert { db, command } => block_on(alert::alert(&db, command)),
        Command::Nodes { db, json } => block_on(nodes::nodes(&db, json)),
    };
    match result {
        Ok(code) => code,
        // The reader went away (`carillon runs | head -3`): nothing to say.
        Err(error) if is_closed_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("carillon: {error:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// A panic (a bug) is reported in one line, to the host's log when it
/// serves, never as a backtrace to a user. The task or run it happened in is
/// failed by whoever catches it (`crate::panics`).
fn report_panics_briefly() {
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|at| format!(" at {}:{}", at.file(), at.line()))
            .unwrap_or_default();
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if tracing::dispatcher::has_been_set() {
            tracing::error!(
                "internal error{place}: {message}; this is a bug in Carillon, please report it"
            );
        } else {
            eprintln!(
                "carillon: internal error{place}: {message}; this is a bug in Carillon, please report it"
            );
        }
    }));
}

/// Whether `error` is a write to a pipe whose reader has gone.
fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Parses a `KEY=VALUE` param flag.
pub(crate) fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("`{text}` is not a param; write KEY=VALUE")),
    }
}

/// Runs a database command on a small async runtime.
fn block_on(
    command: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(command).map(|()| ExitCode::SUCCESS)
}
