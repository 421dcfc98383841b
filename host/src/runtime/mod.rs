//! The sandboxed runtime: runs one job component once, safely and fast.
//!
//! It owns wasmtime: the process's one [`Engine`] (pooling allocator, epoch
//! interruption), the [`Linker`] with WASI p2 (nothing granted), `wasi:http`
//! (each request decided by the run's [`io::HttpSender`]), `wasi:config`
//! (params, and secrets from [`io::SecretSource`]), the folders a run is
//! granted ([`Mount`]) and the contract's
//! imports, compiled components (cached on disk by content digest),
//! and the per-run [`Store`](wasmtime::Store) with its memory cap, timeout and
//! cancellation. It runs no SQL itself (a job's goes to [`io::SqlSource`])
//! and knows nothing of schedules or tasks beyond the
//! [`RunContext`] it is handed; logs, checkpoints and task state go through the
//! narrow traits in [`io`].
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use carillon::runtime::{CancelToken, RunContext, RunLimits, RunRequest, Runtime, RuntimeConfig};
//!
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let job = runtime.load(&std::fs::read("hello.wasm")?)?;
//! let (io, log, _checkpoints) = carillon::runtime::io::memory::run_io();
//! let report = runtime
//!     .run(&job, RunRequest {
//!         context: RunContext::new("hello", 1),
//!         limits: RunLimits::default(),
//!         io,
//!         cancel: CancelToken::new(),
//!         mounts: Vec::new(),
//!     })
//!     .await;
//! println!("{:?}: {:?}", report.outcome, log.lines_of(1));
//! # Ok(()) }
//! ```

mod bindings;
mod cancel;
mod capture;
mod compile_cache;
mod config;
mod engine;
mod error;
mod hand_off;
mod host_imports;
mod http;
pub mod io;
mod job_threads;
mod loader;
mod mounts;
mod run;
mod run_log;
mod sql;
mod store_data;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

pub use cancel::CancelToken;
pub use compile_cache::CacheOutcome;
pub use config::SECRET_PREFIX;
pub use error::{LoadError, RunFault};
pub use http::HttpStats;
pub use loader::JobComponent;
pub use mounts::Mount;
pub use run::{PageSpec, RunContext, RunLimits, RunOutcome, RunReport, RunRequest};
pub use sql::SqlStats;

use crate::digest::Digest;
use crate::units::ByteSize;
use compile_cache::CompileCache;
use engine::EpochTicker;
use job_threads::JobThreads;
use store_data::RunData;

/// The contract version this host implements (`package carillon:job@…` in
/// `wit/job.wit`).
pub const CONTRACT_VERSION: &str = "0.3.0";

/// Earlier contract versions this host still serves (`wit/compat/`).
pub const EARLIER_CONTRACTS: &[&str] = &["0.2.0", "0.1.0"];

/// How the runtime is sized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Runs that may be in flight at once (sizes the instance pool).
    pub max_concurrent_runs: u32,
    /// The largest memory cap any run may be given.
    pub max_memory: ByteSize,
    /// Wasm stack limit per run (deep recursion traps as a stack overflow).
    pub max_wasm_stack: usize,
    /// Where compiled components are cached; `None` compiles every load.
    pub cache_dir: Option<PathBuf>,
    /// Epoch tick: how often a busy job yields to the others.
    pub epoch_tick: Duration,
    /// Threads that run jobs (0: one per core). Jobs run on threads of
    /// their own, so jobs that keep the CPU busy never starve the host's
    /// scheduling, claiming and recording.
    pub job_threads: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            max_concurrent_runs: 64,
            max_memory: ByteSize(1 << 30),
            max_wasm_stack: 512 * 1024,
            cache_dir: None,
            epoch_tick: Duration::from_millis(1),
            job_threads: 0,
        }
    }
}

/// How many refusals are remembered (a bound, not a goal: each is a line).
const REFUSALS_KEPT: usize = 1024;

/// The engine could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("could not start the WebAssembly runtime: {0}")]
pub struct RuntimeError(String);

/// Loads job components and runs them. One per process; share it by reference.
pub struct Runtime {
    engine: Engine,
    max_memory: ByteSize,
    linker: Linker<RunData>,
    cache: Option<CompileCache>,
    /// Why components were refused, by digest: a refusal is permanent for
    /// the bytes, and deciding it again can mean compiling for seconds.
    refused: Mutex<HashMap<Digest, LoadError>>,
    /// The threads jobs run on (`None` only while dropping).
    jobs: Option<JobThreads>,
    _ticker: EpochTicker,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Dropped from async code at the end of `serve`: stop the job
        // threads without waiting for them.
        drop(self.jobs.take());
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine, the linker and the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let wasm_error = |e: wasmtime::Error| RuntimeError(loader::error_text(&e));
        let engine = engine::build_engine(&config).map_err(wasm_error)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wasm_error)?;
        // Always linked, so a component that merely imports wasi:http (every
        // StarlingMonkey JS job does) loads; what a request may reach is
        // decided per run when it is sent.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(wasm_error)?;
        bindings::Job::add_to_linker::<RunData, HasSelf<RunData>>(&mut linker, |state| state)
            .map_err(wasm_error)?;
        // Jobs built for 0.1.0 and 0.2.0 import their interfaces by their
        // own names.
        bindings::v0_2::Job::add_to_linker::<RunData, HasSelf<RunData>>(&mut linker, |state| state)
            .map_err(wasm_error)?;
        bindings::v0_1::Job::add_to_linker::<RunData, HasSelf<RunData>>(&mut linker, |state| state)
            .map_err(wasm_error)?;
        config::ConfigImports::add_to_linker::<RunData, HasSelf<RunData>>(&mut linker, |state| {
            state
        })
        .map_err(wasm_error)?;
        let cache = config.cache_dir.map(|dir| CompileCache::new(dir, &engine));
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick)
            .map_err(|e| RuntimeError(format!("epoch ticker thread: {e}")))?;
        let threads = match config.job_threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let jobs =
            JobThreads::start(threads).map_err(|e| RuntimeError(format!("job threads: {e}")))?;
        Ok(Self {
            engine,
            max_memory: config.max_memory,
            linker,
            cache,
            refused: Mutex::default(),
            jobs: Some(jobs),
            _ticker: ticker,
        })
    }

    /// Validates, compiles (or loads from the cache) and pre-instantiates a job
    /// component. CPU-heavy on a cache miss: call it off the hot path.
    /// A component refused before is refused again at once, with the same
    /// error.
    pub fn load(&self, bytes: &[u8]) -> Result<JobComponent, LoadError> {
        let digest = Digest::of(bytes);
        let refused = || self.refused.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(refusal) = refused().get(&digest) {
            return Err(refusal.clone());
        }
        let loaded = loader::load(
            &self.engine,
            &self.linker,
            self.cache.as_ref(),
            digest,
            bytes,
        );
        if let Err(refusal) = &loaded {
            let mut refused = refused();
            if refused.len() >= REFUSALS_KEPT {
                refused.clear();
            }
            refused.insert(digest, refusal.clone());
        }
        loaded
    }

    /// The largest memory cap a run may be given (the pool's slot size).
    pub fn max_memory(&self) -> ByteSize {
        self.max_memory
    }

    /// Runs `job` once. Never panics and never fails: whatever the job does, the
    /// report says how the run ended.
    pub async fn run(&self, job: &JobComponent, request: RunRequest) -> RunReport {
        let Some(jobs) = &self.jobs else {
            return run::not_run(RunFault::Instantiation(
                "the runtime is shutting down".to_owned(),
            ));
        };
        let engine = self.engine.clone();
        let job = job.clone();
        let run = async move { run::execute(&engine, &job, request).await };
        // A run that finishes at once (most do) finishes here; one that has
        // to wait (a busy job yielding, a slow host call) goes on on the job
        // threads. A panic there (a bug) is this run's fault.
        hand_off::OnJobThreads::new(run, jobs.next().clone())
            .await
            .unwrap_or_else(|error| run::not_run(RunFault::HostBug(error)))
    }
}
