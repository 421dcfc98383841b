//! Chaining and what runs hand on. A task's `on_success` and `on_failure`
//! columns name tasks to fire once when a fire of it ends (every shard,
//! after retries); the chained run gets the parent's run id, state,
//! summary and outputs in its params (`parent.*`). A job sets outputs with
//! the contract's `output.set` import, within [`MAX_OUTPUTS`] keys and
//! [`MAX_OUTPUT_BYTES`].
//!
//! Here: reading the columns, finding loops among them, deciding how a
//! fire ended, the params of a chained run. Pure.

use std::collections::{BTreeMap, BTreeSet};

use crate::vocab::definition::MAX_NAME_CHARS;
use crate::vocab::{RunState, TaskSpec};

/// The most tasks one `on_success` or `on_failure` column may name.
pub const MAX_CHAINED: usize = 100;
/// The most outputs a run may set.
pub const MAX_OUTPUTS: usize = 64;
/// The most bytes a run's outputs may hold, keys and values together.
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024;
/// The longest output key.
pub const MAX_OUTPUT_KEY: usize = 64;

/// The task names in an `on_success` or `on_failure` column: comma
/// separated, spaces around a name ignored, each named once.
pub fn parse_task_list(text: &str) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(format!(
                "`{}` is not a task name (at most {MAX_NAME_CHARS} characters, no control characters)",
                name.escape_debug()
            ));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    if names.len() > MAX_CHAINED {
        return Err(format!(
            "names {} tasks; at most {MAX_CHAINED} may follow one",
            names.len()
        ));
    }
    Ok(names)
}

/// How a fire of a task ended, told from the final states of its runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FireEnd {
    /// Every shard succeeded: `on_success` follows.
    Succeeded,
    /// A shard failed, timed out or was orphaned: `on_failure` follows.
    Failed,
    /// Cancelled or skipped, none failed: nothing follows.
    Stopped,
}

impl FireEnd {
    /// The word used in causes and params.
    pub fn as_str(self) -> &'static str {
        match self {
            FireEnd::Succeeded => "succeeded",
            FireEnd::Failed => "failed",
            FireEnd::Stopped => "stopped",
        }
    }
}

/// How a fire ended, or `None` while one of its runs is not over.
pub fn fire_end(states: impl IntoIterator<Item = RunState>) -> Option<FireEnd> {
    let mut end = FireEnd::Succeeded;
    for state in states {
        match state {
            RunState::Pending | RunState::Running => return None,
            RunState::Succeeded => {}
            RunState::Failed | RunState::TimedOut | RunState::Orphaned => end = FireEnd::Failed,
            RunState::Cancelled | RunState::Skipped => {
                if end == FireEnd::Succeeded {
                    end = FireEnd::Stopped;
                }
            }
        }
    }
    Some(end)
}

/// Whether a shard ending in `state` fails its fire (and sets off
/// `on_failure`): it failed, timed out or was orphaned, as [`fire_end`]
/// reads it.
pub fn fails_a_fire(state: RunState) -> bool {
    matches!(
        state,
        RunState::Failed | RunState::TimedOut | RunState::Orphaned
    )
}

/// A loop among chains (`a → b → a`), if there is one: `follows` maps each
/// task to the tasks its ends fire.
pub fn find_loop(follows: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = BTreeMap::new();
    for start in follows.keys() {
        if marks.contains_key(start.as_str()) {
            continue;
        }
        // Depth first, with the path kept so a loop can be named.
        let mut path: Vec<(&str, Vec<&str>)> = vec![(start, next_of(follows, start))];
        marks.insert(start, Mark::Open);
        while let Some((_, next)) = path.last_mut() {
            match next.pop() {
                None => {
                    let (done, _) = path.pop().expect("the path is not empty");
                    marks.insert(done, Mark::Done);
                }
                Some(child) => match marks.get(child) {
                    Some(Mark::Done) => {}
                    Some(Mark::Open) => {
                        let from = path.iter().position(|(name, _)| *name == child)?;
                        let mut names: Vec<String> =
                            path[from..].iter().map(|(n, _)| (*n).to_owned()).collect();
                        names.push(child.to_owned());
                        return Some(names);
                    }
                    None => {
                        marks.insert(child, Mark::Open);
                        path.push((child, next_of(follows, child)));
                    }
                },
            }
        }
    }
    None
}

fn next_of<'a>(follows: &'a BTreeMap<String, BTreeSet<String>>, name: &str) -> Vec<&'a str> {
    follows
        .get(name)
        .map(|next| next.iter().rev().map(String::as_str).collect())
        .unwrap_or_default()
}

/// A task's chains as the table holds them: name, `on_success`,
/// `on_failure`.
pub type ChainRow = (String, Option<String>, Option<String>);

/// The loop `spec`'s chains would close among `rows` (the other tasks'
/// chains; a row of the same name is replaced by `spec`'s), if any, and
/// the column that names the loop's first step from `spec`.
pub fn loop_through(spec: &TaskSpec, rows: &[ChainRow]) -> Option<(&'static str, Vec<String>)> {
    let mut follows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let lists = |on_success: &Option<String>, on_failure: &Option<String>| -> BTreeSet<String> {
        [on_success, on_failure]
            .into_iter()
            .flatten()
            .filter_map(|text| parse_task_list(text).ok())
            .flatten()
            .collect()
    };
    for (name, on_success, on_failure) in rows {
        if *name != spec.name {
            follows.insert(name.clone(), lists(on_success, on_failure));
        }
    }
    follows.insert(spec.name.clone(), lists(&spec.on_success, &spec.on_failure));
    // A loop elsewhere (written with SQL) is not this task's to answer for,
    // and must not hide one through it: look only for a way back to it.
    let path = way_back(&follows, &spec.name)?;
    let next = path.get(1).cloned().unwrap_or_default();
    let in_success = spec
        .on_success
        .as_deref()
        .and_then(|text| parse_task_list(text).ok())
        .is_some_and(|names| names.contains(&next));
    Some((
        if in_success {
            "on_success"
        } else {
            "on_failure"
        },
        path,
    ))
}

/// The shortest chain from `from` back to itself (`from → … → from`), if
/// there is one (breadth first).
fn way_back(follows: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue: std::collections::VecDeque<&str> = std::collections::VecDeque::from([from]);
    while let Some(name) = queue.pop_front() {
        for next in follows.get(name).into_iter().flatten() {
            if next == from {
                // Walk back from `name` to `from`, then put it in order.
                let mut between = Vec::new();
                let mut at = name;
                while at != from {
                    between.push(at.to_owned());
                    at = came_from.get(at).copied().unwrap_or(from);
                }
                between.reverse();
                let mut path = vec![from.to_owned()];
                path.extend(between);
                path.push(from.to_owned());
                return Some(path);
            }
            if !came_from.contains_key(next.as_str()) && next != from {
                came_from.insert(next, name);
                queue.push_back(next);
            }
        }
    }
    None
}

/// A run's outputs as stored (a JSON object of strings); anything else
/// reads as none.
pub fn parse_outputs(text: Option<&str>) -> BTreeMap<String, String> {
    text.and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

/// Whether a job may set output `key` to `value` beside `outputs`.
pub fn check_output(
    outputs: &BTreeMap<String, String>,
    key: &str,
    value: &str,
) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_OUTPUT_KEY {
        return Err(format!(
            "output key `{}` must be 1 to {MAX_OUTPUT_KEY} bytes",
            key.escape_debug()
        ));
    }
    if let Some(bad) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "output key `{}`: `{}` is not a letter, digit, `_`, `-` or `.`",
            key.escape_debug(),
            bad.escape_debug()
        ));
    }
    if !outputs.contains_key(key) && outputs.len() >= MAX_OUTPUTS {
        return Err(format!(
            "a run may set at most {MAX_OUTPUTS} outputs; `{key}` would be one more"
        ));
    }
    let used: usize = outputs
        .iter()
        .filter(|(k, _)| k.as_str() != key)
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if used + key.len() + value.len() > MAX_OUTPUT_BYTES {
        return Err(format!(
            "outputs may hold {MAX_OUTPUT_BYTES} bytes in all; `{key}` of {} bytes would make {}: \
             hand on a key or an id, not the data",
            value.len(),
            used + key.len() + value.len()
        ));
    }
    Ok(())
}

/// The fire of a parent task a chained run follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    /// The parent task.
    pub task: String,
    /// Its run (the first shard's, for a sharded task).
    pub run_id: i64,
    /// The slot that fired.
    pub scheduled_at: i64,
    /// How the fire ended.
    pub end: FireEnd,
    /// The state of the run named (its first shard's).
    pub state: RunState,
    /// That run's summary.
    pub summary: Option<String>,
    /// Why that run failed.
    pub error: Option<String>,
    /// The outputs of every shard, later shards winning.
    pub outputs: BTreeMap<String, String>,
}

impl Parent {
    /// The params a chained run gets on top of its task's: `parent.task`,
    /// `parent.run_id`, `parent.scheduled_at`, `parent.state`,
    /// `parent.summary`, `parent.error` and `parent.output.KEY`.
    pub fn params(&self) -> BTreeMap<String, String> {
        let mut params = BTreeMap::from([
            ("parent.task".to_owned(), self.task.clone()),
            ("parent.run_id".to_owned(), self.run_id.to_string()),
            (
                "parent.scheduled_at".to_owned(),
                self.scheduled_at.to_string(),
            ),
            ("parent.state".to_owned(), self.state.as_str().to_owned()),
        ]);
        if let Some(summary) = &self.summary {
            params.insert("parent.summary".to_owned(), summary.clone());
        }
        if let Some(error) = &self.error {
            params.insert("parent.error".to_owned(), error.clone());
        }
        for (key, value) in &self.outputs {
            params.insert(format!("parent.output.{key}"), value.clone());
        }
        params
    }

    /// The cause written on the runs it fires: one per child, parent fire
    /// and end, so a chained run is made once however often the end is seen.
    pub fn cause(&self) -> String {
        format!(
            "after {}@{} {}",
            self.task,
            self.scheduled_at,
            self.end.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
        let mut follows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            follows
                .entry((*from).to_owned())
                .or_default()
                .insert((*to).to_owned());
        }
        follows
    }

    #[test]
    fn lists_are_trimmed_and_named_once() {
        assert_eq!(
            parse_task_list(" report, notify ,,report").unwrap(),
            ["report", "notify"]
        );
        assert!(parse_task_list("").unwrap().is_empty());
        assert!(parse_task_list("bad\u{7}name").is_err());
    }

    #[test]
    fn a_fire_ends_when_every_shard_is_over() {
        use RunState::*;
        assert_eq!(fire_end([Succeeded, Running]), None);
        assert_eq!(fire_end([Succeeded, Succeeded]), Some(FireEnd::Succeeded));
        assert_eq!(fire_end([Succeeded, TimedOut]), Some(FireEnd::Failed));
        assert_eq!(fire_end([Cancelled, Orphaned]), Some(FireEnd::Failed));
        assert_eq!(fire_end([Succeeded, Cancelled]), Some(FireEnd::Stopped));
    }

    #[test]
    fn loops_are_found_and_named_and_trees_pass() {
        assert_eq!(
            find_loop(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])),
            None
        );
        assert_eq!(
            find_loop(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        assert_eq!(
            find_loop(&graph(&[("x", "x")])),
            Some(vec!["x".into(), "x".into()])
        );
        // A loop reached from a task outside it is still found.
        let found = find_loop(&graph(&[("start", "p"), ("p", "q"), ("q", "p")])).unwrap();
        assert_eq!(found.first(), found.last());
        assert!(found.contains(&"p".to_owned()) && found.contains(&"q".to_owned()));
    }

    #[test]
    fn a_change_that_closes_a_loop_is_named_from_the_changed_task() {
        let rows: Vec<ChainRow> = vec![
            ("load".into(), Some("report".into()), None),
            ("report".into(), None, Some("alert".into())),
            ("alert".into(), None, None),
        ];
        let mut spec = TaskSpec::new("alert", "hello", "manual");
        assert_eq!(loop_through(&spec, &rows), None);
        spec.on_failure = Some("load".into());
        let (column, path) = loop_through(&spec, &rows).unwrap();
        assert_eq!(column, "on_failure");
        assert_eq!(path, ["alert", "load", "report", "alert"]);
        // A loop elsewhere is not this task's.
        let mut looping = rows.clone();
        looping.push(("x".into(), Some("y".into()), None));
        looping.push(("y".into(), Some("x".into()), None));
        assert_eq!(
            loop_through(&TaskSpec::new("z", "m", "manual"), &looping),
            None
        );
        // …and does not hide one through it (`a` sorts before `x`).
        looping.push(("a".into(), Some("a".into()), None));
        let mut closing = TaskSpec::new("alert", "hello", "manual");
        closing.on_success = Some("load".into());
        let (column, path) = loop_through(&closing, &looping).unwrap();
        assert_eq!(column, "on_success");
        assert_eq!(path, ["alert", "load", "report", "alert"]);
        let mut own = TaskSpec::new("self", "m", "manual");
        own.on_failure = Some("self".into());
        assert_eq!(loop_through(&own, &[]).unwrap().1, ["self", "self"]);
    }

    #[test]
    fn outputs_are_capped_by_keys_and_bytes() {
        let mut outputs = BTreeMap::new();
        assert!(check_output(&outputs, "rows", "42").is_ok());
        assert!(check_output(&outputs, "", "x").is_err());
        assert!(check_output(&outputs, "a b", "x").is_err());
        assert!(check_output(&outputs, "big", &"x".repeat(MAX_OUTPUT_BYTES)).is_err());
        for i in 0..MAX_OUTPUTS {
            outputs.insert(format!("k{i}"), String::new());
        }
        assert!(check_output(&outputs, "one-more", "x").is_err());
        assert!(check_output(&outputs, "k1", "replaced").is_ok());
    }

    #[test]
    fn a_chained_run_reads_its_parent_in_params() {
        let parent = Parent {
            task: "extract".into(),
            run_id: 7,
            scheduled_at: 1000,
            end: FireEnd::Succeeded,
            state: RunState::Succeeded,
            summary: Some("42 rows".into()),
            error: None,
            outputs: BTreeMap::from([("file".into(), "/out/a.csv".into())]),
        };
        let params = parent.params();
        assert_eq!(params["parent.run_id"], "7");
        assert_eq!(params["parent.state"], "succeeded");
        assert_eq!(params["parent.summary"], "42 rows");
        assert_eq!(params["parent.output.file"], "/out/a.csv");
        assert!(!params.contains_key("parent.error"));
        assert_eq!(parent.cause(), "after extract@1000 succeeded");
    }
}
