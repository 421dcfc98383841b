//! `carillon run FILE.wasm`: the job author's inner loop. Loads the component
//! through the same runtime the scheduler uses, runs it once with the given
//! context and limits against in-memory stores, prints the log and the outcome.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::json;

use crate::cli::output::say;
use crate::cli::{EXIT_BAD_INPUT, output, parse_param};
use crate::config::{default_cache_dir, mount_of};
use crate::dispatch::{HttpGrant, JobHttp, JobSql, SqlGrant};
use crate::egress::{Egress, EgressConfig};
use crate::runtime::io::HttpSender;
use crate::runtime::io::memory::MemorySecrets;
use crate::runtime::{
    CancelToken, Mount, PageSpec, RunContext, RunLimits, RunOutcome, RunRequest, Runtime,
    RuntimeConfig,
};
use crate::store::{JobDatabase, JobDatabases};
use crate::units::{ByteSize, parse_duration};
use crate::vocab::{AllowList, GrantKind, check_grant_name, check_secret_name};

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The job component (`.wasm`) to run.
    file: PathBuf,
    /// Shard to run as INDEX/TOTAL (0-based index), e.g. `1/4`.
    #[arg(long, value_name = "I/N", value_parser = parse_shard, default_value = "0/1")]
    shard: (u32, u32),
    /// The shard's parameter.
    #[arg(long, value_name = "P")]
    shard_param: Option<String>,
    /// Page to process as INDEX:SIZE, e.g. `3:100`.
    #[arg(long, value_name = "INDEX:SIZE", value_parser = parse_page)]
    page: Option<PageSpec>,
    /// A param as KEY=VALUE; repeat for more.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// Wall-clock limit, e.g. `500ms`, `5s`, `2m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    timeout: Duration,
    /// Time a job asked to stop has to return before it is stopped.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    grace: Duration,
    /// Memory cap, e.g. `64MiB`.
    #[arg(long, value_name = "SIZE", default_value = "64MiB")]
    memory: ByteSize,
    /// Cap on log output (lines, fields, stdout and stderr together).
    #[arg(long, value_name = "SIZE", default_value = "1MiB")]
    log_cap: ByteSize,
    /// Attempt number to report to the job (1 = first try).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    attempt: u32,
    /// Pretend an earlier attempt saved this checkpoint (UTF-8 text).
    #[arg(long, value_name = "TEXT")]
    checkpoint: Option<String>,
    /// Task name to report to the job (default: the file's stem).
    #[arg(long)]
    task: Option<String>,
    /// Print one JSON object (log lines, outcome) instead of text.
    #[arg(long)]
    json: bool,
    /// Directory for compiled components [env: CARILLON_CACHE_DIR; default: $XDG_CACHE_HOME/carillon, else ~/.cache/carillon, else .carillon-cache].
    #[arg(long, env = "CARILLON_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile without reading or writing the cache.
    #[arg(long)]
    no_cache: bool,
    /// A host the job may call over wasi:http, in the syntax of a task's
    /// allowed_hosts (`https://api.example.com`, `http://127.0.0.1:8080`);
    /// repeat for more. Nothing is reachable without one.
    #[arg(long = "allow-host", value_name = "URL")]
    allow_hosts: Vec<String>,
    /// Let allowed names reach internal addresses (localhost, 10.x, …);
    /// addresses written out in --allow-host are always reachable.
    #[arg(long)]
    allow_private: bool,
    /// A PEM file of extra CA certificates to trust for HTTPS.
    #[arg(long, value_name = "FILE")]
    ca_roots: Option<PathBuf>,
    /// A secret the job may read (`secret.NAME` in wasi:config): NAME=VALUE,
    /// or NAME alone to take the value from the environment variable NAME
    /// (a value on a command line is visible to other users); repeatable.
    #[arg(long = "secret", value_name = "NAME[=VALUE]")]
    secrets: Vec<String>,
    /// A folder the job sees, read-only, at /NAME: NAME=PATH; repeatable.
    #[arg(long = "mount", value_name = "NAME=PATH")]
    mounts: Vec<String>,
    /// A folder the job sees and may write, at /NAME: NAME=PATH; repeatable.
    #[arg(long = "mount-writable", value_name = "NAME=PATH")]
    writable_mounts: Vec<String>,
    /// A database the job may query with the `sql` import, as NAME:
    /// NAME=URL (`postgres://…` or `sqlite://…`); repeatable.
    #[arg(long = "sql", value_name = "NAME=URL")]
    databases: Vec<String>,
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read job file {}", args.file.display()))?;
    if args.shard.0 >= args.shard.1 {
        bail!(
            "--shard {}/{}: the index must be below the total",
            args.shard.0,
            args.shard.1
        );
    }
    let config = RuntimeConfig {
        max_concurrent_runs: 1,
        max_memory: args.memory.max(ByteSize::mib(1)),
        cache_dir: if args.no_cache {
            None
        } else {
            args.cache_dir.clone().or_else(|| Some(default_cache_dir()))
        },
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::new(config)?;
    let job = runtime
        .load(&bytes)
        .with_context(|| format!("cannot load {}", args.file.display()))?;

    let task = args.task.clone().unwrap_or_else(|| {
        args.file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "job".to_owned())
    });
    let mut context = RunContext::new(task, 1);
    context.attempt = args.attempt;
    (context.shard_index, context.shard_total) = args.shard;
    context.shard_parameter = args.shard_param.clone();
    context.page = args.page;
    context.params = args.params.clone();
    context.params.sort();
    context.checkpoint = args.checkpoint.clone().map(String::into_bytes);
    let limits = RunLimits {
        timeout: args.timeout,
        cancel_grace: args.grace,
        memory: args.memory,
        log: args.log_cap,
        ..RunLimits::default()
    };
    let (mut io, log, checkpoints) = crate::runtime::io::memory::run_io();
    io.http = Some(job_http(&args)?);
    io.secrets = Some(Arc::new(MemorySecrets::new(secrets_of(&args.secrets)?)));
    io.sql = Some(Arc::new(JobSql::new(
        JobDatabases::new(databases_of(&args.databases)?),
        SqlGrant::All,
    )));
    let request = RunRequest {
        context,
        limits,
        io,
        cancel: CancelToken::new(),
        mounts: mounts_of(&args)?,
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = tokio.block_on(runtime.run(&job, request));
    let lines = log.lines_of(1);
    let last_checkpoint = checkpoints.last(1);

    if args.json {
        let value = json!({
            "file": args.file.display().to_string(),
            "digest": job.digest().to_string(),
            "outcome": report.outcome,
            "reason": report.outcome.reason(),
            "duration_ms": report.duration.as_secs_f64() * 1000.0,
            "checkpoints_saved": report.checkpoints_saved,
            "http": report.http,
            "sql": report.sql,
            "outputs": report.outputs,
            "last_checkpoint": last_checkpoint.as_ref().map(|c| String::from_utf8_lossy(c).into_owned()),
            "logs": lines,
        });
        say!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        for line in &lines {
            say!("{}", output::log_line(line));
        }
        for (key, value) in &report.outputs {
            say!("output {key} = {value}");
        }
        say!("{}", outcome_line(&report.outcome, report.duration));
        if let Some(checkpoint) = &last_checkpoint {
            say!("last checkpoint: {}", String::from_utf8_lossy(checkpoint));
        }
    }
    Ok(match &report.outcome {
        RunOutcome::Succeeded { .. } => ExitCode::SUCCESS,
        RunOutcome::Failed { message, retryable } => {
            let retry = if *retryable {
                "retryable"
            } else {
                "not retryable"
            };
            eprintln!("carillon: job failed ({retry}): {message}");
            ExitCode::from(1)
        }
        RunOutcome::Fault { fault } => {
            eprintln!("carillon: run {}: job {fault}", fault.state());
            ExitCode::from(EXIT_BAD_INPUT)
        }
    })
}

/// The `--mount` and `--mount-writable` flags as mounts.
fn mounts_of(args: &RunArgs) -> anyhow::Result<Vec<Mount>> {
    let read_only = args.mounts.iter().map(|flag| ("--mount", flag, false));
    let writable = args
        .writable_mounts
        .iter()
        .map(|flag| ("--mount-writable", flag, true));
    read_only
        .chain(writable)
        .map(|(option, flag, writable)| {
            let Some((name, path)) = flag.split_once('=') else {
                bail!("{option} {flag}: write NAME=PATH (the job sees PATH at /NAME)");
            };
            check_grant_name(GrantKind::Mount, name)
                .map_err(|error| anyhow::anyhow!("{option}: {error}"))?;
            let mount = mount_of(name, path.as_ref(), writable)
                .map_err(|error| anyhow::anyhow!("{option}: {error}"))?;
            Ok(mount)
        })
        .collect()
}

/// The `--sql` flags as connections.
fn databases_of(flags: &[String]) -> anyhow::Result<BTreeMap<String, JobDatabase>> {
    flags
        .iter()
        .map(|flag| {
            let Some((name, url)) = flag.split_once('=') else {
                bail!("--sql {flag}: write NAME=URL, e.g. --sql shop=sqlite://shop.db");
            };
            check_grant_name(GrantKind::Database, name)
                .map_err(|error| anyhow::anyhow!("--sql: {error}"))?;
            let database = JobDatabase {
                name: name.to_owned(),
                url: url.to_owned(),
                max_rows: JobDatabase::DEFAULT_MAX_ROWS,
                max_connections: 1,
            };
            Ok((name.to_owned(), database))
        })
        .collect()
}

/// The `--secret` flags as names and values.
fn secrets_of(flags: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    flags
        .iter()
        .map(|flag| {
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name, value.to_owned()),
                None => (
                    flag.as_str(),
                    std::env::var(flag).map_err(|_| {
                        anyhow::anyhow!(
                            "--secret {flag}: the environment variable {flag} is not set; \
                             set it or write --secret {flag}=VALUE"
                        )
                    })?,
                ),
            };
            check_secret_name(name).map_err(|error| anyhow::anyhow!("--secret: {error}"))?;
            Ok((name.to_owned(), value))
        })
        .collect()
}

/// The job's HTTP grant: exactly the --allow-host entries, and no internal
/// address through a name unless --allow-private.
fn job_http(args: &RunArgs) -> anyhow::Result<Arc<dyn HttpSender>> {
    const FLAG: &str = "--allow-host";
    let allowed = AllowList::parse(&args.allow_hosts.join(","))
        .map_err(|error| anyhow::anyhow!("{FLAG}: {error}"))?;
    let egress = Egress::new(EgressConfig {
        allowed: allowed.clone(),
        list_name: FLAG,
        allow_private: args.allow_private,
        private_switch: "pass --allow-private",
        ca_roots: args.ca_roots.clone(),
    })
    .map_err(|error| {
        anyhow::anyhow!(
            "{}",
            error.to_string().replace("egress.ca_roots", "--ca-roots")
        )
    })?;
    Ok(Arc::new(JobHttp::new(
        Arc::new(egress),
        HttpGrant::Fixed(allowed, FLAG),
    )))
}

fn outcome_line(outcome: &RunOutcome, took: Duration) -> String {
    let took = format!("{:.1} ms", took.as_secs_f64() * 1000.0);
    match outcome {
        RunOutcome::Succeeded { summary, items } => {
            let summary = summary
                .as_deref()
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            let noun = if *items == 1 { "item" } else { "items" };
            format!("succeeded in {took}{summary} ({items} {noun})")
        }
        RunOutcome::Failed { message, retryable } => {
            let retry = if *retryable {
                "retryable"
            } else {
                "not retryable"
            };
            format!("failed in {took} ({retry}): {message}")
        }
        RunOutcome::Fault { fault } => format!("{} after {took}: {fault}", fault.state()),
    }
}

fn parse_shard(text: &str) -> Result<(u32, u32), String> {
    let error =
        || format!("`{text}` is not a shard; write INDEX/TOTAL with a 0-based index, e.g. `1/4`");
    let (index, total) = text.split_once('/').ok_or_else(error)?;
    let (index, total): (u32, u32) = (
        index.trim().parse().map_err(|_| error())?,
        total.trim().parse().map_err(|_| error())?,
    );
    if total == 0 || index >= total {
        return Err(error());
    }
    Ok((index, total))
}

fn parse_page(text: &str) -> Result<PageSpec, String> {
    let error = || format!("`{text}` is not a page; write INDEX:SIZE, e.g. `3:100`");
    let (index, size) = text.split_once(':').ok_or_else(error)?;
    let size: u32 = size.trim().parse().map_err(|_| error())?;
    if size == 0 {
        return Err(error());
    }
    Ok(PageSpec {
        index: index.trim().parse().map_err(|_| error())?,
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_page_and_param_flags_parse_or_say_how_to_write_them() {
        assert_eq!(parse_shard("1/4"), Ok((1, 4)));
        assert!(parse_shard("4/4").unwrap_err().contains("INDEX/TOTAL"));
        assert!(parse_shard("x").is_err());
        assert_eq!(
            parse_page("3:100"),
            Ok(PageSpec {
                index: 3,
                size: 100
            })
        );
        assert!(parse_page("3:0").unwrap_err().contains("INDEX:SIZE"));
        assert_eq!(parse_param("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_param("=x").unwrap_err().contains("KEY=VALUE"));
    }
}
