//! Listing the `tasks` table a page at a time, filtered: by name substring
//! (case-insensitive), group, module and state, and limited to the groups a
//! caller may see. Pages follow the name (keyset), so the thousandth page
//! costs what the first does. The same filter pauses, resumes or deletes
//! every task it matches in one statement (bulk actions).

use crate::store::task_rows::read_task;
use crate::store::{Backend, Store, StoreError};
use crate::vocab::{TaskRow, TaskState};

/// Which tasks to list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Names containing this (any case).
    pub name_contains: Option<String>,
    /// Only this group.
    pub group: Option<String>,
    /// Only this module.
    pub module: Option<String>,
    /// Only in this state.
    pub state: Option<TaskState>,
    /// Only these groups (what the caller may see); `None`: every group.
    pub visible_groups: Option<Vec<String>>,
    /// Only tasks of these names (a selection); `None`: any name.
    pub names: Option<Vec<String>>,
}

/// A page of tasks.
#[derive(Debug, Clone)]
pub struct TaskPage {
    /// The tasks, by name.
    pub tasks: Vec<TaskRow>,
    /// Where the next page starts (its last name), if there is one.
    pub next_after: Option<String>,
    /// How many match the filter in all, up to [`TOTAL_CAP`].
    pub total: i64,
    /// Whether more than [`TOTAL_CAP`] match.
    pub total_capped: bool,
}

/// Matches are counted up to this many.
pub(crate) const TOTAL_CAP: i64 = 10_000;

/// A value bound to a filter's placeholder.
enum Value {
    Text(String),
    Flag(bool),
}

impl TaskFilter {
    /// The `WHERE` conditions (joined with AND, or `TRUE`) and their values.
    fn conditions(&self, backend: Backend) -> (String, Vec<Value>) {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        let next = |value: Value, values: &mut Vec<Value>| {
            values.push(value);
            format!("${}", values.len())
        };
        if let Some(part) = &self.name_contains {
            let p = next(Value::Text(part.to_lowercase()), &mut values);
            conditions.push(match backend {
                Backend::Sqlite => format!("instr(lower(name), {p}) > 0"),
                Backend::Postgres => format!("strpos(lower(name), {p}) > 0"),
            });
        }
        if let Some(group) = &self.group {
            conditions.push(format!(
                "task_group = {}",
                next(Value::Text(group.clone()), &mut values)
            ));
        }
        if let Some(module) = &self.module {
            conditions.push(format!(
                "module = {}",
                next(Value::Text(module.clone()), &mut values)
            ));
        }
        if let Some(names) = &self.names {
            if names.is_empty() {
                conditions.push("FALSE".to_owned());
            } else {
                let list: Vec<String> = names
                    .iter()
                    .map(|n| next(Value::Text(n.clone()), &mut values))
                    .collect();
                conditions.push(format!("name IN ({})", list.join(", ")));
            }
        }
        if let Some(groups) = &self.visible_groups {
            if groups.is_empty() {
                conditions.push("FALSE".to_owned());
            } else {
                let list: Vec<String> = groups
                    .iter()
                    .map(|g| next(Value::Text(g.clone()), &mut values))
                    .collect();
                conditions.push(format!("task_group IN ({})", list.join(", ")));
            }
        }
        if let Some(state) = self.state {
            let paused = next(Value::Flag(true), &mut values);
            conditions.push(match state {
                TaskState::Paused => format!("paused = {paused}"),
                TaskState::Active => format!("paused <> {paused} AND error IS NULL"),
                TaskState::Finished => {
                    format!("paused <> {paused} AND error_code = 'finished'")
                }
                TaskState::Error => format!(
                    "paused <> {paused} AND error IS NOT NULL \
                     AND (error_code IS NULL OR error_code <> 'finished')"
                ),
            });
        }
        let conditions = if conditions.is_empty() {
            "TRUE".to_owned()
        } else {
            conditions.join(" AND ")
        };
        (conditions, values)
    }
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    values: &'q [Value],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for value in values {
        query = match value {
            Value::Text(text) => query.bind(text.as_str()),
            Value::Flag(flag) => query.bind(*flag),
        };
    }
    query
}

impl Store {
    /// At most `limit` tasks matching `filter` whose names sort after
    /// `after`, by name, with the total that match.
    pub async fn list_task_page(
        &self,
        filter: &TaskFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<TaskPage, StoreError> {
        let limit = limit.clamp(1, 1000);
        let (conditions, values) = filter.conditions(self.backend);
        // Counting stops past the cap, so a page of a huge table does not
        // pay for counting all of it.
        let counted: i64 = bind_all(
            sqlx::query(&format!(
                "SELECT COUNT(*) AS n FROM (SELECT 1 FROM tasks WHERE {conditions} LIMIT {}) AS m",
                TOTAL_CAP + 1
            )),
            &values,
        )
        .fetch_one(&self.pool)
        .await
        .and_then(|row| sqlx::Row::try_get(&row, "n"))?;
        let after_at = values.len() + 1;
        let sql = self.task_select(&format!(
            "WHERE {conditions} AND (${after_at} IS NULL OR name > ${after_at}) \
             ORDER BY name LIMIT ${}",
            after_at + 1
        ));
        let rows = bind_all(sqlx::query(&sql), &values)
            .bind(after)
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await?;
        let mut tasks: Vec<TaskRow> = rows.iter().map(|row| read_task(row).task).collect();
        let next_after = if tasks.len() as i64 > limit {
            tasks.truncate(limit as usize);
            tasks.last().map(|t| t.spec.name.clone())
        } else {
            None
        };
        Ok(TaskPage {
            tasks,
            next_after,
            total: counted.min(TOTAL_CAP),
            total_capped: counted > TOTAL_CAP,
        })
    }
}

impl Store {
    /// Pauses (or resumes) every task matching `filter`; returns how many
    /// changed.
    pub async fn set_paused_where(
        &self,
        filter: &TaskFilter,
        paused: bool,
    ) -> Result<u64, StoreError> {
        let (conditions, values) = filter.conditions(self.backend);
        let sql = format!(
            "UPDATE tasks SET paused = ${} WHERE {conditions} AND paused <> ${}",
            values.len() + 1,
            values.len() + 1
        );
        self.write(|| async {
            Ok(bind_all(sqlx::query(&sql), &values)
                .bind(paused)
                .execute(&self.pool)
                .await?
                .rows_affected())
        })
        .await
    }

    /// Deletes every task matching `filter` (their runs and logs stay);
    /// returns how many.
    pub async fn delete_where(&self, filter: &TaskFilter) -> Result<u64, StoreError> {
        let (conditions, values) = filter.conditions(self.backend);
        let sql = format!("DELETE FROM tasks WHERE {conditions}");
        self.write(|| async {
            Ok(bind_all(sqlx::query(&sql), &values)
                .execute(&self.pool)
                .await?
                .rows_affected())
        })
        .await
    }
}
