//! Write Carillon jobs in plain Rust (Carillon is the job host in this
//! repository: see its `README.md`).
//!
//! A job is a function from the run's [`Context`] to an [`Outcome`] or a
//! [`JobError`]. One line, [`export_job!`], turns it into the `run` export of the
//! `carillon:job@0.3.0` world; build the crate as a `cdylib` for `wasm32-wasip2`
//! and the `.wasm` it produces is a job component any Carillon host can run.
//!
//! ```no_run
//! use carillon_guest::{export_job, info, task_state, Context, JobError, Outcome};
//!
//! fn run(ctx: &Context) -> Result<Outcome, JobError> {
//!     // Typed params: "param `batch`: expected u32, got `abc`" on bad input.
//!     let batch: u32 = ctx.param_or("batch", 100)?;
//!     let shard = ctx.shard();
//!     info!(shard = shard.index, total = shard.total; "starting a batch of {batch}");
//!
//!     // Resume where an earlier attempt of this shard run got to.
//!     let mut done: u64 = ctx
//!         .checkpoint()
//!         .and_then(|bytes| std::str::from_utf8(bytes).ok()?.parse().ok())
//!         .unwrap_or(0);
//!     while done < u64::from(batch) {
//!         if carillon_guest::cancelled() {
//!             return Err(JobError::retryable("cancelled; resume from checkpoint"));
//!         }
//!         done += 1;
//!         carillon_guest::save_checkpoint(done.to_string().as_bytes())?;
//!     }
//!
//!     // Per-task state survives between runs.
//!     let runs = task_state::get_string("runs")?.and_then(|s| s.parse().ok()).unwrap_or(0u64);
//!     task_state::set("runs", (runs + 1).to_string())?;
//!
//!     Ok(Outcome::items(done).with_summary(format!("batch of {batch} done")))
//! }
//!
//! export_job!(run);
//! ```
//!
//! `Cargo.toml` of a job crate (the SDK is not published to crates.io; depend
//! on it by path, or by git, from a checkout of the repository):
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! carillon-guest = { path = "../carillon/guest-sdk" }
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the job is
//! `target/wasm32-wasip2/release/<crate_name>.wasm`. Try it with
//! `carillon run that.wasm --param batch=10`.
//!
//! ## What a job may do
//!
//! Jobs run sandboxed: no files, no environment variables, no network, no
//! arguments, stdin closed, unless granted. Outbound HTTP is granted per task (its
//! `allowed_hosts`) and made with `http` (feature `http`); the secrets
//! it is granted (its `secrets`) are read with `secret` (feature `secrets`);
//! the databases it is granted (its `databases`) are queried with [`sql`];
//! the folders it is granted (its `mounts`) are at `/NAME`, for `std::fs`.
//! What a job has is
//! its context (params, shard, page, checkpoint), its log, its checkpoints,
//! its task's state, the outputs it hands on ([`set_output`]) and the
//! cancel flag. Anything printed to stdout/stderr
//! lands in the run's log.
//! Memory, wall-clock time and log volume are capped per run; a job that
//! exceeds a cap, panics or traps fails that run and nothing else.

#![deny(missing_docs)]

#[doc(hidden)]
pub mod bindings;
#[cfg(feature = "secrets")]
mod config;
mod context;
mod error;
mod host;
#[cfg(feature = "http")]
pub mod http;
pub mod log;
mod outcome;
pub mod sql;

#[cfg(feature = "secrets")]
pub use config::{config, secret};
pub use context::{Context, Page, Shard};
pub use error::{HostError, JobError, ParamError};
pub use host::{cancelled, save_checkpoint, set_output, task_state};
pub use outcome::Outcome;

/// Export a job function as the component's `run`.
///
/// The function must have the signature
/// `fn(&Context) -> Result<Outcome, JobError>`. Use the macro once per crate, at
/// module level.
#[macro_export]
macro_rules! export_job {
    ($run:path) => {
        #[doc(hidden)]
        struct __CarillonJob;

        impl $crate::__private::Guest for __CarillonJob {
            fn run(
                ctx: $crate::__private::WitContext,
            ) -> ::std::result::Result<$crate::__private::WitOutcome, $crate::__private::WitJobError>
            {
                $crate::__private::call_job($run, ctx)
            }
        }

        $crate::bindings::__export_job_world!(__CarillonJob with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::Guest;
    use crate::bindings::carillon::job::types as wit;
    pub use wit::{Context as WitContext, JobError as WitJobError, Outcome as WitOutcome};

    use crate::{Context, JobError, Outcome};

    /// Adapts a user job function to the generated `Guest::run` signature.
    pub fn call_job(
        run: fn(&Context) -> Result<Outcome, JobError>,
        ctx: WitContext,
    ) -> Result<WitOutcome, WitJobError> {
        let ctx = Context::from_wit(ctx);
        run(&ctx).map(Outcome::into_wit).map_err(JobError::into_wit)
    }
}
