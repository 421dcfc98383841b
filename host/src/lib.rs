//! Carillon: a job host that schedules and runs job plugins compiled to
//! WebAssembly components.
//!
//! A fire flows one way: the [`scheduler`] reads the task table and writes
//! run rows through the [`store`]; the [`dispatch`]er claims them, runs each
//! in the [`runtime`]'s sandbox and records the outcome through the store.
//! The modules are layered so that imports follow that flow and never come
//! back up (a test, `layering`, keeps it so). Top to bottom:
//!
//! - [`cli`], [`serve`], [`api`], [`console`], [`config`]: the edges. The `carillon`
//!   command line; wiring a serving host and owning its loops; the admin
//!   HTTP API it serves and the web console on it; `carillon.toml`, `CARILLON_*` and flags from one
//!   table of keys.
//! - [`scheduler`], [`dispatch`], [`retention`], [`delays`], [`followups`], [`alerts`]:
//!   turning due tasks into runs; claiming, running and recording them;
//!   purging old run history; calling the callbacks of due delay tasks;
//!   following up what ended (the tasks a finished fire chains to, the
//!   next steps of a workflow run, alerts); looking for alerts and sending
//!   them ([`alerts`]).
//! - [`plugins`], [`cluster`], [`secrets`]: job modules (plugins folder,
//!   manifests, the registry of loaded components); the other hosts (live
//!   set, run offers, heartbeat, rescue, the fence signal, change
//!   notifications); secrets sealed at rest and read by granted runs.
//! - [`store`], [`runtime`], [`egress`], [`metrics`]: the boundaries, the
//!   only SQL, the only wasmtime and the only outbound HTTP (allow-lists,
//!   internal addresses refused on the resolved address); and the process's
//!   counters for `/metrics`.
//! - [`vocab`]: the shared vocabulary (task rows and their checked
//!   definition, run states, cancel reasons, task errors). Pure.
//! - [`schedule`]: when tasks fire (Quartz cron, intervals, one-shots,
//!   misfires). Pure: no I/O, no clock.
//! - [`units`], [`labels`], [`digest`], [`clock`], [`panics`], [`repeats`]:
//!   small leaf words (durations and byte sizes as people write them, node
//!   labels and selectors, content digests, the one source of "now",
//!   confining a panic to the task or run it happened in, logging a failure
//!   that repeats without burying the log).

pub mod alerts;
pub mod api;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod console;
pub mod delays;
pub mod digest;
pub mod dispatch;
pub mod egress;
pub mod followups;
pub mod labels;
pub mod metrics;
pub mod panics;
pub mod plugins;
pub mod repeats;
pub mod retention;
pub mod runtime;
pub mod schedule;
pub mod scheduler;
pub mod secrets;
pub mod serve;
pub mod store;
pub mod units;
pub mod vocab;

#[cfg(test)]
mod layering;
