//! Why a job could not be loaded, and why a run was stopped.

use std::time::Duration;

use crate::units::ByteSize;
use crate::vocab::RunState;

/// Why bytes offered as a job could not become a runnable job component.
///
/// Every variant is permanent for the given bytes: load a different file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not WebAssembly at all.
    #[error(
        "not a WebAssembly file (it does not start with the `\\0asm` magic); build the job with `cargo build --target wasm32-wasip2`"
    )]
    NotWasm,
    /// A core module, not a component.
    #[error(
        "a core WebAssembly module, not a component; build the job for `wasm32-wasip2` (not wasm32-unknown-unknown or wasm32-wasip1)"
    )]
    CoreModule,
    /// The bytes look like wasm but do not validate or compile.
    #[error("invalid WebAssembly component: {0}")]
    Invalid(String),
    /// Built against an incompatible version of the contract.
    #[error(
        "built for carillon:job@{found}, but this host runs carillon:job@{supported}; rebuild the job against carillon-guest {supported} or upgrade the host"
    )]
    ContractVersion {
        /// The version the component imports.
        found: String,
        /// The version this host implements.
        supported: &'static str,
    },
    /// A component of another world: it does not export `run`.
    #[error(
        "not a Carillon job: the component does not export `run` of world carillon:job/job (its exports: {exports}); write the job with carillon-guest's `export_job!`"
    )]
    NotAJob {
        /// What the component does export, comma-separated.
        exports: String,
    },
    /// The job imports something this host does not provide.
    #[error("the job needs imports this host does not provide: {0}")]
    UnsatisfiedImports(String),
    /// The job's `run` export has another signature than the contract's.
    #[error("the job's `run` export does not match carillon:job@{supported}: {detail}")]
    WrongSignature {
        /// What the type check said.
        detail: String,
        /// The version this host implements.
        supported: &'static str,
    },
}

/// How a run was stopped by the host or by the guest's own fault, as opposed to a
/// `job-error` the job returned. Each renders as a one-line reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunFault {
    /// Still running at its deadline.
    #[error("timed out after {}", humanize(*.0))]
    TimedOut(Duration),
    /// Cancelled and did not return within the grace period.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// Tried to grow its memory past the run's cap.
    #[error("exceeded its memory cap of {cap} (tried to grow to {wanted})")]
    MemoryCap {
        /// The cap.
        cap: ByteSize,
        /// The size the guest asked for.
        wanted: ByteSize,
    },
    /// Logged (or printed) more than the run's log cap.
    #[error("flooded the log: exceeded the cap of {0} of log output per run")]
    LogFlood(ByteSize),
    /// Recursed past the wasm stack limit.
    #[error("overflowed its stack")]
    StackOverflow,
    /// A Rust guest panicked.
    #[error("panicked: {0}")]
    Panicked(String),
    /// Any other trap.
    #[error("trapped: {0}")]
    Trapped(String),
    /// The instance could not be created (e.g. the instance pool is exhausted).
    #[error("could not start: {0}")]
    Instantiation(String),
    /// The job called WASI's `exit` (e.g. `std::process::exit`) instead of
    /// returning from `run`. WASI p2 carries only success (0) or failure (1),
    /// whatever code the job passed.
    #[error("exited with status {0} instead of returning from `run`")]
    Exited(i32),
    /// The host could not do what the job asked (its database failed): not
    /// the job's failure. Retried without spending an attempt.
    #[error("the host failed it: {0}")]
    Host(String),
    /// The host hit a bug (a panic) while handling the run.
    #[error("the host hit a bug handling it: {0}")]
    HostBug(String),
}

impl RunFault {
    /// The final state a run ends in because of this fault.
    pub fn state(&self) -> RunState {
        match self {
            RunFault::TimedOut(_) => RunState::TimedOut,
            RunFault::Cancelled(_) => RunState::Cancelled,
            _ => RunState::Failed,
        }
    }
}

fn humanize(duration: Duration) -> String {
    crate::units::format_duration(duration)
}
