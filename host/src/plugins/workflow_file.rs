//! Workflow files: `NAME.workflow.toml` in the plugins folder (or given to
//! `carillon workflow set`) defines workflow NAME, and, with a `schedule`,
//! the task of the same name that starts it (module `workflow`).
//!
//! ```toml
//! description = "Nightly load"
//! schedule = "0 0 2 * * ?"      # optional: when a run starts on its own
//! time_zone = "Europe/Berlin"   # of the schedule (default UTC)
//! calendar = "workdays"         # optional: slots it excludes are skipped
//! params = { region = "eu" }    # given to every step
//!
//! [[step]]
//! name = "extract"              # unique in the workflow
//! task = "extract"              # the task it runs
//!
//! [[step]]
//! name = "load"
//! task = "load"
//! after = ["extract"]           # waits for these (a fan-in waits for all)
//! when = "success"              # success (default) | failure | always
//! params = { file = "${extract.file}" }   # extract's output `file`
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::vocab::{
    StepDef, TaskDefinition, TaskRow, TaskSpec, WORKFLOW_MODULE, WORKFLOW_PARAM, WorkflowDef,
};

/// A workflow file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowFile {
    /// The workflow, checked.
    pub def: WorkflowDef,
    /// What it is for.
    pub description: Option<String>,
    /// The task that starts it on a schedule, if the file gives one.
    pub trigger: Option<TaskSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    description: Option<String>,
    schedule: Option<String>,
    time_zone: Option<String>,
    calendar: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
    #[serde(default)]
    step: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    name: String,
    task: String,
    #[serde(default)]
    after: Vec<String>,
    when: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
}

/// The workflow file `name.workflow.toml`'s name: `name`.
pub fn workflow_name(file_name: &str) -> Option<&str> {
    file_name
        .strip_suffix(".workflow.toml")
        .filter(|name| !name.is_empty() && !name.starts_with('.'))
}

/// Reads workflow `name`'s file; the error names the key or step and says
/// why.
pub fn parse_workflow_file(name: &str, text: &str) -> Result<WorkflowFile, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    let steps = file
        .step
        .into_iter()
        .map(|step| {
            let when = match &step.when {
                None => Default::default(),
                Some(when) => when
                    .parse()
                    .map_err(|e| format!("step `{}`: {e}", step.name))?,
            };
            Ok(StepDef {
                params: text_params(step.params)
                    .map_err(|e| format!("step `{}`: {e}", step.name))?,
                name: step.name,
                task: step.task,
                after: step.after,
                when,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let def = WorkflowDef {
        name: name.to_owned(),
        steps,
    };
    def.check().map_err(|e| e.reason)?;
    let trigger = match file.schedule {
        None => {
            for (key, given) in [
                ("time_zone", file.time_zone.is_some()),
                ("calendar", file.calendar.is_some()),
                ("params", !file.params.is_empty()),
            ] {
                if given {
                    return Err(format!(
                        "`{key}` is for the task that starts the workflow on its `schedule`; give a schedule \
                         or leave `{key}` out (a manual trigger takes its params when it is made)"
                    ));
                }
            }
            None
        }
        Some(schedule) => {
            let mut params = text_params(file.params)?;
            params.insert(WORKFLOW_PARAM.to_owned(), name.to_owned());
            let mut spec = TaskSpec::new(name, WORKFLOW_MODULE, &schedule);
            if let Some(zone) = file.time_zone {
                spec.time_zone = zone;
            }
            spec.calendar = file.calendar;
            spec.params = serde_json::to_string(&params).unwrap_or_else(|_| "{}".into());
            // The starting task is checked as any task is (its schedule,
            // zone), so a typo is refused here rather than stored.
            TaskDefinition::from_row(&TaskRow::new(spec.clone(), 0))
                .map_err(|error| error.to_string())?;
            Some(spec)
        }
    };
    Ok(WorkflowFile {
        def,
        description: file.description,
        trigger,
    })
}

/// Params as text: strings, numbers and booleans as written.
fn text_params(params: BTreeMap<String, toml::Value>) -> Result<BTreeMap<String, String>, String> {
    params
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(format!(
                        "param `{key}` is a {}; give a string, number or boolean",
                        other.type_str()
                    ));
                }
            };
            Ok((key, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NIGHTLY: &str = r#"
description = "Nightly load"
schedule = "0 0 2 * * ?"
time_zone = "Europe/Berlin"
params = { region = "eu", batch = 500 }

[[step]]
name = "extract"
task = "extract"

[[step]]
name = "load"
task = "load"
after = ["extract"]
params = { file = "${extract.file}" }

[[step]]
name = "page"
task = "page-oncall"
after = ["load"]
when = "failure"
"#;

    #[test]
    fn a_file_gives_the_workflow_and_the_task_that_starts_it() {
        let file = parse_workflow_file("nightly", NIGHTLY).unwrap();
        assert_eq!(file.def.steps.len(), 3);
        assert_eq!(file.def.steps[1].after, ["extract"]);
        assert_eq!(file.def.steps[2].when, crate::vocab::RunWhen::Failure);
        let trigger = file.trigger.unwrap();
        assert_eq!(trigger.name, "nightly");
        assert_eq!(trigger.module, "workflow");
        assert_eq!(trigger.time_zone, "Europe/Berlin");
        let params: BTreeMap<String, String> = serde_json::from_str(&trigger.params).unwrap();
        assert_eq!(params["workflow"], "nightly");
        assert_eq!(params["batch"], "500");
    }

    /// What `scripts/start.sh` puts in the plugins folder reads as it should.
    #[test]
    fn the_example_manifests_and_workflows_read() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-jobs/manifests");
        let mut workflows = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_str().unwrap().to_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            match workflow_name(&file) {
                Some(name) => {
                    parse_workflow_file(name, &text).unwrap_or_else(|e| panic!("{file}: {e}"));
                    workflows += 1;
                }
                None => {
                    let module = file.trim_end_matches(".toml");
                    crate::plugins::parse_manifest(module, &text)
                        .unwrap_or_else(|e| panic!("{file}: {e}"));
                }
            }
        }
        assert!(workflows >= 1);
    }

    #[test]
    fn mistakes_are_named() {
        let error = parse_workflow_file(
            "w",
            "[[step]]\nname = \"a\"\ntask = \"t\"\nwhen = \"later\"",
        )
        .unwrap_err();
        assert!(
            error.contains("step `a`") && error.contains("later"),
            "{error}"
        );
        let error =
            parse_workflow_file("w", "[[step]]\nname = \"a\"\ntask = \"t\"\nafter = [\"b\"]")
                .unwrap_err();
        assert!(error.contains("waits for `b`"), "{error}");
        let error = parse_workflow_file(
            "w",
            "time_zone = \"UTC\"\n[[step]]\nname = \"a\"\ntask = \"t\"",
        )
        .unwrap_err();
        assert!(error.contains("`time_zone` is for the task"), "{error}");
        let error = parse_workflow_file(
            "w",
            "schedule = \"0 0 25 * * ?\"\n[[step]]\nname = \"a\"\ntask = \"t\"",
        )
        .unwrap_err();
        assert!(error.contains("schedule"), "{error}");
        let error = parse_workflow_file(
            "w",
            "schedule = \"every 1h\"\ntime_zone = \"Mars/Base\"\n[[step]]\nname = \"a\"\ntask = \"t\"",
        )
        .unwrap_err();
        assert!(error.contains("time_zone"), "{error}");
        assert!(
            parse_workflow_file("w", "steps = 1")
                .unwrap_err()
                .contains("unknown field")
        );
        assert_eq!(workflow_name("nightly.workflow.toml"), Some("nightly"));
        assert_eq!(workflow_name("hello.toml"), None);
    }
}
