//! Storing a workflow file: every step's task checked to exist, the task
//! that starts the workflow kept in line with the file's `schedule`, then
//! the workflow itself. The plugins folder and `carillon workflow set`
//! both go through here, so a file means the same wherever it is given.

use crate::clock::now_ms;
use crate::plugins::WorkflowFile;
use crate::store::{Store, StoreError};
use crate::vocab::{WORKFLOW_MODULE, WORKFLOW_PARAM, parse_params};

/// Why a workflow file was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The file cannot be stored as it stands; nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What storing a file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The workflow was new.
    Created,
    /// It replaced one of that name.
    Replaced,
    /// The workflow and its task were already as the file says.
    Unchanged,
}

/// Stores workflow `name` as `file` says. A step naming a task that is
/// not there, or a schedule needing a task whose name another kind of task
/// holds, refuses the file before anything changes. A file without a
/// `schedule` pauses the task an earlier version of it made to start it.
pub async fn apply_workflow_file(
    store: &Store,
    name: &str,
    file: &WorkflowFile,
) -> Result<Applied, ApplyError> {
    for step in &file.def.steps {
        if store.get_task(&step.task).await?.is_none() {
            return Err(ApplyError::Refused(format!(
                "step `{}` runs task `{}`, which is not a task; create it first \
                 (`carillon task add {} --module M --schedule manual`)",
                step.name, step.task, step.task
            )));
        }
    }
    let existing = store.get_task(name).await?;
    let mut changed = false;
    match (&file.trigger, existing) {
        (Some(_), Some(row)) if row.spec.module != WORKFLOW_MODULE => {
            return Err(ApplyError::Refused(format!(
                "its schedule needs the task `{name}` to start it, and a task of that name runs \
                 module `{}`; rename the workflow or that task",
                row.spec.module
            )));
        }
        (Some(trigger), Some(row)) if row.spec == *trigger => {}
        (Some(trigger), _) => {
            store.upsert_task(trigger).await?;
            changed = true;
        }
        (None, Some(row))
            if row.spec.module == WORKFLOW_MODULE
                && !row.spec.paused
                && parse_params(&row.spec.params)
                    .ok()
                    .and_then(|params| params.get(WORKFLOW_PARAM).cloned())
                    .as_deref()
                    == Some(name) =>
        {
            // The schedule was taken out of the file: its task stops
            // firing (kept, with its history; a schedule put back resumes it).
            store.set_paused(name, true).await?;
            changed = true;
        }
        (None, _) => {}
    }
    let unchanged = matches!(
        store.get_workflow(name).await?,
        Some(record) if record.steps == file.def.steps
            && record.description == file.description
            && record.unreadable.is_none()
    );
    if unchanged {
        return Ok(if changed {
            Applied::Replaced
        } else {
            Applied::Unchanged
        });
    }
    let created = store
        .put_workflow(&file.def, file.description.as_deref(), now_ms())
        .await?;
    Ok(if created {
        Applied::Created
    } else {
        Applied::Replaced
    })
}
