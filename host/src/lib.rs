//! Carillon: a job host that schedules and runs job plugins compiled to
//! WebAssembly components.
//!
//! The crate is organised by the way a run flows (see `DESIGN.md`):
//!
//! - [`runtime`]: the sandbox. Loads a job component (validated against the
//!   `carillon:job` contract, compiled once per content digest, cached on disk)
//!   and runs it once with memory, time and log caps.
//! - [`schedule`]: when tasks fire (Quartz cron, intervals, one-shots, misfires);
//!   pure, no I/O.
//! - [`cli`]: the `carillon` command line.
//! - [`digest`], [`units`]: small shared vocabulary (content digests, durations
//!   and byte sizes as people write them).

pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod digest;
pub mod dispatch;
pub mod labels;
pub mod plugins;
pub mod runtime;
pub mod schedule;
pub mod scheduler;
pub mod serve;
pub mod store;
pub mod units;
