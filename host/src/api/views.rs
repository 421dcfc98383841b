//! The API's wire types: what it answers and what it accepts, each with
//! its OpenAPI schema. They mirror the tables' columns (same names, times in
//! ms since the Unix epoch) so SQL, the CLI and the API speak alike; params
//! are a JSON object here rather than the column's JSON text.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::store::{AuditRow, ModuleRow, NodeRow, RunRow, StoredLogLine, TokenRow, UserRow};
use crate::vocab::{Role, TaskRow, TaskSpec, parse_outputs, parse_params};

/// A task: its columns, and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Task {
    pub(crate) name: String,
    pub(crate) group: String,
    pub(crate) module: String,
    /// Quartz cron, `every 30s`, `at 2026-01-31T10:00:00Z` or `after 10m`.
    pub(crate) schedule: String,
    pub(crate) time_zone: String,
    pub(crate) paused: bool,
    pub(crate) shard_total: i64,
    pub(crate) shard_params: Option<String>,
    pub(crate) page_size: Option<i64>,
    pub(crate) params: BTreeMap<String, String>,
    /// `allow`, `forbid` or `replace`.
    pub(crate) concurrency: String,
    /// `fire-now`, `skip`, `catch-up` or `catch-up:N`.
    pub(crate) misfire: String,
    pub(crate) timeout_ms: Option<i64>,
    pub(crate) memory_mib: Option<i64>,
    pub(crate) max_retries: i64,
    pub(crate) retry_backoff_ms: i64,
    pub(crate) selector: Option<String>,
    pub(crate) start_at: Option<i64>,
    pub(crate) end_at: Option<i64>,
    pub(crate) keep_runs: Option<i64>,
    /// What its runs may call over `wasi:http` (`https://api.example.com,
    /// http://127.0.0.1:8080`); `null`: nothing.
    pub(crate) allowed_hosts: Option<String>,
    /// The secrets its runs may read (`api_token, smtp.password`); `null`: none.
    pub(crate) secrets: Option<String>,
    /// The folders its runs see (`reports, inbox`: the host's `[mounts.NAME]`,
    /// each at `/NAME`); `null`: none.
    pub(crate) mounts: Option<String>,
    /// The databases its runs may query through the `sql` import (`crm,
    /// warehouse`: the host's `[databases.NAME]`); `null`: none.
    pub(crate) databases: Option<String>,
    /// The calendar whose excluded times its slots skip (`GET
    /// /api/v1/calendars`); `null`: none.
    pub(crate) calendar: Option<String>,
    /// Tasks fired once when a fire of this one succeeded (every shard,
    /// after retries), comma separated; `null`: none.
    pub(crate) on_success: Option<String>,
    /// Tasks fired once when a fire of this one failed, timed out or was
    /// orphaned; `null`: none.
    pub(crate) on_failure: Option<String>,
    /// The keepers alerts about it go to as well (`GET /api/v1/keepers`);
    /// `null`: none.
    pub(crate) keepers: Option<String>,
    /// `active`, `paused`, `error` or `finished`.
    pub(crate) state: String,
    pub(crate) created_at: i64,
    pub(crate) next_fire_at: Option<i64>,
    pub(crate) last_fire_at: Option<i64>,
    /// Why it does not fire, if it does not.
    pub(crate) error: Option<String>,
    pub(crate) error_code: Option<String>,
    pub(crate) revision: i64,
}

impl From<&TaskRow> for Task {
    fn from(row: &TaskRow) -> Self {
        let spec = &row.spec;
        Self {
            name: spec.name.clone(),
            group: spec.group.clone(),
            module: spec.module.clone(),
            schedule: spec.schedule.clone(),
            time_zone: spec.time_zone.clone(),
            paused: spec.paused,
            shard_total: spec.shard_total,
            shard_params: spec.shard_params.clone(),
            page_size: spec.page_size,
            // A row whose params do not parse has `error` saying so.
            params: parse_params(&spec.params).unwrap_or_default(),
            concurrency: spec.concurrency.clone(),
            misfire: spec.misfire.clone(),
            timeout_ms: spec.timeout_ms,
            memory_mib: spec.memory_mib,
            max_retries: spec.max_retries,
            retry_backoff_ms: spec.retry_backoff_ms,
            selector: spec.selector.clone(),
            start_at: spec.start_at,
            end_at: spec.end_at,
            keep_runs: spec.keep_runs,
            allowed_hosts: spec.allowed_hosts.clone(),
            secrets: spec.secrets.clone(),
            mounts: spec.mounts.clone(),
            databases: spec.databases.clone(),
            calendar: spec.calendar.clone(),
            on_success: spec.on_success.clone(),
            on_failure: spec.on_failure.clone(),
            keepers: spec.keepers.clone(),
            state: row.state().as_str().to_owned(),
            created_at: row.created_at,
            next_fire_at: row.next_fire_at,
            last_fire_at: row.last_fire_at,
            error: row.error.clone().or_else(|| row.unreadable.clone()),
            error_code: row.error_code.map(|code| code.as_str().to_owned()),
            revision: row.revision,
        }
    }
}

/// Reads a field that may be absent (left as it is) or `null` (cleared).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The columns of a task a caller sets. When creating, an absent field takes
/// the table's default; when changing, an absent field stays as it is and
/// `null` clears an optional column.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskFields {
    pub(crate) group: Option<String>,
    pub(crate) module: Option<String>,
    pub(crate) schedule: Option<String>,
    pub(crate) time_zone: Option<String>,
    pub(crate) paused: Option<bool>,
    pub(crate) shard_total: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub(crate) shard_params: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub(crate) page_size: Option<Option<i64>>,
    pub(crate) params: Option<BTreeMap<String, String>>,
    pub(crate) concurrency: Option<String>,
    pub(crate) misfire: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub(crate) timeout_ms: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub(crate) memory_mib: Option<Option<i64>>,
    pub(crate) max_retries: Option<i64>,
    pub(crate) retry_backoff_ms: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub(crate) selector: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub(crate) start_at: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub(crate) end_at: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub(crate) keep_runs: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub(crate) allowed_hosts: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub(crate) secrets: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub(crate) mounts: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub(crate) databases: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub(crate) calendar: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub(crate) on_success: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub(crate) on_failure: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub(crate) keepers: Option<Option<String>>,
}

impl TaskFields {
    /// Writes the given fields into `spec`.
    pub(crate) fn apply(self, spec: &mut TaskSpec) {
        fn set<T>(target: &mut T, value: Option<T>) {
            if let Some(value) = value {
                *target = value;
            }
        }
        set(&mut spec.group, self.group);
        set(&mut spec.module, self.module);
        set(&mut spec.schedule, self.schedule);
        set(&mut spec.time_zone, self.time_zone);
        set(&mut spec.paused, self.paused);
        set(&mut spec.shard_total, self.shard_total);
        set(&mut spec.shard_params, self.shard_params);
        set(&mut spec.page_size, self.page_size);
        if let Some(params) = self.params {
            spec.params = serde_json::to_string(&params).unwrap_or_else(|_| "{}".into());
        }
        set(&mut spec.concurrency, self.concurrency);
        set(&mut spec.misfire, self.misfire);
        set(&mut spec.timeout_ms, self.timeout_ms);
        set(&mut spec.memory_mib, self.memory_mib);
        set(&mut spec.max_retries, self.max_retries);
        set(&mut spec.retry_backoff_ms, self.retry_backoff_ms);
        set(&mut spec.selector, self.selector);
        set(&mut spec.start_at, self.start_at);
        set(&mut spec.end_at, self.end_at);
        set(&mut spec.keep_runs, self.keep_runs);
        set(&mut spec.allowed_hosts, self.allowed_hosts);
        set(&mut spec.secrets, self.secrets);
        set(&mut spec.mounts, self.mounts);
        set(&mut spec.databases, self.databases);
        set(&mut spec.calendar, self.calendar);
        set(&mut spec.on_success, self.on_success);
        set(&mut spec.on_failure, self.on_failure);
        set(&mut spec.keepers, self.keepers);
    }
}

/// A new task: its name, module and schedule, and any other column.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTask {
    #[schema(min_length = 1, max_length = 200)]
    pub(crate) name: String,
    #[schema(min_length = 1, max_length = 200)]
    pub(crate) module: String,
    #[schema(min_length = 1)]
    pub(crate) schedule: String,
    pub(crate) group: Option<String>,
    pub(crate) time_zone: Option<String>,
    pub(crate) paused: Option<bool>,
    pub(crate) shard_total: Option<i64>,
    pub(crate) shard_params: Option<String>,
    pub(crate) page_size: Option<i64>,
    pub(crate) params: Option<BTreeMap<String, String>>,
    pub(crate) concurrency: Option<String>,
    pub(crate) misfire: Option<String>,
    pub(crate) timeout_ms: Option<i64>,
    pub(crate) memory_mib: Option<i64>,
    pub(crate) max_retries: Option<i64>,
    pub(crate) retry_backoff_ms: Option<i64>,
    pub(crate) selector: Option<String>,
    pub(crate) start_at: Option<i64>,
    pub(crate) end_at: Option<i64>,
    pub(crate) keep_runs: Option<i64>,
    pub(crate) allowed_hosts: Option<String>,
    pub(crate) secrets: Option<String>,
    pub(crate) mounts: Option<String>,
    pub(crate) databases: Option<String>,
    pub(crate) calendar: Option<String>,
    pub(crate) on_success: Option<String>,
    pub(crate) on_failure: Option<String>,
    pub(crate) keepers: Option<String>,
}

impl NewTask {
    /// The spec it asks for, with the table's defaults for the rest.
    pub(crate) fn into_spec(self) -> TaskSpec {
        let mut spec = TaskSpec::new(&self.name, &self.module, &self.schedule);
        TaskFields {
            group: self.group,
            module: None,
            schedule: None,
            time_zone: self.time_zone,
            paused: self.paused,
            shard_total: self.shard_total,
            shard_params: Some(self.shard_params),
            page_size: Some(self.page_size),
            params: self.params,
            concurrency: self.concurrency,
            misfire: self.misfire,
            timeout_ms: Some(self.timeout_ms),
            memory_mib: Some(self.memory_mib),
            max_retries: self.max_retries,
            retry_backoff_ms: self.retry_backoff_ms,
            selector: Some(self.selector),
            start_at: Some(self.start_at),
            end_at: Some(self.end_at),
            keep_runs: Some(self.keep_runs),
            allowed_hosts: Some(self.allowed_hosts),
            secrets: Some(self.secrets),
            mounts: Some(self.mounts),
            databases: Some(self.databases),
            calendar: Some(self.calendar),
            on_success: Some(self.on_success),
            on_failure: Some(self.on_failure),
            keepers: Some(self.keepers),
        }
        .apply(&mut spec);
        spec
    }
}

/// A page of tasks.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskList {
    pub(crate) tasks: Vec<Task>,
    /// Pass as `after` for the next page; absent on the last.
    pub(crate) next: Option<String>,
    /// How many tasks match the filter in all, counted up to 10,000.
    pub(crate) total: i64,
    /// True when more than 10,000 match (`total` is then 10,000).
    pub(crate) total_capped: bool,
}

/// A run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Run {
    pub(crate) id: i64,
    pub(crate) task: String,
    /// The task's group when it fired.
    pub(crate) group: String,
    pub(crate) shard_index: i64,
    pub(crate) shard_total: i64,
    pub(crate) page_index: Option<i64>,
    pub(crate) scheduled_at: i64,
    pub(crate) started_at: Option<i64>,
    pub(crate) finished_at: Option<i64>,
    /// pending, running, succeeded, failed, timed-out, cancelled, orphaned or skipped.
    pub(crate) state: String,
    pub(crate) attempt: i64,
    pub(crate) error: Option<String>,
    pub(crate) module_digest: Option<String>,
    pub(crate) node: Option<String>,
    pub(crate) summary: Option<String>,
    pub(crate) items: Option<i64>,
    /// What it handed on (`output.set` in the job).
    pub(crate) outputs: BTreeMap<String, String>,
    /// Why it exists outside its task's schedule: `after TASK@SLOT END`
    /// (chained), `workflow RUN STEP TRY`; `null` for scheduled and
    /// triggered runs.
    pub(crate) cause: Option<String>,
}

impl From<RunRow> for Run {
    fn from(row: RunRow) -> Self {
        Self {
            id: row.id,
            task: row.task,
            group: row.task_group,
            shard_index: row.shard_index,
            shard_total: row.shard_total,
            page_index: row.page_index,
            scheduled_at: row.scheduled_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            state: row.state.as_str().to_owned(),
            attempt: row.attempt,
            error: row.error,
            module_digest: row.module_digest,
            node: row.node,
            summary: row.summary,
            items: row.items,
            outputs: parse_outputs(row.outputs.as_deref()),
            cause: row.cause,
        }
    }
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunList {
    pub(crate) runs: Vec<Run>,
    /// Pass as `before` for the next page; absent on the last.
    pub(crate) next: Option<i64>,
}

/// One line of a run's log.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LogLine {
    pub(crate) attempt: i64,
    pub(crate) seq: i64,
    pub(crate) at: i64,
    /// trace, debug, info, warn or error.
    pub(crate) level: String,
    /// guest, stdout, stderr or host.
    pub(crate) source: String,
    pub(crate) message: String,
    /// The line's fields, as `[key, value]` pairs.
    pub(crate) fields: Vec<(String, String)>,
}

impl From<StoredLogLine> for LogLine {
    fn from(line: StoredLogLine) -> Self {
        Self {
            attempt: line.attempt,
            seq: line.seq,
            at: line.at,
            level: line.level,
            source: line.source,
            message: line.message,
            fields: line
                .fields
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default(),
        }
    }
}

/// A run's log.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunLog {
    pub(crate) lines: Vec<LogLine>,
}

/// What a bulk action does to each run it selects.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum BulkRunAction {
    /// Cancel pending and running runs.
    Cancel,
    /// Retry failed, timed-out, orphaned and cancelled runs.
    Retry,
}

/// Which runs a bulk action takes: all matching the filter that the action
/// applies to (an empty filter: every run the caller may see).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunSelection {
    /// Only this task's runs.
    pub(crate) task: Option<String>,
    /// Only runs in this state.
    pub(crate) state: Option<RunStateName>,
    /// Only runs held (or last held) by this node.
    pub(crate) node: Option<String>,
    /// Only slots at or after this time (ms).
    pub(crate) from: Option<i64>,
    /// Only slots before this time (ms).
    pub(crate) to: Option<i64>,
    /// Only these runs (the rows picked in a listing).
    #[schema(max_items = 10000)]
    pub(crate) ids: Option<Vec<i64>>,
}

/// A bulk action on runs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BulkRuns {
    pub(crate) action: BulkRunAction,
    #[serde(default)]
    pub(crate) select: RunSelection,
    /// Count the runs the action would take, and change nothing.
    #[serde(default)]
    pub(crate) dry_run: bool,
}

/// What a bulk action does to each task it selects.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum BulkTaskAction {
    Pause,
    Resume,
    Trigger,
    Delete,
}

impl BulkTaskAction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BulkTaskAction::Pause => "pause",
            BulkTaskAction::Resume => "resume",
            BulkTaskAction::Trigger => "trigger",
            BulkTaskAction::Delete => "delete",
        }
    }
}

/// Which tasks a bulk action takes: all matching the filter (an empty one
/// matches every task the caller may see).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskSelection {
    /// Names containing this (any case).
    pub(crate) name: Option<String>,
    pub(crate) group: Option<String>,
    pub(crate) module: Option<String>,
    pub(crate) state: Option<TaskStateName>,
    /// Only these tasks (the rows picked in a listing).
    #[schema(max_items = 10000)]
    pub(crate) names: Option<Vec<String>>,
}

/// A bulk action over tasks.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BulkTasks {
    pub(crate) action: BulkTaskAction,
    #[serde(default)]
    pub(crate) select: TaskSelection,
    /// Count the tasks the action would take, and change nothing.
    #[serde(default)]
    pub(crate) dry_run: bool,
}

/// Runs per hour, oldest hour first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunHours {
    pub(crate) hours: Vec<RunHour>,
}

/// The runs of one hour of slots.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunHour {
    /// The hour's start (ms).
    pub(crate) hour: i64,
    /// Runs by state (states with none left out).
    pub(crate) runs: BTreeMap<String, i64>,
}

/// How many a bulk action affected.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Affected {
    pub(crate) affected: i64,
}

/// What a trigger made.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Triggered {
    /// Runs created (one per shard).
    pub(crate) runs: i64,
}

/// Per-fire params for a trigger; they win over the task's.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TriggerBody {
    #[serde(default)]
    pub(crate) params: BTreeMap<String, String>,
}

/// Fire times, ms since the Unix epoch.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FireTimes {
    pub(crate) times: Vec<i64>,
}

/// What a cancel did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Cancelled {
    /// `cancelled` (it was pending) or `requested` (its host stops it).
    pub(crate) outcome: String,
}

/// One server-sent event of a followed log: `line` (data: a [`LogLine`]
/// as JSON; id: `attempt:seq`) or `end` (data: `{"state": …}`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LogEvent {
    /// `line` or `end`.
    pub(crate) event: Option<String>,
    /// `attempt:seq` of a line, to resume after it with `Last-Event-ID`.
    pub(crate) id: Option<String>,
    /// JSON: a log line, or the run's final state.
    pub(crate) data: String,
}

/// What a retry did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Retried {
    /// `pending`: it waits for a host to take it.
    pub(crate) state: String,
}

/// An API token, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Token {
    pub(crate) name: String,
    /// viewer, operator, editor or admin.
    pub(crate) role: String,
    pub(crate) groups: Option<Vec<String>>,
    pub(crate) created_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) last_used_at: Option<i64>,
}

impl From<TokenRow> for Token {
    fn from(row: TokenRow) -> Self {
        Self {
            name: row.name,
            role: row.role.as_str().to_owned(),
            groups: row.groups,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewToken {
    #[schema(min_length = 1, max_length = 200)]
    pub(crate) name: String,
    pub(crate) role: RoleName,
    /// Limit it to these task groups.
    pub(crate) groups: Option<Vec<String>>,
    /// How long it works, e.g. `30d` (default: until revoked).
    pub(crate) expires_in: Option<String>,
}

/// A token just created: the only time its text is shown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedToken {
    pub(crate) token: String,
    #[serde(flatten)]
    pub(crate) about: Token,
}

/// Tokens.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenList {
    pub(crate) tokens: Vec<Token>,
}

/// A host of the cluster.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Node {
    pub(crate) id: String,
    pub(crate) labels: String,
    pub(crate) capacity: i64,
    pub(crate) running: i64,
    pub(crate) started_at: i64,
    pub(crate) heartbeat_at: i64,
    /// Whether its last heartbeat is within the node timeout: a silent
    /// host's runs are rescued by the others.
    pub(crate) alive: bool,
}

impl Node {
    /// The host of `row`, alive when it heartbeat at or after `alive_since`.
    pub(crate) fn new(row: NodeRow, alive_since: i64) -> Self {
        Self {
            alive: row.heartbeat_at >= alive_since,
            id: row.id,
            labels: row.labels,
            capacity: row.capacity,
            running: row.running,
            started_at: row.started_at,
            heartbeat_at: row.heartbeat_at,
        }
    }
}

/// Hosts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NodeList {
    pub(crate) nodes: Vec<Node>,
}

/// A stored job module.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Module {
    pub(crate) name: String,
    /// SHA-256 of its bytes, hex.
    pub(crate) digest: String,
    pub(crate) size: i64,
    /// `folder:PATH` or `push`.
    pub(crate) source: String,
    pub(crate) updated_at: i64,
}

impl From<ModuleRow> for Module {
    fn from(row: ModuleRow) -> Self {
        Self {
            name: row.name,
            digest: row.digest,
            size: row.size,
            source: row.source,
            updated_at: row.updated_at,
        }
    }
}

/// Modules.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModuleList {
    pub(crate) modules: Vec<Module>,
}

/// Slots of a task its misfire policy did not turn into runs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Misfire {
    pub(crate) id: i64,
    pub(crate) task: String,
    pub(crate) first_slot: i64,
    pub(crate) last_slot: i64,
    /// How many slots were missed.
    pub(crate) missed: i64,
    /// The policy that decided.
    pub(crate) policy: String,
    pub(crate) recorded_at: i64,
}

impl From<crate::store::MisfireRow> for Misfire {
    fn from(row: crate::store::MisfireRow) -> Self {
        Self {
            id: row.id,
            task: row.task,
            first_slot: row.first_slot,
            last_slot: row.last_slot,
            missed: row.missed,
            policy: row.policy,
            recorded_at: row.recorded_at,
        }
    }
}

/// Misfires, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MisfireList {
    pub(crate) misfires: Vec<Misfire>,
    /// Pass as `before` for the next page; absent on the last.
    pub(crate) next: Option<i64>,
}

/// One change made through the API.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEvent {
    pub(crate) id: i64,
    pub(crate) at: i64,
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) target: String,
    /// The object before, if it existed.
    #[schema(value_type = Option<Object>)]
    pub(crate) before: Option<serde_json::Value>,
    /// The object after, if it still exists.
    #[schema(value_type = Option<Object>)]
    pub(crate) after: Option<serde_json::Value>,
}

impl From<AuditRow> for AuditEvent {
    fn from(row: AuditRow) -> Self {
        let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
        Self {
            id: row.id,
            at: row.at,
            actor: row.actor,
            action: row.action,
            target: row.target,
            before: json(row.before),
            after: json(row.after),
        }
    }
}

/// Changes, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditList {
    pub(crate) events: Vec<AuditEvent>,
    /// Pass as `before` for the next page; absent on the last.
    pub(crate) next: Option<i64>,
}

/// `limit` as a count: 1 to 1000, 100 when not given.
pub(crate) fn page_size(limit: Option<i64>) -> Result<i64, crate::api::error::ApiError> {
    match limit {
        None => Ok(100),
        Some(n @ 1..=1000) => Ok(n),
        Some(n) => Err(crate::api::error::ApiError::bad_request(format!(
            "limit {n} is out of range; ask for 1 to 1000 items"
        ))
        .on("limit")),
    }
}

/// Cuts `rows` (fetched `limit + 1`, to learn whether more follow) to
/// `limit`; returns where the next page starts, `key` of the last row kept,
/// if there is a next page.
pub(crate) fn cut_page<T, K>(rows: &mut Vec<T>, limit: i64, key: impl Fn(&T) -> K) -> Option<K> {
    if rows.len() as i64 <= limit {
        return None;
    }
    rows.truncate(limit as usize);
    rows.last().map(key)
}

/// A count of fire times: 1 to 100, 5 when not given.
pub(crate) fn fire_count(n: Option<i64>) -> Result<usize, crate::api::error::ApiError> {
    match n {
        None => Ok(5),
        Some(n @ 1..=100) => Ok(n as usize),
        Some(n) => Err(crate::api::error::ApiError::bad_request(format!(
            "n {n} is out of range; ask for 1 to 100 fire times"
        ))
        .on("n")),
    }
}

/// Where a task stands, as the list filters it.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum TaskStateName {
    Active,
    Paused,
    Error,
    Finished,
}

impl From<TaskStateName> for crate::vocab::TaskState {
    fn from(name: TaskStateName) -> Self {
        use crate::vocab::TaskState;
        match name {
            TaskStateName::Active => TaskState::Active,
            TaskStateName::Paused => TaskState::Paused,
            TaskStateName::Error => TaskState::Error,
            TaskStateName::Finished => TaskState::Finished,
        }
    }
}

/// The orders of the task list.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
pub(crate) enum TaskSortName {
    /// By name.
    #[serde(rename = "name")]
    Name,
    /// By name, last first.
    #[serde(rename = "-name")]
    NameDescending,
    /// By group, then name.
    #[serde(rename = "group")]
    Group,
    /// By module, then name.
    #[serde(rename = "module")]
    Module,
    /// Soonest next fire first, tasks with none last.
    #[serde(rename = "next_fire")]
    NextFire,
}

impl From<TaskSortName> for crate::store::TaskOrder {
    fn from(name: TaskSortName) -> Self {
        use crate::store::TaskOrder;
        match name {
            TaskSortName::Name => TaskOrder::Name,
            TaskSortName::NameDescending => TaskOrder::NameDescending,
            TaskSortName::Group => TaskOrder::Group,
            TaskSortName::Module => TaskOrder::Module,
            TaskSortName::NextFire => TaskOrder::NextFire,
        }
    }
}

/// A run's state, as the list filters it.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RunStateName {
    Pending,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    Orphaned,
    Skipped,
}

impl From<RunStateName> for crate::vocab::RunState {
    fn from(name: RunStateName) -> Self {
        use crate::vocab::RunState;
        match name {
            RunStateName::Pending => RunState::Pending,
            RunStateName::Running => RunState::Running,
            RunStateName::Succeeded => RunState::Succeeded,
            RunStateName::Failed => RunState::Failed,
            RunStateName::TimedOut => RunState::TimedOut,
            RunStateName::Cancelled => RunState::Cancelled,
            RunStateName::Orphaned => RunState::Orphaned,
            RunStateName::Skipped => RunState::Skipped,
        }
    }
}

/// A token's or user's role.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RoleName {
    Viewer,
    Operator,
    Editor,
    Admin,
}

impl RoleName {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RoleName::Viewer => "viewer",
            RoleName::Operator => "operator",
            RoleName::Editor => "editor",
            RoleName::Admin => "admin",
        }
    }
}

impl From<Role> for RoleName {
    fn from(role: Role) -> Self {
        match role {
            Role::Viewer => RoleName::Viewer,
            Role::Operator => RoleName::Operator,
            Role::Editor => RoleName::Editor,
            Role::Admin => RoleName::Admin,
        }
    }
}

/// A console user, without their password.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct User {
    pub(crate) name: String,
    pub(crate) role: RoleName,
    pub(crate) groups: Option<Vec<String>>,
    pub(crate) created_at: i64,
    pub(crate) last_login_at: Option<i64>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            name: row.name,
            role: row.role.into(),
            groups: row.groups,
            created_at: row.created_at,
            last_login_at: row.last_login_at,
        }
    }
}

/// A user to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    #[schema(min_length = 1, max_length = 200)]
    pub(crate) name: String,
    pub(crate) role: RoleName,
    /// Limit them to these task groups.
    pub(crate) groups: Option<Vec<String>>,
    /// At least 8 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub(crate) password: String,
}

/// Users.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserList {
    pub(crate) users: Vec<User>,
}

/// What `/healthz` and `/readyz` answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`, or why not.
    pub(crate) status: String,
    pub(crate) node: String,
}

/// A calendar: times the tasks naming it do not fire in.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CalendarView {
    pub(crate) name: String,
    /// `annual`, `holiday`, `monthly`, `weekly`, `daily` or `cron`.
    pub(crate) kind: String,
    /// What it excludes, in its kind's words: `12-25, 01-01`;
    /// `2026-12-25`; `1, 15`; `SAT, SUN`; `12:00-13:00` or `outside
    /// 08:00-18:00`; a Quartz cron expression.
    pub(crate) excludes: String,
    /// A calendar that excludes more; `null`: none.
    pub(crate) base: Option<String>,
    /// The IANA zone it is read in; `null`: each task's own.
    pub(crate) time_zone: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    /// Why tasks cannot use it (a row written with SQL that does not check
    /// out, or a broken base); `null` when it is fine.
    pub(crate) problem: Option<String>,
    /// The tasks naming it (only on `GET /api/v1/calendars/{name}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tasks: Option<Vec<String>>,
}

/// Calendars, by name.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CalendarList {
    pub(crate) calendars: Vec<CalendarView>,
}

/// A calendar to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CalendarBody {
    /// `annual`, `holiday`, `monthly`, `weekly`, `daily` or `cron`.
    #[schema(min_length = 1)]
    pub(crate) kind: String,
    /// What it excludes, in its kind's words.
    #[schema(min_length = 1)]
    pub(crate) excludes: String,
    pub(crate) base: Option<String>,
    pub(crate) time_zone: Option<String>,
    pub(crate) description: Option<String>,
}

/// What a create-or-replace answers: 201 for a new resource, 200 for one
/// replaced.
pub(crate) fn created_or_ok(created: bool) -> axum::http::StatusCode {
    if created {
        axum::http::StatusCode::CREATED
    } else {
        axum::http::StatusCode::OK
    }
}
