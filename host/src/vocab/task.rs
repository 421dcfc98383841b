//! A task as the `tasks` table holds it: the columns a user sets
//! ([`TaskSpec`]) and the host's bookkeeping beside them ([`TaskRow`]).
//! Values are as written, unchecked; [`super::TaskDefinition`] checks them.

use serde::Serialize;

use crate::vocab::TaskErrorKind;

/// The columns a user sets. Every field but name, module and schedule has a
/// default in the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskSpec {
    /// Unique task name.
    pub name: String,
    /// Group, for listings (default `default`).
    pub group: String,
    /// Name of the module (job component) to run.
    pub module: String,
    /// Cron expression, `every …`, `at …` or `after …`.
    pub schedule: String,
    /// IANA zone the schedule is read in.
    pub time_zone: String,
    /// Paused tasks do not fire.
    pub paused: bool,
    /// Shards per fire.
    pub shard_total: i64,
    /// Per-shard parameters, `0=Beijing,1=Shanghai`.
    pub shard_params: Option<String>,
    /// Page size for paged tasks.
    pub page_size: Option<i64>,
    /// JSON object of string params.
    pub params: String,
    /// `allow`, `forbid` or `replace`.
    pub concurrency: String,
    /// `fire-now`, `skip`, `catch-up` or `catch-up:N`.
    pub misfire: String,
    /// Run timeout in ms (host default when unset).
    pub timeout_ms: Option<i64>,
    /// Memory cap in MiB (host default when unset).
    pub memory_mib: Option<i64>,
    /// Retries after a failed attempt.
    pub max_retries: i64,
    /// First retry delay in ms; doubles each retry.
    pub retry_backoff_ms: i64,
    /// Node labels a host needs to run this task, `key=value,…`.
    pub selector: Option<String>,
    /// No fire before this time (ms since epoch).
    pub start_at: Option<i64>,
    /// No fire after this time (ms since epoch).
    pub end_at: Option<i64>,
    /// Keep at most this many finished runs of the task (newest first).
    pub keep_runs: Option<i64>,
    /// What its runs may call over `wasi:http`, in Spin's syntax
    /// (`https://api.example.com, http://127.0.0.1:8080`); unset: nothing.
    pub allowed_hosts: Option<String>,
    /// The secrets its runs may read, `api_token, smtp.password`; unset: none.
    pub secrets: Option<String>,
    /// The folders its runs see, `reports, inbox` (names of the host's
    /// `[mounts.NAME]`, each at `/NAME`); unset: none.
    pub mounts: Option<String>,
    /// The databases its runs may query through the `sql` import, `crm,
    /// warehouse` (names of the host's `[databases.NAME]`); unset: none.
    pub databases: Option<String>,
    /// The calendar whose excluded times its slots skip (a row of
    /// `calendars`); unset: none.
    pub calendar: Option<String>,
    /// Tasks to fire once when a fire of this one has succeeded (every
    /// shard, after retries), `report, notify`; unset: none.
    pub on_success: Option<String>,
    /// Tasks to fire once when a fire of this one has failed, timed out or
    /// been orphaned (any shard, after retries); unset: none.
    pub on_failure: Option<String>,
    /// The people alerts about it go to as well, `ada, bo` (rows of
    /// `keepers`); unset: none.
    pub keepers: Option<String>,
}

impl TaskSpec {
    /// A spec with the table's defaults.
    pub fn new(name: &str, module: &str, schedule: &str) -> Self {
        Self {
            name: name.to_owned(),
            group: "default".to_owned(),
            module: module.to_owned(),
            schedule: schedule.to_owned(),
            time_zone: "UTC".to_owned(),
            paused: false,
            shard_total: 1,
            shard_params: None,
            page_size: None,
            params: "{}".to_owned(),
            concurrency: "allow".to_owned(),
            misfire: "fire-now".to_owned(),
            timeout_ms: None,
            memory_mib: None,
            max_retries: 0,
            retry_backoff_ms: 1000,
            selector: None,
            start_at: None,
            end_at: None,
            keep_runs: None,
            allowed_hosts: None,
            secrets: None,
            mounts: None,
            databases: None,
            calendar: None,
            on_success: None,
            on_failure: None,
            keepers: None,
        }
    }

    /// Whether something follows the end of this task's fires.
    pub fn chains(&self) -> bool {
        [&self.on_success, &self.on_failure]
            .into_iter()
            .any(|list| list.as_deref().is_some_and(|text| !text.trim().is_empty()))
    }

    /// Whether runs of this task each take a page of its cursor.
    pub fn is_paged(&self) -> bool {
        self.page_size.is_some_and(|size| size > 0)
    }
}

/// A task row: the user's spec and the host's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRow {
    /// What the user set.
    #[serde(flatten)]
    pub spec: TaskSpec,
    /// When the row was created (ms).
    pub created_at: i64,
    /// The next slot the host will fire (ms); unset while (re)computing, on error or when finished.
    pub next_fire_at: Option<i64>,
    /// The last slot fired (ms).
    pub last_fire_at: Option<i64>,
    /// Why the host does not schedule the row, if it does not.
    pub error: Option<String>,
    /// What kind of reason `error` is (`None` for an unknown code).
    pub error_code: Option<TaskErrorKind>,
    /// Bumped on every change not made by the scheduler.
    pub revision: i64,
    /// Columns that hold a value of the wrong type (possible on SQLite),
    /// named with what they hold; they read as their defaults above, and the
    /// row does not fire until it is fixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// Where a task stands, as listings show and filter it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskState {
    /// Fires on its schedule.
    Active,
    /// Paused: does not fire until resumed.
    Paused,
    /// Does not fire because of its `error` (a bad column, a missing module).
    Error,
    /// Its schedule has no fire times left.
    Finished,
}

impl TaskState {
    /// Every state.
    pub const ALL: [TaskState; 4] = [
        TaskState::Active,
        TaskState::Paused,
        TaskState::Error,
        TaskState::Finished,
    ];

    /// The name listings use.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Active => "active",
            TaskState::Paused => "paused",
            TaskState::Error => "error",
            TaskState::Finished => "finished",
        }
    }
}

impl std::str::FromStr for TaskState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        TaskState::ALL
            .into_iter()
            .find(|state| state.as_str() == text.trim())
            .ok_or_else(|| {
                format!("`{text}` is not a task state; use active, paused, error or finished")
            })
    }
}

impl TaskRow {
    /// Where the task stands: paused wins over everything else.
    pub fn state(&self) -> TaskState {
        if self.spec.paused {
            TaskState::Paused
        } else if self.error_code == Some(TaskErrorKind::Finished) {
            TaskState::Finished
        } else if self.error_code == Some(TaskErrorKind::Manual) && self.unreadable.is_none() {
            TaskState::Active
        } else if self.error.is_some() || self.unreadable.is_some() {
            TaskState::Error
        } else {
            TaskState::Active
        }
    }

    /// A row for `spec` as it stands before the host has looked at it.
    pub fn new(spec: TaskSpec, created_at: i64) -> Self {
        Self {
            spec,
            created_at,
            next_fire_at: None,
            last_fire_at: None,
            error: None,
            error_code: None,
            revision: 0,
            unreadable: None,
        }
    }
}
