//! Helpers shared by the end-to-end tests: running the CLI, and running a job
//! through the library's runtime against in-memory stores.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use carillon::runtime::io::LogLine;
use carillon::runtime::io::memory::{MemoryCheckpoints, MemoryLog, MemoryState};
use carillon::runtime::{
    CancelToken, JobComponent, RunContext, RunLimits, RunReport, RunRequest, Runtime, RuntimeConfig,
};

use crate::examples;

/// What a CLI invocation did.
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `carillon ARGS…` with a private compile cache.
pub fn carillon(args: &[&str]) -> CliOutput {
    carillon_with_stdin(args, "")
}

/// Runs `carillon ARGS…` with `input` on its stdin.
pub fn carillon_with_stdin(args: &[&str], input: &str) -> CliOutput {
    use std::io::Write as _;
    use std::process::Stdio;
    static CACHE: OnceLock<tempfile::TempDir> = OnceLock::new();
    let cache = CACHE.get_or_init(|| tempfile::tempdir().expect("temp dir"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_carillon"))
        .args(args)
        .env("CARILLON_CACHE_DIR", cache.path())
        .env("CARILLON_API_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start the carillon binary");
    if let Some(mut stdin) = child.stdin.take() {
        // A command that never reads its stdin may exit first.
        let _ = stdin.write_all(input.as_bytes());
    }
    let output = child
        .wait_with_output()
        .expect("cannot wait for the carillon binary");
    CliOutput {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Path of an example job as a string, for CLI arguments.
pub fn wasm(name: &str) -> String {
    examples::path(name).display().to_string()
}

/// A scratch file with `bytes`, kept alive with its directory.
pub fn scratch_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write scratch file");
    (dir, path)
}

/// One runtime per test process, no compile cache.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("runtime"))
}

/// Loads an example job into the shared runtime.
pub fn load(name: &str) -> JobComponent {
    runtime()
        .load(&examples::bytes(name))
        .unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

/// Short limits so fault tests end quickly.
pub fn quick_limits() -> RunLimits {
    RunLimits {
        timeout: Duration::from_millis(500),
        cancel_grace: Duration::from_millis(200),
        ..RunLimits::default()
    }
}

/// The stores a test run wrote to.
pub struct Recorded {
    pub report: RunReport,
    pub log: Vec<LogLine>,
    pub checkpoints: Arc<MemoryCheckpoints>,
}

impl Recorded {
    /// All log messages, one per line, with their fields.
    pub fn log_text(&self) -> String {
        self.log
            .iter()
            .map(|line| {
                let fields: Vec<String> = line
                    .fields
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!("{} {}", line.message, fields.join(" "))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Shared stores for runs that must see each other's state.
#[derive(Clone, Default)]
pub struct Stores {
    pub log: Arc<MemoryLog>,
    pub checkpoints: Arc<MemoryCheckpoints>,
    pub state: Arc<MemoryState>,
}

impl Stores {
    pub fn request(&self, context: RunContext, limits: RunLimits) -> RunRequest {
        RunRequest {
            context,
            limits,
            io: carillon::runtime::io::RunIo {
                log: self.log.clone(),
                checkpoints: self.checkpoints.clone(),
                state: self.state.clone(),
                http: None,
                secrets: None,
                sql: None,
            },
            cancel: CancelToken::new(),
            mounts: Vec::new(),
        }
    }

    /// Runs `job` to the end on a fresh current-thread async runtime.
    pub fn run(&self, job: &JobComponent, context: RunContext, limits: RunLimits) -> Recorded {
        let run_id = context.run_id;
        let request = self.request(context, limits);
        let report = block_on(runtime().run(job, request));
        Recorded {
            report,
            log: self.log.lines_of(run_id),
            checkpoints: self.checkpoints.clone(),
        }
    }
}

/// Runs `name` once with `params` against fresh in-memory stores.
pub fn run_example(name: &str, params: &[(&str, &str)], limits: RunLimits) -> Recorded {
    let mut context = RunContext::new(name, 1);
    context.params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Stores::default().run(&load(name), context, limits)
}

pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}
