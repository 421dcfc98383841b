//! End-to-end tests: the real `carillon` binary and the real runtime against real
//! `.wasm` components built from `example-jobs/` (and two fixtures under
//! `tests/fixtures/`). Everything compiles into this one test binary.

// Test helpers are `pub` for the test modules; nothing outside uses them.
#![allow(unreachable_pub)]

mod callbacks;
#[allow(dead_code)] // round trips are counted by the benchmarks only
#[path = "../support/db_proxy.rs"]
mod db_proxy;
#[path = "../support/examples.rs"]
mod examples;
mod host;
mod http;
mod invariants;
mod pg;
mod support;

mod api;
mod chaos_cluster;
mod chaos_flood;
mod chaos_full_disk;
mod cli_db;
mod cli_run;
mod console;
mod delays;
mod guest_languages;
mod quartz_oracle;
mod runtime_cache;
mod runtime_contract;
mod runtime_faults;
mod serve_alerts;
mod serve_bad_rows;
mod serve_calendars;
mod serve_chains;
mod serve_cluster;
mod serve_config;
mod serve_http_tasks;
mod serve_job_http;
mod serve_mounts;
mod serve_plugins;
mod serve_postgres;
mod serve_recovery;
mod serve_secrets;
mod serve_sql;
mod serve_tasks;
mod serve_workflows;
mod store_retention;
