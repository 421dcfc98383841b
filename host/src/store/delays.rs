//! `delays` and `delay_attempts`: delay tasks and every attempt at their
//! callbacks. Creating one is insert-if-absent on (topic, key); due ones are
//! taken by one statement per batch (`SKIP LOCKED` on PostgreSQL, so each is
//! taken by one host of a cluster); the outcomes of a batch of attempts are
//! written in one transaction, and only by the host that holds the delay.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::Row;

use crate::store::sql::row_placeholders;
use crate::store::{Store, StoreError};
use crate::vocab::{Callback, DelayState, NewDelay, NextStep};

/// A delay as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DelayRow {
    /// Row id.
    pub id: i64,
    /// Its topic.
    pub topic: String,
    /// Its key within the topic.
    pub key: String,
    /// When its next attempt is due (ms).
    pub due_at: i64,
    /// What it calls.
    pub callback: Callback,
    /// Retries allowed after the first attempt.
    pub retries: i64,
    /// Its state.
    pub state: DelayState,
    /// Attempts made (or being made).
    pub attempts: i64,
    /// The host delivering it, while it is.
    pub node: Option<String>,
    /// The status of the last answer.
    pub last_status: Option<i64>,
    /// Why the last attempt had no answer, or why it was not made.
    pub last_error: Option<String>,
    /// When it was stored (ms).
    pub created_at: i64,
    /// When it ended (ms).
    pub finished_at: Option<i64>,
}

/// A delay to create, and what to write in the audit log if it is new.
#[derive(Debug, Clone)]
pub struct DelayCreation {
    /// The delay.
    pub delay: NewDelay,
    /// The audit entry, for a creation made through the API.
    pub audit: Option<DelayAudit>,
}

/// The audit entry of a new delay; its target is `topic/key`, its time
/// the creation's.
#[derive(Debug, Clone)]
pub struct DelayAudit {
    /// Who created it.
    pub actor: String,
    /// What the log calls it (`delay.create`).
    pub action: &'static str,
    /// The stored delay as the log keeps it (JSON).
    pub after: fn(&DelayRow) -> Option<String>,
}

/// A row of `delays` as read.
#[derive(sqlx::FromRow)]
struct StoredDelay {
    id: i64,
    topic: String,
    key: String,
    due_at: i64,
    url: String,
    method: String,
    headers: Option<String>,
    body: Option<String>,
    content_type: Option<String>,
    retries: i64,
    state: String,
    attempts: i64,
    node: Option<String>,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    finished_at: Option<i64>,
}

/// At most this many delays are created by one statement (10 values each).
const CREATE_CHUNK: usize = 500;

const DELAY_COLUMNS: &str = "id, topic, key, due_at, url, method, headers, body, content_type, retries, \
    state, attempts, node, last_status, last_error, created_at, finished_at";

impl StoredDelay {
    /// The row; headers that are not a JSON object of strings (plain SQL may
    /// write anything valid as JSON) are an error the caller records.
    fn read(self) -> Result<(DelayRow, Result<(), String>), StoreError> {
        let (headers, headers_ok) = match self.headers.as_deref().map(parse_headers) {
            None => (BTreeMap::new(), Ok(())),
            Some(Ok(headers)) => (headers, Ok(())),
            Some(Err(error)) => (BTreeMap::new(), Err(error)),
        };
        let state = self
            .state
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("delay {}/{}: {e}", self.topic, self.key)))?;
        Ok((
            DelayRow {
                id: self.id,
                topic: self.topic,
                key: self.key,
                due_at: self.due_at,
                callback: Callback {
                    url: self.url,
                    method: self.method,
                    headers,
                    body: self.body,
                    content_type: self.content_type,
                },
                retries: self.retries,
                state,
                attempts: self.attempts,
                node: self.node,
                last_status: self.last_status,
                last_error: self.last_error,
                created_at: self.created_at,
                finished_at: self.finished_at,
            },
            headers_ok,
        ))
    }
}

fn parse_headers(text: &str) -> Result<BTreeMap<String, String>, String> {
    serde_json::from_str(text).map_err(|_| {
        "headers is not a JSON object of strings (write e.g. {\"X-Token\": \"abc\"})".to_owned()
    })
}

/// A delay taken for delivery, and whether its row can be called as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelay {
    /// The delay, `delivering` on this host, `attempts` counting this one.
    pub delay: DelayRow,
    /// What is wrong with the row, if anything (then it is not called).
    pub problem: Option<String>,
}

/// An attempt made, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The delay.
    pub delay_id: i64,
    /// Which attempt (from 1).
    pub attempt: i64,
    /// When it was due (ms).
    pub due_at: i64,
    /// When it was made and ended (ms).
    pub started_at: i64,
    /// When it ended (ms).
    pub finished_at: i64,
    /// The answer's status.
    pub status: Option<i64>,
    /// Why there was no answer, or none was asked for.
    pub error: Option<String>,
    /// What follows.
    pub next: NextStep,
}

/// An attempt as listed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DelayAttempt {
    /// Which attempt (from 1).
    pub attempt: i64,
    /// The host that made it.
    pub node: String,
    /// When it was due (ms).
    pub due_at: i64,
    /// When it was made (ms).
    pub started_at: i64,
    /// When it ended (ms).
    pub finished_at: i64,
    /// The answer's status.
    pub status: Option<i64>,
    /// Why there was no answer.
    pub error: Option<String>,
}

/// What asking to cancel a delay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelDelay {
    /// It was pending and is now cancelled.
    Cancelled(DelayRow),
    /// It is not pending (being called, or over): nothing changed.
    NotPending(DelayRow),
    /// There is no such delay.
    Missing,
}

/// Which delays to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DelayFilter {
    /// Only this topic.
    pub topic: Option<String>,
    /// Only in this state.
    pub state: Option<DelayState>,
    /// Only ids below this one (the next page).
    pub before_id: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

impl Store {
    /// Stores `delay` created at `now` unless its (topic, key) exists.
    /// Returns the stored row and whether it is new.
    pub async fn create_delay(
        &self,
        delay: &NewDelay,
        now: i64,
    ) -> Result<(DelayRow, bool), StoreError> {
        let creation = DelayCreation {
            delay: delay.clone(),
            audit: None,
        };
        let mut stored = self
            .create_delays(std::slice::from_ref(&creation), now)
            .await?;
        stored.pop().ok_or_else(|| {
            StoreError::Corrupt(format!(
                "delay {}/{} vanished as it was stored",
                delay.topic, delay.key
            ))
        })
    }

    /// Stores each delay unless its (topic, key) exists, with the audit
    /// entry of each new one, all in one transaction (so that creations
    /// arriving together share one commit). Returns, in order, each stored
    /// row and whether it is new.
    pub async fn create_delays(
        &self,
        creations: &[DelayCreation],
        now: i64,
    ) -> Result<Vec<(DelayRow, bool)>, StoreError> {
        let mut stored = Vec::with_capacity(creations.len());
        for chunk in creations.chunks(CREATE_CHUNK) {
            stored.extend(self.create_chunk(chunk, now).await?);
        }
        Ok(stored)
    }

    /// [`create_delays`](Self::create_delays) for at most [`CREATE_CHUNK`]:
    /// three statements whatever their number (insert, read back, audit).
    async fn create_chunk(
        &self,
        creations: &[DelayCreation],
        now: i64,
    ) -> Result<Vec<(DelayRow, bool)>, StoreError> {
        let backend = self.backend;
        self.write_tx(|mut tx| async move {
            let insert = format!(
                "INSERT INTO delays (topic, key, due_at, url, method, headers, body, content_type, retries, created_at) \
                 VALUES {} ON CONFLICT (topic, key) DO NOTHING RETURNING topic, key",
                row_placeholders(backend, creations.len(), 10)
            );
            let mut query = sqlx::query(&insert);
            for DelayCreation { delay, .. } in creations {
                let headers = (!delay.callback.headers.is_empty())
                    .then(|| serde_json::to_string(&delay.callback.headers).unwrap_or_default());
                query = query
                    .bind(&delay.topic)
                    .bind(&delay.key)
                    .bind(delay.due_at)
                    .bind(&delay.callback.url)
                    .bind(&delay.callback.method)
                    .bind(headers)
                    .bind(delay.callback.body.clone())
                    .bind(delay.callback.content_type.clone())
                    .bind(i64::from(delay.retries))
                    .bind(now);
            }
            let mut inserted: HashSet<(String, String)> = query
                .try_map(|row: sqlx::any::AnyRow| Ok((row.try_get(0)?, row.try_get(1)?)))
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();

            let select = format!(
                "SELECT {DELAY_COLUMNS} FROM delays WHERE (topic, key) IN (VALUES {})",
                row_placeholders(backend, creations.len(), 2)
            );
            let mut query = sqlx::query_as::<_, StoredDelay>(&select);
            for DelayCreation { delay, .. } in creations {
                query = query.bind(&delay.topic).bind(&delay.key);
            }
            let mut found: HashMap<(String, String), DelayRow> = HashMap::new();
            for stored in query.fetch_all(&mut *tx).await? {
                let (row, _) = stored.read()?;
                found.insert((row.topic.clone(), row.key.clone()), row);
            }

            // The first creation of a key sent twice is the one that made it.
            let mut stored = Vec::with_capacity(creations.len());
            let mut audited = Vec::new();
            for DelayCreation { delay, audit } in creations {
                let key = (delay.topic.clone(), delay.key.clone());
                let Some(row) = found.get(&key) else {
                    return Err(StoreError::Corrupt(format!(
                        "delay {}/{} vanished as it was stored",
                        delay.topic, delay.key
                    )));
                };
                let created = inserted.remove(&key);
                if let (true, Some(audit)) = (created, audit) {
                    audited.push((audit, row));
                }
                stored.push((row.clone(), created));
            }
            if !audited.is_empty() {
                let insert = format!(
                    "INSERT INTO audit (at, actor, action, target, before, after) VALUES {}",
                    row_placeholders(backend, audited.len(), 6)
                );
                let mut query = sqlx::query(&insert);
                for (audit, row) in &audited {
                    query = query
                        .bind(now)
                        .bind(&audit.actor)
                        .bind(audit.action)
                        .bind(format!("{}/{}", row.topic, row.key))
                        .bind(None::<String>)
                        .bind((audit.after)(row));
                }
                query.execute(&mut *tx).await?;
            }
            Ok((tx, stored))
        })
        .await
    }

    /// The delay of `topic` and `key`.
    pub async fn delay(&self, topic: &str, key: &str) -> Result<Option<DelayRow>, StoreError> {
        let found: Option<StoredDelay> = sqlx::query_as(&format!(
            "SELECT {DELAY_COLUMNS} FROM delays WHERE topic = $1 AND key = $2"
        ))
        .bind(topic)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found
            .map(StoredDelay::read)
            .transpose()?
            .map(|(row, _)| row))
    }

    /// Delays matching `filter`, newest first.
    pub async fn list_delays(&self, filter: &DelayFilter) -> Result<Vec<DelayRow>, StoreError> {
        let mut conditions = Vec::new();
        let mut next = 1;
        let mut placeholder = || {
            let p = format!("${next}");
            next += 1;
            p
        };
        if filter.topic.is_some() {
            conditions.push(format!("topic = {}", placeholder()));
        }
        if filter.state.is_some() {
            conditions.push(format!("state = {}", placeholder()));
        }
        if filter.before_id.is_some() {
            conditions.push(format!("id < {}", placeholder()));
        }
        let limit = placeholder();
        let condition = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql =
            format!("SELECT {DELAY_COLUMNS} FROM delays{condition} ORDER BY id DESC LIMIT {limit}");
        let mut query = sqlx::query_as::<_, StoredDelay>(&sql);
        if let Some(topic) = &filter.topic {
            query = query.bind(topic);
        }
        if let Some(state) = filter.state {
            query = query.bind(state.as_str());
        }
        if let Some(before) = filter.before_id {
            query = query.bind(before);
        }
        let rows = query.bind(filter.limit).fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|row| row.read().map(|(row, _)| row))
            .collect()
    }

    /// Every attempt at delay `id`, in order.
    pub async fn delay_attempts(&self, id: i64) -> Result<Vec<DelayAttempt>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT attempt, node, due_at, started_at, finished_at, status, error FROM delay_attempts \
             WHERE delay_id = $1 ORDER BY attempt",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Cancels the delay of `topic` and `key` if it is still pending.
    pub async fn cancel_delay(
        &self,
        topic: &str,
        key: &str,
        now: i64,
    ) -> Result<CancelDelay, StoreError> {
        let changed = self
            .write_rows(
                "UPDATE delays SET state = 'cancelled', finished_at = $3 \
                 WHERE topic = $1 AND key = $2 AND state = 'pending'",
                |query| query.bind(topic).bind(key).bind(now),
            )
            .await?;
        Ok(match self.delay(topic, key).await? {
            None => CancelDelay::Missing,
            Some(row) if changed > 0 => CancelDelay::Cancelled(row),
            Some(row) => CancelDelay::NotPending(row),
        })
    }

    /// Takes up to `limit` pending delays due by `now` for `node`: they
    /// become `delivering` there with one more attempt counted.
    pub async fn take_due_delays(
        &self,
        node: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<DueDelay>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let sql = format!(
            "UPDATE delays SET state = 'delivering', node = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM delays WHERE state = 'pending' AND due_at <= $2 \
             ORDER BY due_at LIMIT $3{}) RETURNING {DELAY_COLUMNS}",
            self.skip_locked()
        );
        let rows: Vec<StoredDelay> = self
            .write(|| async {
                Ok(sqlx::query_as(&sql)
                    .bind(node)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            })
            .await?;
        let mut due = rows
            .into_iter()
            .map(|row| {
                row.read().map(|(delay, headers)| DueDelay {
                    delay,
                    problem: headers.err(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        due.sort_by_key(|d| (d.delay.due_at, d.delay.id));
        Ok(due)
    }

    /// When the next pending delay is due, if any is.
    pub async fn next_delay_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT MIN(due_at) FROM delays WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Records attempts `node` made and moves each delay on, in one
    /// transaction; a delay no longer `delivering` on `node` (a host that
    /// took over after this one was thought dead) keeps its state, though
    /// the attempt is recorded. Returns how many delays moved on.
    pub async fn record_delay_attempts(
        &self,
        node: &str,
        attempts: &[AttemptRecord],
    ) -> Result<u64, StoreError> {
        if attempts.is_empty() {
            return Ok(0);
        }
        self.write_tx(|mut tx| async move {
            let mut moved = 0;
            for record in attempts {
                sqlx::query(
                    "INSERT INTO delay_attempts (delay_id, attempt, node, due_at, started_at, finished_at, status, error) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (delay_id, attempt) DO NOTHING",
                )
                .bind(record.delay_id)
                .bind(record.attempt)
                .bind(node)
                .bind(record.due_at)
                .bind(record.started_at)
                .bind(record.finished_at)
                .bind(record.status)
                .bind(record.error.clone())
                .execute(&mut *tx)
                .await?;
                let (state, due_at, finished_at) = match record.next {
                    NextStep::Succeeded => (DelayState::Succeeded, record.due_at, Some(record.finished_at)),
                    NextStep::Failed => (DelayState::Failed, record.due_at, Some(record.finished_at)),
                    NextStep::RetryAt(at) => (DelayState::Pending, at, None),
                };
                moved += sqlx::query(
                    "UPDATE delays SET state = $1, due_at = $2, finished_at = $3, node = NULL, \
                     last_status = $4, last_error = $5 \
                     WHERE id = $6 AND state = 'delivering' AND node = $7",
                )
                .bind(state.as_str())
                .bind(due_at)
                .bind(finished_at)
                .bind(record.status)
                .bind(record.error.clone())
                .bind(record.delay_id)
                .bind(node)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            Ok((tx, moved))
        })
        .await
    }

    /// Gives back delays being delivered by hosts that stopped: `previous`
    /// (this host's previous process, at start; else empty) and any host
    /// but `me` whose last heartbeat is before `alive_after`. They become
    /// pending again; the attempt in flight counts, and says so. Returns
    /// how many.
    pub async fn rescue_delays(
        &self,
        previous: &str,
        me: &str,
        alive_after: i64,
    ) -> Result<u64, StoreError> {
        self.write_rows(
            "UPDATE delays SET state = 'pending', \
             last_error = 'the host ' || node || ' stopped during this attempt', node = NULL \
             WHERE state = 'delivering' AND (node = $1 OR (node <> $2 AND node NOT IN \
             (SELECT id FROM nodes WHERE heartbeat_at >= $3)))",
            |query| query.bind(previous).bind(me).bind(alive_after),
        )
        .await
    }
}
