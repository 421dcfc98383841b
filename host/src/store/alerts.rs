//! `alert_channels`, `keepers`, `alert_rules` (public tables), `alerts`
//! and `alert_deliveries`. An alert is raised once per rule, task and
//! subject (the UNIQUE key: hosts raising the same one make one row); within
//! its rule's silence window it is recorded as suppressed, else one
//! delivery per channel is queued. Deliveries are taken by one host at a
//! time (`SKIP LOCKED` on PostgreSQL, and a lease), and only the host holding
//! one records how it went.

use std::time::Duration;

use serde::Serialize;

use crate::store::write::Tx;
use crate::store::{Backend, Store, StoreError};
use crate::units::format_duration;
use crate::vocab::{AlertEvent, AlertRule, parse_task_list};

/// A channel as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ChannelRow {
    /// Its name.
    pub name: String,
    /// webhook, slack, feishu, dingtalk, wecom or email.
    pub kind: String,
    /// The webhook URL, or e-mail addresses.
    pub target: String,
    /// A secret's name that signs its messages.
    pub secret: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// When it was made (ms).
    pub created_at: i64,
    /// When it was last changed (ms).
    pub updated_at: i64,
}

/// A keeper as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct KeeperRow {
    /// Its name.
    pub name: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Mobile number, @-mentioned in IM channels.
    pub mobile: Option<String>,
    /// Who it is.
    pub description: Option<String>,
}

/// A rule as stored (its columns as written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RuleRow {
    /// Its name.
    pub name: String,
    /// The event.
    pub event: String,
    /// Task names it is for.
    pub tasks: Option<String>,
    /// The group it is for.
    pub task_group: Option<String>,
    /// Channel names.
    pub channels: String,
    /// The threshold (ms).
    pub threshold_ms: Option<i64>,
    /// The count, for `failures`.
    pub count: Option<i64>,
    /// The silence window (ms).
    pub silence_ms: i64,
    /// Whether it is paused.
    #[sqlx(try_from = "i64")]
    pub paused: IntFlag,
    /// When it was made (ms).
    pub created_at: i64,
    /// When it was last changed (ms).
    pub updated_at: i64,
}

/// A boolean column read as 0/1 (sqlx's `Any` driver reads no boolean).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct IntFlag(pub bool);

impl From<i64> for IntFlag {
    fn from(value: i64) -> Self {
        Self(value != 0)
    }
}

impl RuleRow {
    /// The rule it holds, or the column at fault and why.
    pub fn rule(&self) -> Result<AlertRule, (&'static str, String)> {
        AlertRule::from_columns(
            &self.name,
            &self.event,
            self.tasks.as_deref(),
            self.task_group.as_deref(),
            &self.channels,
            self.threshold_ms,
            self.count,
            self.silence_ms,
        )
    }
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AlertRow {
    /// Its id.
    pub id: i64,
    /// The rule that raised it.
    pub rule: String,
    /// The event.
    pub event: String,
    /// The task.
    pub task: String,
    /// The run, if it is about one.
    pub run_id: Option<i64>,
    /// What makes it one alert: `run:ID`, `misfire:ID`, `slot:MS`, …
    pub subject: String,
    /// What happened.
    pub message: String,
    /// pending, delivered, failed or suppressed.
    pub state: String,
    /// Alerts like it suppressed since the last that went out.
    pub suppressed_before: i64,
    /// When it was raised (ms).
    pub raised_at: i64,
    /// When its deliveries ended (ms).
    pub finished_at: Option<i64>,
}

/// An alert to raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// The rule.
    pub rule: AlertRule,
    /// The task.
    pub task: String,
    /// The run, if it is about one.
    pub run_id: Option<i64>,
    /// What makes it one alert (with the rule and task).
    pub subject: String,
    /// What happened.
    pub message: String,
}

/// A delivery due, taken by this host.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// The delivery's id.
    pub id: i64,
    /// Attempts made, this one included.
    pub attempts: i64,
    /// The alert.
    pub alert: AlertRow,
    /// Where it goes (`None`: the channel was removed).
    pub channel: Option<ChannelRow>,
    /// The task's keepers.
    pub keepers: Vec<KeeperRow>,
}

/// How a delivery attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// It arrived.
    Delivered,
    /// It failed; again at `retry_at`.
    Retry {
        /// When to try again (ms).
        retry_at: i64,
        /// Why it failed.
        error: String,
    },
    /// It failed for good.
    Failed {
        /// Why.
        error: String,
    },
}

const CHANNEL_COLUMNS: &str = "name, kind, target, secret, description, created_at, updated_at";
const RULE_COLUMNS: &str = "name, event, tasks, task_group, channels, threshold_ms, count, silence_ms, \
     CASE WHEN paused THEN 1 ELSE 0 END AS paused, created_at, updated_at";
const ALERT_COLUMNS: &str = "id, rule, event, task, run_id, subject, message, state, suppressed_before, raised_at, finished_at";

impl Store {
    /// Every channel, by name.
    pub async fn list_channels(&self) -> Result<Vec<ChannelRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM alert_channels ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Creates or replaces a channel; returns whether it was new.
    pub async fn put_channel(&self, channel: &ChannelRow, now: i64) -> Result<bool, StoreError> {
        self.write_tx(|mut tx| async move {
            let updated = sqlx::query(
                "UPDATE alert_channels SET kind = $1, target = $2, secret = $3, description = $4, updated_at = $5 \
                 WHERE name = $6",
            )
            .bind(&channel.kind)
            .bind(&channel.target)
            .bind(&channel.secret)
            .bind(&channel.description)
            .bind(now)
            .bind(&channel.name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                sqlx::query(
                    "INSERT INTO alert_channels (name, kind, target, secret, description, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (name) DO NOTHING",
                )
                .bind(&channel.name)
                .bind(&channel.kind)
                .bind(&channel.target)
                .bind(&channel.secret)
                .bind(&channel.description)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            Ok((tx, updated == 0))
        })
        .await
    }

    /// The rules that send to channel `name`, by name (a channel in use
    /// is not removed).
    pub async fn rules_using_channel(&self, name: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .list_rules()
            .await?
            .into_iter()
            .filter(|rule| {
                parse_task_list(&rule.channels)
                    .unwrap_or_default()
                    .iter()
                    .any(|channel| channel == name)
            })
            .map(|rule| rule.name)
            .collect())
    }

    /// Removes channel `name`; returns whether it existed.
    pub async fn delete_channel(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_named("alert_channels", name).await
    }

    /// Every keeper, by name.
    pub async fn list_keepers(&self) -> Result<Vec<KeeperRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT name, email, mobile, description FROM keepers ORDER BY name")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Creates or replaces a keeper; returns whether it was new.
    pub async fn put_keeper(&self, keeper: &KeeperRow) -> Result<bool, StoreError> {
        self.write_tx(|mut tx| async move {
            let updated = sqlx::query(
                "UPDATE keepers SET email = $1, mobile = $2, description = $3 WHERE name = $4",
            )
            .bind(&keeper.email)
            .bind(&keeper.mobile)
            .bind(&keeper.description)
            .bind(&keeper.name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                sqlx::query(
                    "INSERT INTO keepers (name, email, mobile, description) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(&keeper.name)
                .bind(&keeper.email)
                .bind(&keeper.mobile)
                .bind(&keeper.description)
                .execute(&mut *tx)
                .await?;
            }
            Ok((tx, updated == 0))
        })
        .await
    }

    /// Removes keeper `name`; returns whether it existed.
    pub async fn delete_keeper(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_named("keepers", name).await
    }

    /// Every rule, by name, as written.
    pub async fn list_rules(&self) -> Result<Vec<RuleRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Creates or replaces a rule; returns whether it was new.
    pub async fn put_rule(&self, rule: &RuleRow, now: i64) -> Result<bool, StoreError> {
        self.write_tx(|mut tx| async move {
            let updated = sqlx::query(
                "UPDATE alert_rules SET event = $1, tasks = $2, task_group = $3, channels = $4, threshold_ms = $5, \
                 count = $6, silence_ms = $7, paused = $8, updated_at = $9 WHERE name = $10",
            )
            .bind(&rule.event)
            .bind(&rule.tasks)
            .bind(&rule.task_group)
            .bind(&rule.channels)
            .bind(rule.threshold_ms)
            .bind(rule.count)
            .bind(rule.silence_ms)
            .bind(rule.paused.0)
            .bind(now)
            .bind(&rule.name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                sqlx::query(
                    "INSERT INTO alert_rules (name, event, tasks, task_group, channels, threshold_ms, count, \
                     silence_ms, paused, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(&rule.name)
                .bind(&rule.event)
                .bind(&rule.tasks)
                .bind(&rule.task_group)
                .bind(&rule.channels)
                .bind(rule.threshold_ms)
                .bind(rule.count)
                .bind(rule.silence_ms)
                .bind(rule.paused.0)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            Ok((tx, updated == 0))
        })
        .await
    }

    /// Removes rule `name`; returns whether it existed.
    pub async fn delete_rule(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_named("alert_rules", name).await
    }

    async fn delete_named(&self, table: &'static str, name: &str) -> Result<bool, StoreError> {
        let sql = format!("DELETE FROM {table} WHERE name = $1");
        let sql = sql.as_str();
        self.write(|| async {
            Ok(sqlx::query(sql)
                .bind(name)
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0)
        })
        .await
    }

    /// The rules that apply now: not paused, and holding together (one that
    /// does not is skipped, and `carillon alert rule list` names why).
    pub async fn active_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        let mut connection = self.pool.acquire().await?;
        active_rules(&mut connection).await
    }

    /// Raises `alerts` (each once per rule, task and subject); returns how
    /// many were new.
    pub async fn raise_alerts(&self, alerts: &[NewAlert], now: i64) -> Result<usize, StoreError> {
        // Looks find the same long runs and stale slots again and again:
        // only the new ones take a write turn.
        let mut fresh = Vec::new();
        for alert in alerts {
            let known: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM alerts WHERE rule = $1 AND task = $2 AND subject = $3",
            )
            .bind(&alert.rule.name)
            .bind(&alert.task)
            .bind(&alert.subject)
            .fetch_optional(&self.pool)
            .await?;
            if known.is_none() {
                fresh.push(alert);
            }
        }
        if fresh.is_empty() {
            return Ok(0);
        }
        // In one order everywhere (see `raise`'s turns): no two hosts wait
        // on each other.
        fresh.sort_by(|a, b| (&a.rule.name, &a.task).cmp(&(&b.rule.name, &b.task)));
        let backend = self.backend;
        let fresh = &fresh;
        self.write_tx(|mut tx| async move {
            let mut raised = 0;
            for alert in fresh {
                raised += usize::from(raise(&mut tx, backend, alert, now).await?);
            }
            Ok((tx, raised))
        })
        .await
    }

    /// Alerts, newest first: in `state`, of `task`, with ids below `before`,
    /// of tasks in `visible_groups` if limited.
    pub async fn list_alerts(
        &self,
        state: Option<&str>,
        task: Option<&str>,
        before: Option<i64>,
        visible_groups: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<AlertRow>, StoreError> {
        let mut conditions = Vec::new();
        let mut texts = Vec::new();
        if let Some(state) = state {
            texts.push(state.to_owned());
            conditions.push(format!("state = ${}", texts.len()));
        }
        if let Some(task) = task {
            texts.push(task.to_owned());
            conditions.push(format!("task = ${}", texts.len()));
        }
        if let Some(before) = before {
            conditions.push(format!("id < {before}"));
        }
        match visible_groups {
            None => {}
            Some([]) => conditions.push("FALSE".to_owned()),
            Some(groups) => {
                let first = texts.len();
                texts.extend(groups.iter().cloned());
                conditions.push(format!(
                    "task IN (SELECT name FROM tasks WHERE task_group IN ({}))",
                    crate::store::sql::placeholders(first, groups.len())
                ));
            }
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts {filter} ORDER BY id DESC LIMIT {}",
            limit.max(0)
        );
        let mut query = sqlx::query_as(&sql);
        for text in &texts {
            query = query.bind(text);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Takes up to `limit` deliveries due (or whose holder's lease ran out)
    /// for `node`, for `lease`.
    pub async fn claim_deliveries(
        &self,
        node: &str,
        now: i64,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let due = "SELECT id FROM alert_deliveries WHERE (state = 'pending' AND next_at <= $1) \
             OR (state = 'sending' AND claimed_until < $1)";
        // Most looks find nothing: they take no write turn from the
        // scheduler then.
        let any: Option<i64> = sqlx::query_scalar(&format!("{due} LIMIT 1"))
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        let select = format!("{due} ORDER BY next_at LIMIT $2{}", self.skip_locked());
        let select = select.as_str();
        let claimed: Vec<(i64, i64, i64, String)> = self
            .write_tx(|mut tx| async move {
                let ids: Vec<i64> = sqlx::query_scalar(select)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut claimed = Vec::with_capacity(ids.len());
                for id in ids {
                    let row: (i64, i64, i64, String) = sqlx::query_as(
                        "UPDATE alert_deliveries SET state = 'sending', claimed_by = $1, claimed_until = $2, \
                         attempts = attempts + 1 WHERE id = $3 RETURNING id, attempts, alert_id, channel",
                    )
                    .bind(node)
                    .bind(now + lease.as_millis() as i64)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    claimed.push(row);
                }
                Ok((tx, claimed))
            })
            .await?;
        let mut due = Vec::with_capacity(claimed.len());
        for (id, attempts, alert_id, channel) in claimed {
            let alert: Option<AlertRow> =
                sqlx::query_as(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"))
                    .bind(alert_id)
                    .fetch_optional(&self.pool)
                    .await?;
            let Some(alert) = alert else { continue };
            let channel: Option<ChannelRow> = sqlx::query_as(&format!(
                "SELECT {CHANNEL_COLUMNS} FROM alert_channels WHERE name = $1"
            ))
            .bind(&channel)
            .fetch_optional(&self.pool)
            .await?;
            let keepers = self.keepers_of(&alert.task).await?;
            due.push(DueDelivery {
                id,
                attempts,
                alert,
                channel,
                keepers,
            });
        }
        Ok(due)
    }

    /// The keepers task `task` names.
    async fn keepers_of(&self, task: &str) -> Result<Vec<KeeperRow>, StoreError> {
        let names: Option<Option<String>> =
            sqlx::query_scalar("SELECT keepers FROM tasks WHERE name = $1")
                .bind(task)
                .fetch_optional(&self.pool)
                .await?;
        let names = names
            .flatten()
            .and_then(|text| parse_task_list(&text).ok())
            .unwrap_or_default();
        let mut keepers = Vec::new();
        for name in names {
            let keeper: Option<KeeperRow> = sqlx::query_as(
                "SELECT name, email, mobile, description FROM keepers WHERE name = $1",
            )
            .bind(&name)
            .fetch_optional(&self.pool)
            .await?;
            keepers.extend(keeper);
        }
        Ok(keepers)
    }

    /// Records how delivery `id`, held by `node`, went; then the alert's
    /// state once all its deliveries are over.
    pub async fn record_delivery(
        &self,
        id: i64,
        node: &str,
        outcome: &DeliveryOutcome,
        now: i64,
    ) -> Result<(), StoreError> {
        let backend = self.backend;
        self.write_tx(|mut tx| async move {
            // The alert's row is locked first: its deliveries, recorded at
            // once by this host or others, settle it one after another.
            let alert: Option<i64> =
                sqlx::query_scalar("SELECT alert_id FROM alert_deliveries WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(alert) = alert else {
                return Ok((tx, ()));
            };
            if backend == Backend::Postgres {
                sqlx::query("SELECT id FROM alerts WHERE id = $1 FOR UPDATE")
                    .bind(alert)
                    .execute(&mut *tx)
                    .await?;
            }
            let (state, next_at, error, delivered_at) = match outcome {
                DeliveryOutcome::Delivered => ("delivered", None, None, Some(now)),
                DeliveryOutcome::Retry { retry_at, error } => {
                    ("pending", Some(*retry_at), Some(error.as_str()), None)
                }
                DeliveryOutcome::Failed { error } => ("failed", None, Some(error.as_str()), None),
            };
            let recorded = sqlx::query(
                "UPDATE alert_deliveries SET state = $1, next_at = COALESCE($2, next_at), \
                 last_error = COALESCE($3, last_error), delivered_at = $4, claimed_by = NULL, claimed_until = NULL \
                 WHERE id = $5 AND claimed_by = $6 AND state = 'sending'",
            )
            .bind(state)
            .bind(next_at)
            .bind(error)
            .bind(delivered_at)
            .bind(id)
            .bind(node)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if recorded > 0 {
                settle_alert(&mut tx, alert, now).await?;
            }
            Ok((tx, ()))
        })
        .await
    }

    /// Runs running since before `before`: (id, task, group, started_at).
    pub async fn runs_running_since(
        &self,
        before: i64,
    ) -> Result<Vec<(i64, String, String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, task, task_group, started_at FROM runs WHERE state = 'running' \
             AND started_at IS NOT NULL AND started_at < $1",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?)
    }

    /// What may be stale at `before` (a slot due then or earlier): tasks
    /// not fired since a slot due by then (name, group, slot), runs pending
    /// since then that no host started (run, task, group, due), and tasks
    /// the host does not schedule because of an error (name, group,
    /// revision, error).
    #[allow(clippy::type_complexity)]
    pub async fn stale_candidates(
        &self,
        before: i64,
    ) -> Result<
        (
            Vec<(String, String, i64)>,
            Vec<(i64, String, String, i64)>,
            Vec<(String, String, i64, String)>,
        ),
        StoreError,
    > {
        let unfired = sqlx::query_as(
            "SELECT name, task_group, next_fire_at FROM tasks WHERE next_fire_at IS NOT NULL \
             AND next_fire_at < $1 AND NOT paused",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        let unstarted = sqlx::query_as(
            "SELECT id, task, task_group, not_before FROM runs WHERE state = 'pending' AND not_before < $1",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        let blocked = sqlx::query_as(
            "SELECT name, task_group, revision, error FROM tasks WHERE error IS NOT NULL AND NOT paused \
             AND (error_code IS NULL OR error_code NOT IN ('finished', 'manual'))",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok((unfired, unstarted, blocked))
    }
}

/// The rules that apply now, read on `connection`.
pub(crate) async fn active_rules(
    connection: &mut sqlx::AnyConnection,
) -> Result<Vec<AlertRule>, StoreError> {
    let rows: Vec<RuleRow> = sqlx::query_as(&format!(
        "SELECT {RULE_COLUMNS} FROM alert_rules WHERE NOT paused"
    ))
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows.iter().filter_map(|row| row.rule().ok()).collect())
}

/// Raises `alert` in `tx`: once per rule, task and subject; suppressed
/// within the rule's silence window after the last alert of the rule for
/// the task, else queued to each of its channels. Returns whether it was
/// new.
pub(crate) async fn raise(
    tx: &mut Tx,
    backend: Backend,
    alert: &NewAlert,
    now: i64,
) -> Result<bool, StoreError> {
    let rule = &alert.rule;
    if backend == Backend::Postgres {
        // Hosts raising alerts of one rule for one task take turns, so the
        // silence window holds across them.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("carillon alert {}\u{1f}{}", rule.name, alert.task))
            .execute(&mut **tx)
            .await?;
    }
    let last: Option<(i64, i64)> = sqlx::query_as(
        "SELECT id, raised_at FROM alerts WHERE rule = $1 AND task = $2 AND state <> 'suppressed' \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(&rule.name)
    .bind(&alert.task)
    .fetch_optional(&mut **tx)
    .await?;
    let silenced = rule.silence_ms > 0 && last.is_some_and(|(_, at)| at > now - rule.silence_ms);
    let suppressed_before: i64 = if silenced {
        0
    } else {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM alerts WHERE rule = $1 AND task = $2 AND state = 'suppressed' AND id > $3",
        )
        .bind(&rule.name)
        .bind(&alert.task)
        .bind(last.map_or(0, |(id, _)| id))
        .fetch_one(&mut **tx)
        .await?
    };
    let state = if silenced { "suppressed" } else { "pending" };
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO alerts (rule, event, task, run_id, subject, message, state, suppressed_before, raised_at, finished_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (rule, task, subject) DO NOTHING RETURNING id",
    )
    .bind(&rule.name)
    .bind(rule.event.as_str())
    .bind(&alert.task)
    .bind(alert.run_id)
    .bind(&alert.subject)
    .bind(&alert.message)
    .bind(state)
    .bind(suppressed_before)
    .bind(now)
    .bind(silenced.then_some(now))
    .fetch_optional(&mut **tx)
    .await?;
    let Some(id) = id else {
        return Ok(false);
    };
    if !silenced {
        for channel in &rule.channels {
            sqlx::query(
                "INSERT INTO alert_deliveries (alert_id, channel, state, next_at) VALUES ($1, $2, 'pending', $3) \
                 ON CONFLICT (alert_id, channel) DO NOTHING",
            )
            .bind(id)
            .bind(channel)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(true)
}

/// An alert whose deliveries are all over becomes `delivered` (every one
/// arrived) or `failed`.
async fn settle_alert(tx: &mut Tx, alert: i64, now: i64) -> Result<(), StoreError> {
    let states: Vec<String> =
        sqlx::query_scalar("SELECT state FROM alert_deliveries WHERE alert_id = $1")
            .bind(alert)
            .fetch_all(&mut **tx)
            .await?;
    if states.iter().any(|s| s == "pending" || s == "sending") {
        return Ok(());
    }
    let state = if states.iter().all(|s| s == "delivered") {
        "delivered"
    } else {
        "failed"
    };
    sqlx::query("UPDATE alerts SET state = $1, finished_at = $2 WHERE id = $3")
        .bind(state)
        .bind(now)
        .bind(alert)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What a run's end says, for its alert.
pub(crate) fn end_message(
    event: AlertEvent,
    run: i64,
    attempt: i64,
    error: Option<&str>,
) -> String {
    let why = error.unwrap_or("no reason recorded");
    match event {
        AlertEvent::TimedOut => {
            format!("run {run} timed out after {attempt} attempt(s): {why}")
        }
        AlertEvent::Orphaned => format!("run {run} was orphaned (its host stopped): {why}"),
        _ => format!("run {run} failed for good after {attempt} attempt(s): {why}"),
    }
}

/// `30s`, `5m` for a threshold in ms.
pub(crate) fn shown(ms: i64) -> String {
    format_duration(Duration::from_millis(ms.max(0) as u64))
}
