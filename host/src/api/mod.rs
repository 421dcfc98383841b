//! The admin API: `carillon serve`'s HTTP face, JSON under `/api/v1`, its
//! OpenAPI spec at `/api/v1/openapi.json` (generated from the handlers
//! here), `/metrics` for Prometheus, and `/healthz` and `/readyz` for
//! supervisors. It calls the same
//! store functions and the same task check as the CLI, so SQL, the CLI and
//! the API accept and refuse a task alike.
//!
//! By file: `server` (binding, serving until the host stops), `auth` (who
//! is calling: bearer tokens, the loopback-only start before any token or
//! user exists, roles), `sessions` (console sign-in: passwords, the
//! session cookie, CSRF, the failed sign-in limit), `changes` (the audit log of what the API changed),
//! `error` (the one error shape), `body` (JSON bodies and
//! query strings, refused in that shape), `views` (the wire types), and
//! one file per resource: `tasks`, `runs`, `delays` (delay tasks, their
//! wire types with them; `delay_writer` commits concurrent creations
//! together), `tokens`, `users`, `stats` (the dashboard's runs per hour,
//! settled hours remembered), `calendars`, `alerts` (rules, channels,
//! keepers, alerts), `workflows` (definitions and
//! runs, their wire types with them), `system` (health, metrics, cron
//! previews, nodes, modules, audit).

mod alerts;
mod auth;
mod body;
mod calendars;
mod changes;
mod delay_writer;
mod delays;
mod error;
mod runs;
mod server;
mod sessions;
mod stats;
mod system;
mod tasks;
mod tokens;
mod users;
mod views;
mod workflows;

pub use auth::{TOKEN_PREFIX, new_token, token_hash};
pub use server::{
    ApiServer, ApiState, HostGauges, MAX_MODULE_BYTES, Readiness, SETUP_HINT, openapi_json,
};
pub(crate) use tokens::issue as issue_token;
pub(crate) use users::new_user;
