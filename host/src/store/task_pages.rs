//! Listing the `tasks` table a page at a time, filtered: by name substring
//! (case-insensitive), group, module and state, and limited to the groups a
//! caller may see. Pages follow the name, or a column then the name
//! (keyset), so the thousandth page costs what the first does. The same filter pauses, resumes or deletes
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

/// The order of a task listing; ties are broken by name, so every order
/// is total and pages follow it (keyset) at any depth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TaskOrder {
    /// By name (the index the table is kept in).
    #[default]
    Name,
    /// By name, last first.
    NameDescending,
    /// By group, then name.
    Group,
    /// By module, then name.
    Module,
    /// Soonest next fire first; tasks with none (paused, ended, in error)
    /// last.
    NextFire,
}

impl TaskOrder {
    /// The SQL this order sorts by before the name, if any.
    fn key(self) -> Option<&'static str> {
        match self {
            TaskOrder::Name | TaskOrder::NameDescending => None,
            TaskOrder::Group => Some("task_group"),
            TaskOrder::Module => Some("module"),
            TaskOrder::NextFire => Some("COALESCE(next_fire_at, 9223372036854775807)"),
        }
    }

    /// `task`'s value of this order's key.
    fn key_of(self, task: &TaskRow) -> SortKey {
        match self {
            TaskOrder::Name | TaskOrder::NameDescending => SortKey::None,
            TaskOrder::Group => SortKey::Text(task.spec.group.clone()),
            TaskOrder::Module => SortKey::Text(task.spec.module.clone()),
            TaskOrder::NextFire => SortKey::Number(task.next_fire_at.unwrap_or(i64::MAX)),
        }
    }
}

/// The value a listing was sorted by before the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    /// Sorted by name alone.
    None,
    /// A text column.
    Text(String),
    /// A number column.
    Number(i64),
}

/// Where a page starts: after the task with this key and name, in the
/// listing's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCursor {
    /// The order's key of the last task of the page before.
    pub key: SortKey,
    /// Its name.
    pub name: String,
}

impl TaskCursor {
    /// The cursor as the text a client sends back: the name alone for an
    /// order by name, else `[key, name]` in JSON.
    pub fn to_text(&self) -> String {
        match &self.key {
            SortKey::None => self.name.clone(),
            SortKey::Text(text) => serde_json::json!([text, self.name]).to_string(),
            SortKey::Number(number) => serde_json::json!([number, self.name]).to_string(),
        }
    }

    /// Reads a cursor written by [`TaskCursor::to_text`] for `order`; `None`
    /// if it is not one.
    pub fn from_text(order: TaskOrder, text: &str) -> Option<TaskCursor> {
        let Some(_) = order.key() else {
            return Some(TaskCursor {
                key: SortKey::None,
                name: text.to_owned(),
            });
        };
        let (key, name): (serde_json::Value, String) = serde_json::from_str(text).ok()?;
        let key = match (order, key) {
            (TaskOrder::NextFire, serde_json::Value::Number(number)) => {
                SortKey::Number(number.as_i64()?)
            }
            (TaskOrder::Group | TaskOrder::Module, serde_json::Value::String(text)) => {
                SortKey::Text(text)
            }
            _ => return None,
        };
        Some(TaskCursor { key, name })
    }
}

/// A page of tasks.
#[derive(Debug, Clone)]
pub struct TaskPage {
    /// The tasks, in the order asked for.
    pub tasks: Vec<TaskRow>,
    /// Where the next page starts (its last task), if there is one.
    pub next_after: Option<TaskCursor>,
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
                TaskState::Active => {
                    format!("paused <> {paused} AND (error IS NULL OR error_code = 'manual')")
                }
                TaskState::Finished => {
                    format!("paused <> {paused} AND error_code = 'finished'")
                }
                TaskState::Error => format!(
                    "paused <> {paused} AND error IS NOT NULL \
                     AND (error_code IS NULL OR error_code NOT IN ('finished', 'manual'))"
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
    /// At most `limit` tasks matching `filter` that come after `after` in
    /// `order`, with the total that match.
    pub async fn list_task_page(
        &self,
        filter: &TaskFilter,
        order: TaskOrder,
        after: Option<&TaskCursor>,
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
        // After the filter's values: the cursor's key (for an order with
        // one) and name, then the limit.
        let sort = match (order, order.key()) {
            (TaskOrder::NameDescending, _) => "name DESC".to_owned(),
            (_, None) => "name".to_owned(),
            (_, Some(key)) => format!("{key}, name"),
        };
        let mut next_at = values.len() + 1;
        let mut placeholder = || {
            next_at += 1;
            format!("${}", next_at - 1)
        };
        let start = match (after, order.key()) {
            (None, _) => String::new(),
            (Some(_), None) => {
                let name = placeholder();
                let before_or_after = if order == TaskOrder::NameDescending {
                    "<"
                } else {
                    ">"
                };
                format!(" AND name {before_or_after} {name}")
            }
            (Some(_), Some(key)) => {
                let (value, name) = (placeholder(), placeholder());
                format!(" AND ({key} > {value} OR ({key} = {value} AND name > {name}))")
            }
        };
        let limit_at = placeholder();
        let sql = self.task_select(&format!(
            "WHERE {conditions}{start} ORDER BY {sort} LIMIT {limit_at}"
        ));
        let mut query = bind_all(sqlx::query(&sql), &values);
        if let Some(cursor) = after {
            query = match (&cursor.key, order.key()) {
                (_, None) => query,
                (SortKey::Number(number), Some(_)) => query.bind(*number),
                (SortKey::Text(text), Some(_)) => query.bind(text.as_str()),
                // Not made by `from_text` for this order.
                (SortKey::None, Some(_)) => {
                    return Err(StoreError::Corrupt(
                        "a task page's start holds no key for a sorted list".to_owned(),
                    ));
                }
            }
            .bind(cursor.name.as_str());
        }
        let rows = query.bind(limit + 1).fetch_all(&self.pool).await?;
        let mut tasks: Vec<TaskRow> = rows.iter().map(|row| read_task(row).task).collect();
        let next_after = if tasks.len() as i64 > limit {
            tasks.truncate(limit as usize);
            tasks.last().map(|task| TaskCursor {
                key: order.key_of(task),
                name: task.spec.name.clone(),
            })
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
    /// How many tasks match `filter` (and, when `paused` is given, are
    /// paused or not): what a bulk action would take.
    pub async fn count_tasks_where(
        &self,
        filter: &TaskFilter,
        paused: Option<bool>,
    ) -> Result<u64, StoreError> {
        let (conditions, values) = filter.conditions(self.backend);
        let sql = match paused {
            None => format!("SELECT COUNT(*) FROM tasks WHERE {conditions}"),
            Some(_) => format!(
                "SELECT COUNT(*) FROM tasks WHERE {conditions} AND paused = ${}",
                values.len() + 1
            ),
        };
        let mut query = bind_all(sqlx::query(&sql), &values);
        if let Some(paused) = paused {
            query = query.bind(paused);
        }
        let count: i64 = sqlx::Row::try_get(&query.fetch_one(&self.pool).await?, 0)?;
        Ok(count.max(0) as u64)
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every order, read a page of 7 at a time through the cursors' text,
    /// gives every task once, in the order asked for.
    #[tokio::test]
    async fn pages_of_every_order_give_every_task_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
        let store = Store::connect(&url).await.unwrap();
        for i in 0..40i64 {
            // Few distinct groups, modules and fire times, so ties are broken by name.
            let next_fire = if i % 5 == 0 {
                "NULL".to_owned()
            } else {
                (i % 4 * 1000).to_string()
            };
            sqlx::query(&format!(
                "INSERT INTO tasks (name, module, schedule, task_group, next_fire_at) \
                 VALUES ('t{:02}', 'm{}', 'every 1h', 'g{}', {next_fire})",
                (i * 17) % 40,
                i % 3,
                i % 4
            ))
            .execute(&store.pool)
            .await
            .unwrap();
        }
        let all = store.list_tasks().await.unwrap();
        let orders = [
            TaskOrder::Name,
            TaskOrder::NameDescending,
            TaskOrder::Group,
            TaskOrder::Module,
            TaskOrder::NextFire,
        ];
        for order in orders {
            let mut expected = all.clone();
            expected.sort_by_key(|task| {
                let key = match order.key_of(task) {
                    SortKey::None => String::new(),
                    SortKey::Text(text) => text,
                    SortKey::Number(number) => format!("{number:020}"),
                };
                (key, task.spec.name.clone())
            });
            if order == TaskOrder::NameDescending {
                expected.reverse();
            }
            let expected: Vec<String> = expected.into_iter().map(|t| t.spec.name).collect();
            let (mut listed, mut after) = (Vec::new(), None::<String>);
            loop {
                let cursor = after.as_deref().map(|text| {
                    TaskCursor::from_text(order, text).expect("a cursor the store wrote")
                });
                let page = store
                    .list_task_page(&TaskFilter::default(), order, cursor.as_ref(), 7)
                    .await
                    .unwrap();
                assert_eq!(page.total, 40, "{order:?}");
                listed.extend(page.tasks.iter().map(|t| t.spec.name.clone()));
                match page.next_after {
                    Some(cursor) => after = Some(cursor.to_text()),
                    None => break,
                }
            }
            assert_eq!(listed, expected, "{order:?}");
        }
    }

    #[test]
    fn a_cursor_of_another_order_is_not_read() {
        let by_group = TaskCursor {
            key: SortKey::Text("etl".into()),
            name: "nightly".into(),
        };
        let text = by_group.to_text();
        assert_eq!(
            TaskCursor::from_text(TaskOrder::Group, &text),
            Some(by_group)
        );
        assert_eq!(TaskCursor::from_text(TaskOrder::NextFire, &text), None);
        assert_eq!(TaskCursor::from_text(TaskOrder::Module, "nightly"), None);
        assert_eq!(TaskCursor::from_text(TaskOrder::Module, "[1, 2, 3]"), None);
    }
}
