//! `calendars`: the named calendars tasks refer to by their `calendar`
//! column, as rows (what they mean is `schedule::calendar`'s), and the
//! rescheduling of the tasks whose calendar changed.

use serde::Serialize;

use crate::schedule::CalendarRow;
use crate::store::{Store, StoreError};
use crate::vocab::TaskErrorKind;

/// A calendar as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CalendarRecord {
    /// The name tasks refer to it by.
    pub name: String,
    /// annual, holiday, monthly, weekly, daily or cron.
    pub kind: String,
    /// What it excludes, in its kind's words.
    pub excludes: String,
    /// The calendar under it, if any.
    pub base: Option<String>,
    /// The zone it is read in; unset: the task's.
    pub time_zone: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// When it was created (ms).
    pub created_at: i64,
    /// When it was last set (ms).
    pub updated_at: i64,
}

impl CalendarRecord {
    /// The columns that decide what it excludes.
    pub fn row(&self) -> CalendarRow {
        CalendarRow {
            name: self.name.clone(),
            kind: self.kind.clone(),
            excludes: self.excludes.clone(),
            base: self.base.clone(),
            time_zone: self.time_zone.clone(),
        }
    }
}

const COLUMNS: &str = "name, kind, excludes, base, time_zone, description, created_at, updated_at";

impl Store {
    /// Every calendar, by name.
    pub async fn list_calendars(&self) -> Result<Vec<CalendarRecord>, StoreError> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM calendars ORDER BY name"))
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The columns that decide what each calendar excludes, by name: what
    /// the scheduler rereads on each pass.
    pub async fn calendar_rows(&self) -> Result<Vec<CalendarRow>, StoreError> {
        Ok(self
            .list_calendars()
            .await?
            .iter()
            .map(CalendarRecord::row)
            .collect())
    }

    /// Calendar `name`, if it exists.
    pub async fn get_calendar(&self, name: &str) -> Result<Option<CalendarRecord>, StoreError> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM calendars WHERE name = $1"))
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Creates or replaces calendar `record.name` (its `created_at` is kept
    /// when it exists); true if it is new.
    pub async fn put_calendar(&self, record: &CalendarRecord) -> Result<bool, StoreError> {
        let existed = self.get_calendar(&record.name).await?.is_some();
        self.write_rows(
            "INSERT INTO calendars (name, kind, excludes, base, time_zone, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, excludes = excluded.excludes, \
             base = excluded.base, time_zone = excluded.time_zone, description = excluded.description, \
             updated_at = excluded.updated_at",
            |query| {
                query
                    .bind(&record.name)
                    .bind(&record.kind)
                    .bind(&record.excludes)
                    .bind(&record.base)
                    .bind(&record.time_zone)
                    .bind(&record.description)
                    .bind(record.created_at)
                    .bind(record.updated_at)
            },
        )
        .await?;
        Ok(!existed)
    }

    /// Removes calendar `name`; true if it existed.
    pub async fn delete_calendar(&self, name: &str) -> Result<bool, StoreError> {
        let removed = self
            .write_rows("DELETE FROM calendars WHERE name = $1", |query| {
                query.bind(name)
            })
            .await?;
        Ok(removed > 0)
    }

    /// The names of the tasks that use calendar `name` directly, by name.
    pub async fn tasks_using_calendar(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM tasks WHERE calendar = $1 ORDER BY name")
                .bind(name)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(name,)| name).collect())
    }

    /// After calendars `names` changed: the tasks using them that were
    /// blocked by their calendar may be scheduled again, and those with a
    /// next fire time after `now` get it recomputed under the new calendar
    /// (a slot already due keeps it: the fire checks it against the
    /// calendar then). With `recompute` false only the blocked are let go.
    pub async fn reschedule_calendar_tasks(
        &self,
        names: &[String],
        now: i64,
        recompute: bool,
    ) -> Result<u64, StoreError> {
        let mut changed = 0;
        for name in names {
            changed += self
                .write_rows(
                    "UPDATE tasks SET error = NULL, error_code = NULL WHERE calendar = $1 AND error_code = $2",
                    |query| query.bind(name).bind(TaskErrorKind::Calendar.as_str()),
                )
                .await?;
            if recompute {
                changed += self
                    .write_rows(
                        "UPDATE tasks SET next_fire_at = NULL WHERE calendar = $1 AND next_fire_at > $2",
                        |query| query.bind(name).bind(now),
                    )
                    .await?;
            }
        }
        Ok(changed)
    }
}
