//! `misfires`: the slots the misfire policy did not turn into runs, for
//! listings (the scheduler writes them in its fire transaction).

use serde::Serialize;

use crate::store::{Store, StoreError};

/// A recorded misfire: a run of missed slots of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct MisfireRow {
    /// Increasing id.
    pub id: i64,
    /// The task.
    pub task: String,
    /// The first missed slot (ms).
    pub first_slot: i64,
    /// The last missed slot (ms).
    pub last_slot: i64,
    /// How many slots were missed.
    pub missed: i64,
    /// The policy that decided (`skip`, `fire-now`, `catch-up:N`).
    pub policy: String,
    /// When it was recorded (ms).
    pub recorded_at: i64,
}

impl Store {
    /// Misfires, newest first: of `task` if given, below id `before` if
    /// given, of tasks in `visible_groups` if limited; at most `limit`.
    pub async fn list_misfires(
        &self,
        task: Option<&str>,
        before: Option<i64>,
        visible_groups: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<MisfireRow>, StoreError> {
        let groups = visible_groups.unwrap_or_default();
        let limited = match visible_groups {
            None => String::new(),
            Some([]) => " AND FALSE".to_owned(),
            Some(_) => format!(
                " AND task IN (SELECT name FROM tasks WHERE task_group IN ({}))",
                crate::store::sql::placeholders(3, groups.len())
            ),
        };
        let sql = format!(
            "SELECT id, task, first_slot, last_slot, missed, policy, recorded_at FROM misfires \
             WHERE ($1 IS NULL OR task = $1) AND ($2 IS NULL OR id < $2){limited} \
             ORDER BY id DESC LIMIT $3"
        );
        let mut query = sqlx::query_as(&sql)
            .bind(task)
            .bind(before)
            .bind(limit.max(1));
        for group in groups {
            query = query.bind(group);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }
}
