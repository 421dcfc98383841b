//! The words every part of the host shares, at the bottom of the module graph
//! so that anyone may use them without importing sideways (River's
//! `rivertype` is the model): a task as its row says it ([`TaskSpec`],
//! [`TaskRow`]) and as the host checked it ([`TaskDefinition`]), why a task
//! does not fire ([`TaskError`]), the states of a run ([`RunState`]) and why
//! a run is asked to stop ([`CancelReason`]), who may do what through the
//! API ([`Role`], [`Grant`]), delay tasks and what follows a callback
//! ([`NewDelay`], [`DelayState`], [`next_step`]), HTTP tasks' calls
//! ([`HttpCall`]), lists of the hosts a request may reach ([`AllowList`]), the names of
//! secrets, mounts and databases a task is granted ([`GrantKind`]), the
//! values a job's SQL sends and gets ([`SqlValue`]), chains between tasks
//! and what runs hand on ([`Parent`], [`FireEnd`]), workflows: their
//! definitions and how a run of one moves on ([`WorkflowDef`],
//! [`next_moves`]).
//!
//! Pure: no I/O, no clock, no SQL, no wasm. States and reasons are enums
//! here and become text only at the edges (SQL in `store`, JSON and tables in
//! `cli`).

mod alert;
mod allowed_hosts;
mod cancel;
mod chain;
mod definition;
mod delay;
mod grant_names;
mod http_call;
mod role;
mod run_state;
mod sql_value;
mod task;
mod task_error;
mod workflow;

pub use alert::{
    AlertEvent, AlertNotice, AlertRule, ChannelKind, check_channel, console_link, percent_encode,
    rules_for,
};
pub use allowed_hosts::{AllowList, AllowedHost, Scheme, Target};
pub use cancel::CancelReason;
pub use chain::{
    ChainRow, FireEnd, MAX_CHAINED, MAX_OUTPUT_BYTES, MAX_OUTPUT_KEY, MAX_OUTPUTS, Parent,
    check_output, fails_a_fire, find_loop, fire_end, loop_through, parse_outputs, parse_task_list,
};
pub use definition::{
    Concurrency, MAX_BACKOFF_MS, MAX_KEEP_RUNS, MAX_MEMORY_MIB, MAX_NAME_CHARS, MAX_PAGE_SIZE,
    MAX_RETRIES, MAX_SHARDS, MAX_TEXT_BYTES, MAX_TIMEOUT_MS, TaskDefinition, parse_params,
    parse_shard_params,
};
pub use delay::{
    AttemptResult, CALLBACK_METHODS, Callback, DelayProblem, DelayState, MAX_BODY_BYTES,
    MAX_DELAY_ID_CHARS, MAX_DELAY_RETRIES, MAX_HEADERS, MAX_RETRY_WAIT_MS, MAX_URL_BYTES, NewDelay,
    NextStep, due_time, next_step,
};
pub use grant_names::{
    GrantKind, MAX_GRANT_NAME, check_grant_name, check_secret_name, parse_grant_names,
    parse_secret_names,
};
pub use http_call::{BODY_KEPT_BYTES, HTTP_METHODS, HTTP_MODULE, HTTP_PARAMS, HttpCall, StatusSet};
pub use role::{Grant, Role, parse_groups};
pub use run_state::{RunState, UnknownRunState};
pub use sql_value::{SqlRows, SqlValue, parse_database_names};
pub use task::{TaskRow, TaskSpec, TaskState};
pub use task_error::{TaskError, TaskErrorKind};
pub use workflow::{
    MAX_STEPS, RunWhen, StepDef, StepMove, StepState, WORKFLOW_MODULE, WORKFLOW_PARAM, WorkflowDef,
    WorkflowError, WorkflowState, check_workflow_name, is_builtin_module, next_moves, parse_after,
    parse_step_cause, step_cause, substitute, workflow_state,
};
