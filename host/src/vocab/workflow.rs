//! Workflows: a named graph of steps, each running a task, with edges
//! meaning "after these". A step starts when every step it waits for is
//! over and its condition holds: `success` (every one succeeded: the
//! default, so a fan-in waits for all its parents), `failure` (one
//! failed: an error branch) or `always`; a step whose condition cannot
//! hold is skipped, and so in turn are the steps waiting on it for
//! success. A step's params may refer to what the steps before it handed
//! on: `${extract.file}` is step `extract`'s output `file`.
//!
//! Here: checking a definition, deciding what starts and what is
//! skipped, how a workflow run ended, and a step's params. Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::vocab::definition::MAX_NAME_CHARS;

/// The task module that starts a workflow: a task whose module is
/// `workflow` and whose param `workflow` names one starts a run of it at
/// each fire, so a workflow has a schedule, a calendar and misfire rules
/// as any task does.
pub const WORKFLOW_MODULE: &str = "workflow";

/// The param of a workflow task naming the workflow it starts.
pub const WORKFLOW_PARAM: &str = "workflow";

/// Whether `module` names one of the host's own kinds of task (`http`,
/// `workflow`) rather than a job module: no module may take such a name.
pub fn is_builtin_module(module: &str) -> bool {
    module == crate::vocab::HTTP_MODULE || module == WORKFLOW_MODULE
}

/// The most steps a workflow may have.
pub const MAX_STEPS: usize = 10_000;

/// When a step runs, once every step it waits for is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RunWhen {
    /// Every step it waits for succeeded.
    #[default]
    Success,
    /// One of them failed.
    Failure,
    /// Whatever they did.
    Always,
}

impl RunWhen {
    /// The word stored in `workflow_steps.run_when`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunWhen::Success => "success",
            RunWhen::Failure => "failure",
            RunWhen::Always => "always",
        }
    }
}

impl FromStr for RunWhen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "success" | "" => Ok(RunWhen::Success),
            "failure" => Ok(RunWhen::Failure),
            "always" => Ok(RunWhen::Always),
            other => Err(format!(
                "`{}` is not when a step runs; use success, failure or always",
                other.escape_debug()
            )),
        }
    }
}

/// One step as defined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDef {
    /// Unique within the workflow.
    pub name: String,
    /// The task it runs.
    pub task: String,
    /// The steps it waits for; empty: it starts the workflow.
    #[serde(default)]
    pub after: Vec<String>,
    /// When it runs once they are over.
    #[serde(default)]
    pub when: RunWhen,
    /// Params on top of its task's; `${STEP.KEY}` is replaced by step
    /// STEP's output KEY.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// A workflow as defined: its steps, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowDef {
    /// Its name.
    pub name: String,
    /// Its steps.
    pub steps: Vec<StepDef>,
}

/// A definition that does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("workflow `{workflow}`: {reason}")]
pub struct WorkflowError {
    /// The workflow.
    pub workflow: String,
    /// What is wrong, naming the step, and what to do.
    pub reason: String,
}

/// A name for a workflow or a step: 1 to 200 characters, no control
/// characters, no `,` (lists), `{`, `}` or `$` (references), no spaces
/// (causes and references are read by words).
pub fn check_workflow_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "{what} name `{}` must be 1 to {MAX_NAME_CHARS} characters",
            name.escape_debug()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || matches!(c, ',' | '{' | '}' | '$' | '/'))
    {
        return Err(format!(
            "{what} name `{}` holds `{}`; use letters, digits, `-`, `_` or `.`",
            name.escape_debug(),
            bad.escape_debug()
        ));
    }
    Ok(())
}

impl WorkflowDef {
    /// Checks that the steps hold together: names unique and valid, every
    /// step it waits for defined, no cycle, a step to start from.
    pub fn check(&self) -> Result<(), WorkflowError> {
        let fail = |reason: String| WorkflowError {
            workflow: self.name.clone(),
            reason,
        };
        check_workflow_name("workflow", &self.name).map_err(&fail)?;
        if self.steps.is_empty() {
            return Err(fail("has no steps; give it at least one".into()));
        }
        if self.steps.len() > MAX_STEPS {
            return Err(fail(format!(
                "has {} steps; at most {MAX_STEPS} are allowed",
                self.steps.len()
            )));
        }
        let mut names = BTreeSet::new();
        for step in &self.steps {
            check_workflow_name("step", &step.name).map_err(&fail)?;
            if step.task.trim().is_empty() {
                return Err(fail(format!("step `{}` names no task", step.name)));
            }
            if !names.insert(step.name.as_str()) {
                return Err(fail(format!("two steps are named `{}`", step.name)));
            }
        }
        for step in &self.steps {
            for parent in &step.after {
                if !names.contains(parent.as_str()) {
                    return Err(fail(format!(
                        "step `{}` waits for `{parent}`, which is not a step of it",
                        step.name
                    )));
                }
                if *parent == step.name {
                    return Err(fail(format!("step `{}` waits for itself", step.name)));
                }
            }
            for value in step.params.values() {
                for (referred, _) in references(value) {
                    if !names.contains(referred.as_str()) {
                        return Err(fail(format!(
                            "step `{}` refers to `${{{referred}.…}}`, but there is no step `{referred}`",
                            step.name
                        )));
                    }
                }
            }
        }
        if let Some(cycle) = self.cycle() {
            return Err(fail(format!(
                "its steps wait for each other in a circle ({}); a workflow must be a graph without cycles",
                cycle.join(" → ")
            )));
        }
        Ok(())
    }

    fn cycle(&self) -> Option<Vec<String>> {
        let mut follows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for step in &self.steps {
            for parent in &step.after {
                follows
                    .entry(parent.clone())
                    .or_default()
                    .insert(step.name.clone());
            }
        }
        crate::vocab::find_loop(&follows)
    }

    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<&StepDef> {
        self.steps.iter().find(|step| step.name == name)
    }

    /// Every step that waits, directly or through others, for `step`.
    pub fn downstream(&self, step: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut queue = vec![step.to_owned()];
        while let Some(at) = queue.pop() {
            for next in self.steps.iter().filter(|s| s.after.contains(&at)) {
                if found.insert(next.name.clone()) {
                    queue.push(next.name.clone());
                }
            }
        }
        found
    }
}

/// Where a step of a workflow run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    /// Waiting for the steps before it.
    Waiting,
    /// Its task's run is under way.
    Running,
    /// Its run succeeded (or an operator marked it so).
    Succeeded,
    /// Its run failed, timed out, was orphaned or cancelled, or it could
    /// not start.
    Failed,
    /// Its condition could not hold: it will not run.
    Skipped,
}

impl StepState {
    /// Every state.
    pub const ALL: [StepState; 5] = [
        StepState::Waiting,
        StepState::Running,
        StepState::Succeeded,
        StepState::Failed,
        StepState::Skipped,
    ];

    /// The word stored in `workflow_run_steps.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Waiting => "waiting",
            StepState::Running => "running",
            StepState::Succeeded => "succeeded",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
        }
    }

    /// Whether nothing will change it (without an operator).
    pub fn is_over(self) -> bool {
        matches!(
            self,
            StepState::Succeeded | StepState::Failed | StepState::Skipped
        )
    }
}

impl fmt::Display for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for StepState {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        StepState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| format!("`{text}` is not a workflow step state"))
    }
}

/// Where a workflow run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkflowState {
    /// Steps are waiting or running.
    Running,
    /// Every step is over and none failed.
    Succeeded,
    /// Every step is over and one failed (an error branch that ran does
    /// not make it a success: retry the step or mark it succeeded).
    Failed,
    /// An operator cancelled it.
    Cancelled,
}

impl WorkflowState {
    /// Every state.
    pub const ALL: [WorkflowState; 4] = [
        WorkflowState::Running,
        WorkflowState::Succeeded,
        WorkflowState::Failed,
        WorkflowState::Cancelled,
    ];

    /// The word stored in `workflow_runs.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowState::Running => "running",
            WorkflowState::Succeeded => "succeeded",
            WorkflowState::Failed => "failed",
            WorkflowState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for WorkflowState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for WorkflowState {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl FromStr for WorkflowState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        WorkflowState::ALL
            .into_iter()
            .find(|state| state.as_str() == text.trim())
            .ok_or_else(|| {
                format!(
                    "`{text}` is not a workflow run state; use running, succeeded, failed or cancelled"
                )
            })
    }
}

/// What to do with a waiting step now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepMove {
    /// Start its task.
    Start,
    /// It will not run.
    Skip,
}

/// The waiting steps that can move now, given every step's state, in
/// definition order. A step moves once every step it waits for is over:
/// it starts if its condition holds, else it is skipped. Skips ripple:
/// call again after applying the moves until it answers nothing new.
pub fn next_moves(
    def: &WorkflowDef,
    states: &BTreeMap<String, StepState>,
) -> Vec<(String, StepMove)> {
    let state_of = |name: &str| states.get(name).copied().unwrap_or(StepState::Waiting);
    let mut moves = Vec::new();
    for step in &def.steps {
        if state_of(&step.name) != StepState::Waiting {
            continue;
        }
        let parents: Vec<StepState> = step.after.iter().map(|p| state_of(p)).collect();
        if !parents.iter().all(|s| s.is_over()) {
            continue;
        }
        let holds = match step.when {
            RunWhen::Success => parents.iter().all(|s| *s == StepState::Succeeded),
            RunWhen::Failure => parents.contains(&StepState::Failed),
            RunWhen::Always => true,
        };
        moves.push((
            step.name.clone(),
            if holds {
                StepMove::Start
            } else {
                StepMove::Skip
            },
        ));
    }
    moves
}

/// How a workflow run stands, from its steps' states.
pub fn workflow_state(states: impl IntoIterator<Item = StepState>) -> WorkflowState {
    let mut failed = false;
    for state in states {
        match state {
            StepState::Waiting | StepState::Running => return WorkflowState::Running,
            StepState::Failed => failed = true,
            StepState::Succeeded | StepState::Skipped => {}
        }
    }
    if failed {
        WorkflowState::Failed
    } else {
        WorkflowState::Succeeded
    }
}

/// A `${STEP.KEY}` in a param: where it is in the text, and what it names
/// (spaces inside the braces allowed).
struct Reference {
    /// Its bytes in the text, `${` to `}`.
    span: std::ops::Range<usize>,
    step: String,
    key: String,
}

/// The `${STEP.KEY}` references in `text`, in order.
fn reference_spans(text: &str) -> Vec<Reference> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(start) = text[from..].find("${").map(|at| from + at) {
        let inside = start + 2;
        let Some(end) = text[inside..].find('}').map(|at| inside + at) else {
            break;
        };
        if let Some((step, key)) = text[inside..end].split_once('.') {
            found.push(Reference {
                span: start..end + 1,
                step: step.trim().to_owned(),
                key: key.trim().to_owned(),
            });
        }
        from = end + 1;
    }
    found
}

/// The `${STEP.KEY}` references in `text`: (step, key) pairs.
fn references(text: &str) -> Vec<(String, String)> {
    reference_spans(text)
        .into_iter()
        .map(|r| (r.step, r.key))
        .collect()
}

/// `params` with each `${STEP.KEY}` replaced by step STEP's output KEY
/// from `outputs` (in one pass: an output holding `${…}` is kept as it
/// is); an output that was not set is an error naming it.
pub fn substitute(
    params: &BTreeMap<String, String>,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (name, value) in params {
        let mut text = String::with_capacity(value.len());
        let mut copied = 0;
        for Reference { span, step, key } in reference_spans(value) {
            let Some(found) = outputs.get(&step).and_then(|o| o.get(&key)) else {
                return Err(format!(
                    "param `{name}` refers to `${{{step}.{key}}}`, but step `{step}` handed on no output `{key}`"
                ));
            };
            text.push_str(&value[copied..span.start]);
            text.push_str(found);
            copied = span.end;
        }
        text.push_str(&value[copied..]);
        out.insert(name.clone(), text);
    }
    Ok(out)
}

/// Reads the `after` column (comma separated step names, each once; a
/// fan-in may wait for thousands).
pub fn parse_after(text: Option<&str>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for name in text.unwrap_or("").split(',').map(str::trim) {
        if !name.is_empty() && seen.insert(name) {
            names.push(name.to_owned());
        }
    }
    names
}

/// The cause written on a step's runs: one per workflow run, step and try.
pub fn step_cause(workflow_run: i64, step: &str, try_number: i64) -> String {
    format!("workflow {workflow_run} {step} {try_number}")
}

/// A step's cause read back: (workflow run, step, try).
pub fn parse_step_cause(cause: &str) -> Option<(i64, String, i64)> {
    let mut words = cause.strip_prefix("workflow ")?.split(' ');
    let run = words.next()?.parse().ok()?;
    let step = words.next()?.to_owned();
    let try_number = words.next()?.parse().ok()?;
    words.next().is_none().then_some((run, step, try_number))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, after: &[&str], when: RunWhen) -> StepDef {
        StepDef {
            name: name.into(),
            task: "t".into(),
            after: after.iter().map(|s| (*s).to_owned()).collect(),
            when,
            params: BTreeMap::new(),
        }
    }

    fn def(steps: Vec<StepDef>) -> WorkflowDef {
        WorkflowDef {
            name: "w".into(),
            steps,
        }
    }

    fn states(pairs: &[(&str, StepState)]) -> BTreeMap<String, StepState> {
        pairs.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect()
    }

    #[test]
    fn definitions_that_do_not_hold_together_are_refused_naming_the_step() {
        use RunWhen::Success;
        let error = |d: WorkflowDef| d.check().unwrap_err().reason;
        assert!(error(def(vec![])).contains("no steps"));
        assert!(
            error(def(vec![step("a", &[], Success), step("a", &[], Success)]))
                .contains("two steps")
        );
        assert!(error(def(vec![step("a", &["b"], Success)])).contains("waits for `b`"));
        let cycle = error(def(vec![
            step("a", &[], Success),
            step("b", &["a", "c"], Success),
            step("c", &["b"], Success),
        ]));
        assert!(cycle.contains("circle (b → c → b)"), "{cycle}");
        assert!(error(def(vec![step("a b", &[], Success)])).contains("holds ` `"));
        let mut bad_ref = step("b", &[], Success);
        bad_ref.params.insert("file".into(), "${nope.file}".into());
        assert!(error(def(vec![bad_ref])).contains("no step `nope`"));
        assert!(
            def(vec![step("a", &[], Success), step("b", &["a"], Success)])
                .check()
                .is_ok()
        );
    }

    #[test]
    fn a_fan_in_waits_for_every_parent_and_branches_follow_their_condition() {
        use StepState::*;
        let w = def(vec![
            step("a", &[], RunWhen::Success),
            step("b", &[], RunWhen::Success),
            step("join", &["a", "b"], RunWhen::Success),
            step("on-error", &["a", "b"], RunWhen::Failure),
            step("cleanup", &["join"], RunWhen::Always),
        ]);
        assert_eq!(
            next_moves(&w, &states(&[])),
            vec![("a".into(), StepMove::Start), ("b".into(), StepMove::Start)]
        );
        // One parent over: the fan-in still waits.
        let s = states(&[("a", Succeeded), ("b", Running)]);
        assert!(next_moves(&w, &s).is_empty());
        let s = states(&[("a", Succeeded), ("b", Succeeded)]);
        assert_eq!(
            next_moves(&w, &s),
            vec![
                ("join".into(), StepMove::Start),
                ("on-error".into(), StepMove::Skip)
            ]
        );
        // A failure: the success branch is skipped, the error branch runs,
        // and a step after the skipped one for `always` still runs.
        let s = states(&[("a", Failed), ("b", Succeeded)]);
        assert_eq!(
            next_moves(&w, &s),
            vec![
                ("join".into(), StepMove::Skip),
                ("on-error".into(), StepMove::Start)
            ]
        );
        let s = states(&[
            ("a", Failed),
            ("b", Succeeded),
            ("join", Skipped),
            ("on-error", Running),
        ]);
        assert_eq!(
            next_moves(&w, &s),
            vec![("cleanup".into(), StepMove::Start)]
        );
    }

    #[test]
    fn a_run_fails_when_a_step_failed_and_ends_when_every_step_is_over() {
        use StepState::*;
        assert_eq!(workflow_state([Succeeded, Running]), WorkflowState::Running);
        assert_eq!(
            workflow_state([Succeeded, Skipped]),
            WorkflowState::Succeeded
        );
        assert_eq!(workflow_state([Failed, Succeeded]), WorkflowState::Failed);
    }

    #[test]
    fn params_take_the_outputs_they_refer_to_or_say_which_is_missing() {
        let params = BTreeMap::from([
            ("file".to_owned(), "${extract.file}".to_owned()),
            (
                "note".to_owned(),
                "rows: ${extract.rows} of ${count.total}".to_owned(),
            ),
        ]);
        let outputs = BTreeMap::from([
            (
                "extract".to_owned(),
                BTreeMap::from([
                    ("file".into(), "/out/a.csv".into()),
                    ("rows".into(), "7".into()),
                ]),
            ),
            (
                "count".to_owned(),
                BTreeMap::from([("total".into(), "9".into())]),
            ),
        ]);
        let got = substitute(&params, &outputs).unwrap();
        assert_eq!(got["file"], "/out/a.csv");
        assert_eq!(got["note"], "rows: 7 of 9");
        // Spaces inside the braces; an output holding `${…}` kept as is.
        let spaced = BTreeMap::from([(
            "a".to_owned(),
            "[${ extract.rows }] ${count.total}".to_owned(),
        )]);
        let odd = BTreeMap::from([
            (
                "extract".to_owned(),
                BTreeMap::from([("rows".into(), "${count.total}".into())]),
            ),
            (
                "count".to_owned(),
                BTreeMap::from([("total".into(), "9".into())]),
            ),
        ]);
        assert_eq!(
            substitute(&spaced, &odd).unwrap()["a"],
            "[${count.total}] 9"
        );
        let missing = substitute(&params, &BTreeMap::new()).unwrap_err();
        assert!(
            missing.contains("step `extract` handed on no output `file`"),
            "{missing}"
        );
    }

    #[test]
    fn a_fan_in_may_wait_for_thousands_of_steps() {
        let names: Vec<String> = (0..2000).map(|i| format!("s{i}")).collect();
        let after = parse_after(Some(&format!("{}, s0", names.join(","))));
        assert_eq!(after, names);
    }

    #[test]
    fn causes_read_back() {
        let cause = step_cause(17, "load", 2);
        assert_eq!(cause, "workflow 17 load 2");
        assert_eq!(parse_step_cause(&cause), Some((17, "load".into(), 2)));
        assert_eq!(parse_step_cause("after x@1 succeeded"), None);
    }

    #[test]
    fn downstream_follows_every_path() {
        let w = def(vec![
            step("a", &[], RunWhen::Success),
            step("b", &["a"], RunWhen::Success),
            step("c", &["b"], RunWhen::Success),
            step("d", &[], RunWhen::Success),
        ]);
        assert_eq!(
            w.downstream("a"),
            BTreeSet::from(["b".to_owned(), "c".to_owned()])
        );
    }
}
