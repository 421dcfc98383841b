//! Why a task does not fire: the reason recorded on its row. The message is
//! for people and may be reworded; the kind is a stable code (the row's
//! `error_code` column) that the host acts on, so a rolling upgrade that
//! changes a message never leaves a task blocked for ever.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// What kind of reason keeps a task from firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskErrorKind {
    /// A column holds a value the host cannot use; fixed by editing the row.
    Invalid,
    /// The task's module is not loaded; cleared when the module arrives.
    MissingModule,
    /// The schedule has no fire times left.
    Finished,
    /// The task's calendar does not exist or does not check out; cleared
    /// when the calendars change.
    Calendar,
    /// Not an error: the schedule is `manual`, so the task fires only when
    /// triggered, chained or run as a workflow step.
    Manual,
}

impl TaskErrorKind {
    /// The code stored in `tasks.error_code`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskErrorKind::Invalid => "invalid",
            TaskErrorKind::MissingModule => "missing-module",
            TaskErrorKind::Finished => "finished",
            TaskErrorKind::Calendar => "calendar",
            TaskErrorKind::Manual => "manual",
        }
    }
}

impl fmt::Display for TaskErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskErrorKind {
    type Err = String;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        [
            TaskErrorKind::Invalid,
            TaskErrorKind::MissingModule,
            TaskErrorKind::Finished,
            TaskErrorKind::Calendar,
            TaskErrorKind::Manual,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == code)
        .ok_or_else(|| format!("`{code}` is not a task error code"))
    }
}

/// Why a task does not fire, as recorded on its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    /// The stable code.
    pub kind: TaskErrorKind,
    /// What to tell people: what is wrong and what to do.
    pub message: String,
    /// The column at fault, for an invalid value (the API's error `field`).
    pub column: Option<&'static str>,
}

impl TaskError {
    /// A column holds a bad value: `message` names the column, the value and
    /// what is accepted.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: TaskErrorKind::Invalid,
            message: message.into(),
            column: None,
        }
    }

    /// Names the column at fault.
    pub fn in_column(mut self, column: &'static str) -> Self {
        self.column = Some(column);
        self
    }

    /// The task's calendar cannot be used: `message` says why.
    pub fn calendar(message: impl Into<String>) -> Self {
        Self {
            kind: TaskErrorKind::Calendar,
            message: message.into(),
            column: None,
        }
    }

    /// The schedule is `manual`: the note that says so (not an error).
    pub fn manual() -> Self {
        Self {
            kind: TaskErrorKind::Manual,
            message: "manual: fires only when triggered, chained or run in a workflow".to_owned(),
            column: None,
        }
    }

    /// Whether this is a note on a task that is fine (finished, manual),
    /// not a problem to report.
    pub fn is_note(&self) -> bool {
        matches!(self.kind, TaskErrorKind::Finished | TaskErrorKind::Manual)
    }

    /// The schedule has no fire times left.
    pub fn finished() -> Self {
        Self {
            kind: TaskErrorKind::Finished,
            message: "finished: the schedule has no fire times left".to_owned(),
            column: None,
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for kind in [
            TaskErrorKind::Invalid,
            TaskErrorKind::MissingModule,
            TaskErrorKind::Finished,
            TaskErrorKind::Calendar,
            TaskErrorKind::Manual,
        ] {
            assert_eq!(kind.as_str().parse::<TaskErrorKind>(), Ok(kind));
        }
        assert!("missing module".parse::<TaskErrorKind>().is_err());
    }
}
