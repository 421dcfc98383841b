//! The run of a workflow task (module `workflow`): no job module; the
//! host starts a run of the workflow its `workflow` param names, with its
//! other params given to every step, and the task's run succeeds at once
//! with the workflow run's id as its summary and output
//! (`workflow_run`). The workflow run goes on by itself, step by step, as
//! its steps' runs end.

use std::collections::BTreeMap;

use crate::clock::now_ms;
use crate::dispatch::Dispatcher;
use crate::runtime::RunOutcome;
use crate::store::{ClaimedRun, Started};
use crate::vocab::{WORKFLOW_PARAM, parse_params};

impl Dispatcher {
    /// Starts the workflow of workflow task run `run`; returns the outcome
    /// and the outputs to record.
    pub(super) async fn start_workflow(
        &self,
        run: &ClaimedRun,
    ) -> (RunOutcome, BTreeMap<String, String>) {
        let fail = |message: String, retryable: bool| {
            (RunOutcome::Failed { message, retryable }, BTreeMap::new())
        };
        let mut params = parse_params(&run.params).unwrap_or_default();
        let Some(name) = params.remove(WORKFLOW_PARAM) else {
            return fail(
                format!(
                    "a task whose module is `workflow` needs the param `{WORKFLOW_PARAM}` naming the workflow to start"
                ),
                false,
            );
        };
        let started_by = format!("task {} run {}", run.task, run.id);
        match self
            .inner
            .store
            .start_workflow(&name, &params, &started_by, true, now_ms())
            .await
        {
            // The first steps' runs are claimed when this run's permit
            // frees (the dispatch loop looks again then).
            Ok(Started::Run { id, .. }) => (
                RunOutcome::Succeeded {
                    summary: Some(format!("started workflow `{name}`: run {id}")),
                    items: 1,
                },
                BTreeMap::from([("workflow_run".to_owned(), id.to_string())]),
            ),
            Ok(Started::NoSuchWorkflow) => fail(
                format!(
                    "there is no workflow `{name}` (its param `{WORKFLOW_PARAM}`); define it first"
                ),
                false,
            ),
            Ok(Started::Invalid(error)) => fail(error.to_string(), false),
            Err(error) => fail(format!("cannot start workflow `{name}`: {error}"), true),
        }
    }
}
