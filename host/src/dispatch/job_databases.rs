//! Which databases a job's SQL may reach, decided per statement: its task's
//! `databases` column as the table holds it now (a grant taken away holds
//! from the next statement on), among the connections the host configures.
//! The runtime calls this through its [`SqlSource`] seam; `carillon run`
//! uses the same seam with every connection it was given granted.

use crate::runtime::io::{BoxFuture, RunKey, SeamError, SqlSource};
use crate::store::{JobDatabases, JobSqlError, Store};
use crate::vocab::{SqlRows, SqlValue, parse_database_names};

/// Where a run's grant comes from.
#[derive(Debug, Clone)]
pub enum SqlGrant {
    /// The `databases` column of the run's task, read at each statement.
    TaskColumn(Store),
    /// Every configured connection (`carillon run --sql`).
    All,
}

/// Runs jobs' statements on the connections their grant allows.
#[derive(Debug, Clone)]
pub struct JobSql {
    databases: JobDatabases,
    grant: SqlGrant,
}

impl JobSql {
    /// Statements on `databases`, as `grant` allows.
    pub fn new(databases: JobDatabases, grant: SqlGrant) -> Self {
        Self { databases, grant }
    }

    async fn check_grant(&self, run: &RunKey, database: &str) -> Result<(), SeamError> {
        let SqlGrant::TaskColumn(store) = &self.grant else {
            return Ok(());
        };
        let task = store
            .get_task(&run.task)
            .await
            .map_err(|error| SeamError::Unavailable(error.to_string()))?;
        let granted = task
            .and_then(|row| row.spec.databases)
            .map(|text| parse_database_names(&text).unwrap_or_default())
            .unwrap_or_default();
        if granted.iter().any(|name| name == database) {
            Ok(())
        } else {
            Err(SeamError::Refused(format!(
                "task `{}` is not granted database `{database}`; add it to the task's databases column",
                run.task
            )))
        }
    }
}

impl JobSql {
    /// `call`'s answer if `run`'s task is granted `database`.
    async fn granted<T>(
        &self,
        run: &RunKey,
        database: &str,
        call: impl Future<Output = Result<T, JobSqlError>>,
    ) -> Result<T, SeamError> {
        self.check_grant(run, database).await?;
        call.await.map_err(seam_error)
    }
}

fn seam_error(error: JobSqlError) -> SeamError {
    match error {
        JobSqlError::Unreachable { .. } => SeamError::Unavailable(error.to_string()),
        other => SeamError::Refused(other.to_string()),
    }
}

impl SqlSource for JobSql {
    fn query<'a>(
        &'a self,
        run: &'a RunKey,
        database: &'a str,
        statement: &'a str,
        params: Vec<SqlValue>,
    ) -> BoxFuture<'a, Result<SqlRows, SeamError>> {
        let call = async move { self.databases.query(database, statement, &params).await };
        Box::pin(self.granted(run, database, call))
    }

    fn execute<'a>(
        &'a self,
        run: &'a RunKey,
        database: &'a str,
        statement: &'a str,
        params: Vec<SqlValue>,
    ) -> BoxFuture<'a, Result<u64, SeamError>> {
        let call = async move { self.databases.execute(database, statement, &params).await };
        Box::pin(self.granted(run, database, call))
    }
}
