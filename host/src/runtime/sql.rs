//! The contract's `sql` import for a run: each statement goes to the run's
//! [`SqlSource`] (which decides whether the task may use the database),
//! bounded by the run's deadline and stopped by its cancellation, and is
//! counted for the run's report and log. A job given no source is refused
//! every statement.

use std::sync::Arc;

use crate::runtime::bindings::carillon::job::sql;
use crate::runtime::cancel::CancelToken;
use crate::runtime::io::{Level, SeamError, SqlSource};
use crate::runtime::store_data::RunData;
use crate::vocab::{SqlRows, SqlValue};

/// What a run's statements came to, for its report and its log.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SqlStats {
    /// Statements the job ran (refused and failed ones included).
    pub statements: u32,
    /// Statements that were refused or failed.
    pub failed: u32,
    /// Rows queries returned.
    pub rows_returned: u64,
    /// Rows statements affected.
    pub rows_affected: u64,
}

impl SqlStats {
    /// One line for the run's log: `SQL: 3 statements (1 failed), 120 rows
    /// returned, 2 affected`.
    pub fn summary(&self) -> String {
        let failed = if self.failed > 0 {
            format!(" ({} failed)", self.failed)
        } else {
            String::new()
        };
        format!(
            "SQL: {} statement{}{failed}, {} row{} returned, {} affected",
            self.statements,
            if self.statements == 1 { "" } else { "s" },
            self.rows_returned,
            if self.rows_returned == 1 { "" } else { "s" },
            self.rows_affected
        )
    }
}

/// One run's SQL: its seam, deadline and counts.
pub(crate) struct JobSql {
    source: Option<Arc<dyn SqlSource>>,
    cancel: CancelToken,
    deadline: tokio::time::Instant,
    pub(crate) stats: SqlStats,
}

impl JobSql {
    pub(crate) fn new(
        source: Option<Arc<dyn SqlSource>>,
        cancel: CancelToken,
        deadline: tokio::time::Instant,
    ) -> Self {
        Self {
            source,
            cancel,
            deadline,
            stats: SqlStats::default(),
        }
    }

    /// The seam, or why there is none.
    fn source(&self) -> Result<Arc<dyn SqlSource>, String> {
        self.source
            .clone()
            .ok_or_else(|| "this host runs no SQL for jobs".to_owned())
    }

    /// Awaits `call` within the run's deadline and cancellation.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, SeamError>>,
    ) -> Result<T, String> {
        tokio::select! {
            biased;
            reason = self.cancel.cancelled() => Err(format!("the run was stopped: {reason}")),
            () = tokio::time::sleep_until(self.deadline) => {
                Err("the statement outlived the run's timeout and was cancelled".to_owned())
            }
            answer = call => answer.map_err(|error| error.to_string()),
        }
    }
}

fn from_wit(value: sql::Value) -> SqlValue {
    match value {
        sql::Value::Null => SqlValue::Null,
        sql::Value::Boolean(value) => SqlValue::Boolean(value),
        sql::Value::Integer(value) => SqlValue::Integer(value),
        sql::Value::Real(value) => SqlValue::Real(value),
        sql::Value::Text(value) => SqlValue::Text(value),
        sql::Value::Blob(value) => SqlValue::Blob(value),
    }
}

fn to_wit(value: SqlValue) -> sql::Value {
    match value {
        SqlValue::Null => sql::Value::Null,
        SqlValue::Boolean(value) => sql::Value::Boolean(value),
        SqlValue::Integer(value) => sql::Value::Integer(value),
        SqlValue::Real(value) => sql::Value::Real(value),
        SqlValue::Text(value) => sql::Value::Text(value),
        SqlValue::Blob(value) => sql::Value::Blob(value),
    }
}

impl RunData {
    /// Counts a statement's end; a failure is also written to the run's log
    /// by the host (a job may swallow the error it is given).
    fn counted<T>(&mut self, database: &str, answer: Result<T, String>) -> Result<T, String> {
        self.sql.stats.statements += 1;
        if let Err(error) = &answer {
            self.sql.stats.failed += 1;
            self.log.host_line(
                Level::Warn,
                format!("SQL statement on database `{database}` failed: {error}"),
            );
        }
        answer
    }
}

impl sql::Host for RunData {
    async fn query(
        &mut self,
        database: String,
        statement: String,
        params: Vec<sql::Value>,
    ) -> Result<sql::Rows, String> {
        let params: Vec<SqlValue> = params.into_iter().map(from_wit).collect();
        let answer = match self.sql.source() {
            Ok(source) => {
                let (key, name) = (self.key.clone(), database.clone());
                let call = async move { source.query(&key, &name, &statement, params).await };
                self.sql.bounded(call).await
            }
            Err(refused) => Err(refused),
        };
        let SqlRows { columns, rows } = self.counted(&database, answer)?;
        self.sql.stats.rows_returned += rows.len() as u64;
        Ok(sql::Rows {
            columns,
            rows: rows
                .into_iter()
                .map(|row| row.into_iter().map(to_wit).collect())
                .collect(),
        })
    }

    async fn execute(
        &mut self,
        database: String,
        statement: String,
        params: Vec<sql::Value>,
    ) -> Result<u64, String> {
        let params: Vec<SqlValue> = params.into_iter().map(from_wit).collect();
        let answer = match self.sql.source() {
            Ok(source) => {
                let (key, name) = (self.key.clone(), database.clone());
                let call = async move { source.execute(&key, &name, &statement, params).await };
                self.sql.bounded(call).await
            }
            Err(refused) => Err(refused),
        };
        let affected = self.counted(&database, answer)?;
        self.sql.stats.rows_affected += affected;
        Ok(affected)
    }
}
