//! `carillon workflow`: define workflows from a file (`set`), list and show
//! them, start a run (`trigger`), list runs and show one with its steps,
//! retry a failed step or mark it succeeded, cancel a run, remove a
//! workflow. Checked as the API and the plugins folder check them, and
//! audited; a serving host moves the runs on.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::json;

use crate::cli::database::{DbArgs, audit};
use crate::cli::output::{say, table, time_or_dash};
use crate::cli::parse_param;
use crate::clock::now_ms;
use crate::plugins::{Applied, apply_workflow_file, parse_workflow_file, workflow_name};
use crate::store::{Started, StepAction, Store};
use crate::vocab::{WorkflowState, parse_outputs};

#[derive(Debug, Subcommand)]
pub(crate) enum WorkflowCommand {
    /// Create or replace a workflow from a TOML file (`NAME.workflow.toml`;
    /// see the README), and the task that starts it if the file has a schedule.
    Set {
        /// The file.
        file: PathBuf,
        /// The workflow's name (default: the file's, without `.workflow.toml`).
        #[arg(long)]
        name: Option<String>,
    },
    /// List workflows.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a workflow's steps.
    Show {
        /// Its name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start a run of a workflow now.
    Trigger {
        /// Its name.
        name: String,
        /// Param KEY=VALUE given to every step; repeatable.
        #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
    },
    /// List workflow runs, newest first.
    Runs {
        /// Only runs of this workflow.
        #[arg(long)]
        workflow: Option<String>,
        /// Only runs in this state (running, succeeded, failed, cancelled).
        #[arg(long)]
        state: Option<WorkflowState>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a workflow run and its steps.
    Run {
        /// The workflow run's id.
        id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a failed step again; the run goes on from there.
    Retry {
        /// The workflow run's id.
        run: i64,
        /// The step.
        step: String,
    },
    /// Mark a failed step succeeded, so the steps after it go on.
    Succeed {
        /// The workflow run's id.
        run: i64,
        /// The step.
        step: String,
    },
    /// Cancel a workflow run: waiting steps are skipped, running ones stopped.
    Cancel {
        /// The workflow run's id.
        run: i64,
    },
    /// Remove a workflow (its runs stay; the task that starts it is not removed).
    Remove {
        /// Its name.
        name: String,
    },
}

pub(crate) async fn workflow(db: &DbArgs, command: WorkflowCommand) -> anyhow::Result<()> {
    match command {
        WorkflowCommand::Set { file, name } => {
            let name = match name {
                Some(name) => name,
                None => file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(workflow_name)
                    .map(str::to_owned)
                    .with_context(|| {
                        format!(
                            "{}: name the workflow with --name, or name the file NAME.workflow.toml",
                            file.display()
                        )
                    })?,
            };
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let parsed = parse_workflow_file(&name, &text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let store = db.open().await?;
            let applied = apply_workflow_file(&store, &name, &parsed)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            if applied != Applied::Unchanged {
                audit(
                    &store,
                    "workflow.set",
                    &name,
                    Some(&serde_json::to_string(&parsed.def)?),
                )
                .await?;
            }
            say!(
                "workflow `{name}` {} ({} steps){}",
                match applied {
                    Applied::Created => "created",
                    Applied::Replaced => "replaced",
                    Applied::Unchanged => "unchanged",
                },
                parsed.def.steps.len(),
                match &parsed.trigger {
                    Some(task) =>
                        format!("; task `{}` starts it on `{}`", task.name, task.schedule),
                    None => format!("; start it with `carillon workflow trigger {name}`"),
                }
            );
        }
        WorkflowCommand::List { json } => {
            let store = db.open_existing().await?;
            let workflows = store.list_workflows().await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&workflows)?);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = workflows
                .iter()
                .map(|w| {
                    vec![
                        w.name.clone(),
                        w.steps.len().to_string(),
                        w.check().err().map_or_else(|| "-".to_owned(), |e| e.reason),
                        w.description.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            table(&["NAME", "STEPS", "PROBLEM", "DESCRIPTION"], &rows)?;
        }
        WorkflowCommand::Show { name, json } => {
            let store = db.open_existing().await?;
            let Some(record) = store.get_workflow(&name).await? else {
                bail!("there is no workflow `{name}`; see `carillon workflow list`");
            };
            if json {
                say!("{}", serde_json::to_string_pretty(&record)?);
                return Ok(());
            }
            if let Some(description) = &record.description {
                say!("{description}");
            }
            let rows: Vec<Vec<String>> = record
                .steps
                .iter()
                .map(|s| {
                    vec![
                        s.name.clone(),
                        s.task.clone(),
                        if s.after.is_empty() {
                            "(start)".to_owned()
                        } else {
                            s.after.join(", ")
                        },
                        s.when.as_str().to_owned(),
                        s.params
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(" "),
                    ]
                })
                .collect();
            table(&["STEP", "TASK", "AFTER", "WHEN", "PARAMS"], &rows)?;
            if let Err(error) = record.check() {
                say!("problem: {}", error.reason);
            }
        }
        WorkflowCommand::Trigger { name, params } => {
            let store = db.open_existing().await?;
            let params: BTreeMap<String, String> = params.into_iter().collect();
            match store
                .start_workflow(&name, &params, "trigger by cli", false, now_ms())
                .await?
            {
                Started::Run { id, .. } => {
                    audit(
                        &store,
                        "workflow.trigger",
                        &name,
                        Some(&serde_json::to_string(&params)?),
                    )
                    .await?;
                    say!(
                        "workflow run {id} of `{name}` started; follow it with `carillon workflow run {id}`"
                    );
                }
                Started::NoSuchWorkflow => {
                    bail!("there is no workflow `{name}`; see `carillon workflow list`")
                }
                Started::Invalid(error) => bail!("{error}; fix the definition before starting it"),
            }
        }
        WorkflowCommand::Runs {
            workflow,
            state,
            limit,
            json,
        } => {
            let store = db.open_existing().await?;
            let runs = store
                .list_workflow_runs(workflow.as_deref(), state, None, limit)
                .await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&runs)?);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = runs
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        r.workflow.clone(),
                        r.state.to_string(),
                        time_or_dash(Some(r.created_at)),
                        time_or_dash(r.finished_at),
                        r.started_by.clone(),
                    ]
                })
                .collect();
            table(
                &["ID", "WORKFLOW", "STATE", "STARTED", "FINISHED", "BY"],
                &rows,
            )?;
        }
        WorkflowCommand::Run { id, json } => {
            let store = db.open_existing().await?;
            let Some((run, steps)) = store.get_workflow_run(id).await? else {
                bail!("there is no workflow run {id}; see `carillon workflow runs`");
            };
            if json {
                say!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"run": run, "steps": steps}))?
                );
                return Ok(());
            }
            say!(
                "workflow run {} of `{}`: {} (started {} by {}{})",
                run.id,
                run.workflow,
                run.state,
                time_or_dash(Some(run.created_at)),
                run.started_by,
                run.finished_at
                    .map(|at| format!(", ended {}", time_or_dash(Some(at))))
                    .unwrap_or_default()
            );
            let rows: Vec<Vec<String>> = steps
                .iter()
                .map(|s| {
                    vec![
                        s.step.clone(),
                        s.task.clone(),
                        s.state.to_string(),
                        s.tries.to_string(),
                        s.run_id.map_or_else(|| "-".to_owned(), |id| id.to_string()),
                        parse_outputs(s.outputs.as_deref())
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(" "),
                        s.error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            table(
                &["STEP", "TASK", "STATE", "TRIES", "RUN", "OUTPUTS", "ERROR"],
                &rows,
            )?;
        }
        WorkflowCommand::Retry { run, step } => {
            let store = db.open_existing().await?;
            let done = store.retry_step(run, &step, now_ms()).await?;
            step_done(&store, run, &step, done, "workflow-run.retry-step").await?;
            say!("step `{step}` of workflow run {run} started again");
        }
        WorkflowCommand::Succeed { run, step } => {
            let store = db.open_existing().await?;
            let done = store
                .mark_step_succeeded(run, &step, "cli", now_ms())
                .await?;
            step_done(&store, run, &step, done, "workflow-run.succeed-step").await?;
            say!("step `{step}` of workflow run {run} marked succeeded");
        }
        WorkflowCommand::Cancel { run } => {
            let store = db.open_existing().await?;
            let reason = format!("its workflow run {run} was cancelled (cli)");
            if !store.cancel_workflow_run(run, &reason, now_ms()).await? {
                bail!("workflow run {run} does not exist or is already over");
            }
            audit(&store, "workflow-run.cancel", &run.to_string(), None).await?;
            say!("workflow run {run} cancelled");
        }
        WorkflowCommand::Remove { name } => {
            let store = db.open_existing().await?;
            if !store.delete_workflow(&name).await? {
                bail!("there is no workflow `{name}`; see `carillon workflow list`");
            }
            audit(&store, "workflow.delete", &name, None).await?;
            say!("workflow `{name}` removed (its runs stay)");
        }
    }
    Ok(())
}

async fn step_done(
    store: &Store,
    run: i64,
    step: &str,
    done: StepAction,
    action: &'static str,
) -> anyhow::Result<()> {
    match done {
        StepAction::Done => audit(store, action, &format!("{run}/{step}"), None).await,
        StepAction::NotFound => bail!("workflow run {run} has no step `{step}`"),
        StepAction::Refused(reason) => bail!("{reason}"),
    }
}
