//! Alerts: rules say what to alert on (a run failed for good, timed out or
//! was orphaned; a misfire; a run running past a limit; N failures within
//! a window; a stale schedule: a task that should have run and did not),
//! for which tasks (named ones, a group, or every task: the host-wide
//! default), and through which channels (a generic webhook, Slack,
//! Feishu, DingTalk, WeCom, e-mail). The most specific rules for a task
//! win: rules naming the task, else rules for its group, else the
//! defaults. A repeat within a rule's silence window is recorded as
//! suppressed and counted on the next alert that goes out.
//!
//! Here: the words, checking a rule, choosing the rules for an event, and
//! an alert's text. Pure.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::vocab::parse_task_list;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum AlertEvent {
    /// A run failed, with no retries left.
    Failed,
    /// A run was still running at its timeout, with no retries left.
    TimedOut,
    /// A run's host stopped and no retries were left.
    Orphaned,
    /// Fires were missed (the misfire policy recorded them).
    Misfire,
    /// A run is running past the rule's threshold.
    LongRunning,
    /// `count` runs of a task failed within the rule's window.
    Failures,
    /// A task should have run and did not: a slot the scheduler has not
    /// fired, a run no host started, or a task the host cannot schedule,
    /// for longer than the rule's grace.
    Stale,
}

impl AlertEvent {
    /// Every event.
    pub const ALL: [AlertEvent; 7] = [
        AlertEvent::Failed,
        AlertEvent::TimedOut,
        AlertEvent::Orphaned,
        AlertEvent::Misfire,
        AlertEvent::LongRunning,
        AlertEvent::Failures,
        AlertEvent::Stale,
    ];

    /// The word stored in `alert_rules.event`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertEvent::Failed => "failed",
            AlertEvent::TimedOut => "timed-out",
            AlertEvent::Orphaned => "orphaned",
            AlertEvent::Misfire => "misfire",
            AlertEvent::LongRunning => "long-running",
            AlertEvent::Failures => "failures",
            AlertEvent::Stale => "stale",
        }
    }

    /// What the rule's `threshold_ms` means for this event, if it needs one.
    pub fn threshold(self) -> Option<&'static str> {
        match self {
            AlertEvent::LongRunning => Some("how long a run may run"),
            AlertEvent::Failures => Some("the window the failures are counted in"),
            AlertEvent::Stale => Some("how late a slot may be before it is stale"),
            _ => None,
        }
    }
}

impl fmt::Display for AlertEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertEvent {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        AlertEvent::ALL
            .into_iter()
            .find(|event| event.as_str() == text.trim())
            .ok_or_else(|| {
                format!(
                    "`{}` is not an alert event; use failed, timed-out, orphaned, misfire, long-running, failures or stale",
                    text.escape_debug()
                )
            })
    }
}

/// How a channel delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelKind {
    /// A POST of the alert as JSON to any URL.
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// A Feishu (Lark) custom bot webhook, signed when it has a secret.
    Feishu,
    /// A DingTalk custom robot webhook, signed when it has a secret.
    DingTalk,
    /// A WeCom (WeChat Work) group robot webhook.
    WeCom,
    /// E-mail through the host's SMTP server.
    Email,
}

impl ChannelKind {
    /// Every kind.
    pub const ALL: [ChannelKind; 6] = [
        ChannelKind::Webhook,
        ChannelKind::Slack,
        ChannelKind::Feishu,
        ChannelKind::DingTalk,
        ChannelKind::WeCom,
        ChannelKind::Email,
    ];

    /// The word stored in `alert_channels.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Feishu => "feishu",
            ChannelKind::DingTalk => "dingtalk",
            ChannelKind::WeCom => "wecom",
            ChannelKind::Email => "email",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChannelKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ChannelKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text.trim())
            .ok_or_else(|| {
                format!(
                    "`{}` is not a channel kind; use webhook, slack, feishu, dingtalk, wecom or email",
                    text.escape_debug()
                )
            })
    }
}

/// Checks a channel's columns: its kind, and a target that kind can use
/// (an `http(s)` URL for the robots and webhooks; for e-mail, addresses or
/// nothing, for the keepers'). The error names the column.
pub fn check_channel(kind: &str, target: &str) -> Result<ChannelKind, (&'static str, String)> {
    let kind: ChannelKind = kind.parse().map_err(|e| ("kind", e))?;
    let target = target.trim();
    if kind == ChannelKind::Email {
        if let Some(bad) = target
            .split(',')
            .map(str::trim)
            .find(|a| !a.is_empty() && (!a.contains('@') || a.chars().any(char::is_whitespace)))
        {
            return Err((
                "target",
                format!("`{}` is not an e-mail address", bad.escape_debug()),
            ));
        }
    } else if !(target.starts_with("https://") || target.starts_with("http://")) {
        return Err((
            "target",
            format!("a {kind} channel needs its webhook's http(s) URL as its target"),
        ));
    }
    Ok(kind)
}

/// A rule as the `alert_rules` table holds it, read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertRule {
    /// Its name.
    pub name: String,
    /// What it alerts on.
    pub event: AlertEvent,
    /// The tasks it is for; empty with no group: every task (a default).
    pub tasks: Vec<String>,
    /// The group it is for.
    pub group: Option<String>,
    /// Where its alerts go (channel names).
    pub channels: Vec<String>,
    /// See [`AlertEvent::threshold`] (ms).
    pub threshold_ms: Option<i64>,
    /// For `failures`: how many within the window.
    pub count: Option<i64>,
    /// Repeats for the same task within this long after an alert are
    /// suppressed (ms; 0: none).
    pub silence_ms: i64,
}

/// How specific a rule is for a task: rules naming the task beat rules for
/// its group, which beat the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    Task,
    Group,
    Default,
}

impl AlertRule {
    /// Reads a rule's columns; the error names the column.
    #[allow(clippy::too_many_arguments)]
    pub fn from_columns(
        name: &str,
        event: &str,
        tasks: Option<&str>,
        group: Option<&str>,
        channels: &str,
        threshold_ms: Option<i64>,
        count: Option<i64>,
        silence_ms: i64,
    ) -> Result<Self, (&'static str, String)> {
        let event: AlertEvent = event.parse().map_err(|e| ("event", e))?;
        let tasks = match tasks {
            None => Vec::new(),
            Some(text) => parse_task_list(text).map_err(|e| ("tasks", e))?,
        };
        let channels = parse_task_list(channels).map_err(|e| ("channels", e))?;
        let rule = AlertRule {
            name: name.to_owned(),
            event,
            tasks,
            group: group
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_owned),
            channels,
            threshold_ms,
            count,
            silence_ms,
        };
        rule.check()?;
        Ok(rule)
    }

    /// Checks the rule holds together; the error names the column.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.name.trim().is_empty() || self.name.chars().any(char::is_control) {
            return Err((
                "name",
                "a rule needs a name without control characters".into(),
            ));
        }
        if self.channels.is_empty() {
            return Err((
                "channels",
                "a rule needs at least one channel to send to".into(),
            ));
        }
        match (self.event.threshold(), self.threshold_ms) {
            (Some(what), None) => {
                return Err((
                    "threshold_ms",
                    format!("a `{}` rule needs a threshold: {what}", self.event),
                ));
            }
            (Some(_), Some(ms)) if ms <= 0 => {
                return Err(("threshold_ms", "the threshold must be positive".into()));
            }
            _ => {}
        }
        if self.event == AlertEvent::Failures
            && !self.count.is_some_and(|n| (1..=10_000).contains(&n))
        {
            return Err((
                "count",
                "a `failures` rule needs a count: how many failures within the window raise it (1 to 10000)".into(),
            ));
        }
        if self.silence_ms < 0 {
            return Err(("silence_ms", "the silence window cannot be negative".into()));
        }
        if !self.tasks.is_empty() && self.group.is_some() {
            return Err((
                "tasks",
                "a rule is for named tasks or for a group, not both; make two rules".into(),
            ));
        }
        Ok(())
    }

    fn scope_for(&self, task: &str, group: &str) -> Option<Scope> {
        if !self.tasks.is_empty() {
            return self.tasks.iter().any(|t| t == task).then_some(Scope::Task);
        }
        match &self.group {
            Some(g) => (g == group).then_some(Scope::Group),
            None => Some(Scope::Default),
        }
    }
}

/// The rules for `event` on `task` (of `group`): those of the most specific
/// scope that has any.
pub fn rules_for<'a>(
    rules: &'a [AlertRule],
    event: AlertEvent,
    task: &str,
    group: &str,
) -> Vec<&'a AlertRule> {
    let matching: Vec<(Scope, &AlertRule)> = rules
        .iter()
        .filter(|rule| rule.event == event)
        .filter_map(|rule| rule.scope_for(task, group).map(|scope| (scope, rule)))
        .collect();
    let Some(best) = matching.iter().map(|(scope, _)| *scope).min() else {
        return Vec::new();
    };
    matching
        .into_iter()
        .filter(|(scope, _)| *scope == best)
        .map(|(_, rule)| rule)
        .collect()
}

/// An alert as it goes out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertNotice {
    /// Its id.
    pub id: i64,
    /// The rule that raised it.
    pub rule: String,
    /// What happened.
    pub event: AlertEvent,
    /// The task.
    pub task: String,
    /// The run, if it is about one.
    pub run_id: Option<i64>,
    /// What happened, in words.
    pub message: String,
    /// When it was raised (ms).
    pub raised_at: i64,
    /// Alerts like it suppressed since the last one that went out.
    pub suppressed_before: i64,
    /// A console page about it, if the host knows its console's address.
    pub link: Option<String>,
}

impl AlertNotice {
    /// The one-line title: `[Carillon] failed: task nightly (run 42)`.
    pub fn title(&self) -> String {
        match self.run_id {
            Some(run) => format!("[Carillon] {}: task {} (run {run})", self.event, self.task),
            None => format!("[Carillon] {}: task {}", self.event, self.task),
        }
    }

    /// The text IM channels and e-mail carry: title, message, the repeats
    /// suppressed before it, the console link.
    pub fn text(&self) -> String {
        let mut text = format!("{}\n{}", self.title(), self.message);
        if self.suppressed_before > 0 {
            text.push_str(&format!(
                "\n({} more like it were silenced since the last alert of rule {})",
                self.suppressed_before, self.rule
            ));
        }
        if let Some(link) = &self.link {
            text.push('\n');
            text.push_str(link);
        }
        text
    }
}

/// The console page about an alert: its run's page, else its task's.
pub fn console_link(base: &str, task: &str, run_id: Option<i64>) -> String {
    let base = base.trim_end_matches('/');
    match run_id {
        Some(run) => format!("{base}/runs/{run}"),
        None => format!("{base}/tasks/{}", percent_encode(task)),
    }
}

/// `text` percent-encoded for a URL path or query (unreserved characters
/// kept).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, event: AlertEvent, tasks: &[&str], group: Option<&str>) -> AlertRule {
        AlertRule {
            name: name.into(),
            event,
            tasks: tasks.iter().map(|t| (*t).to_owned()).collect(),
            group: group.map(Into::into),
            channels: vec!["ops".into()],
            threshold_ms: None,
            count: None,
            silence_ms: 0,
        }
    }

    #[test]
    fn the_most_specific_rules_win() {
        let rules = vec![
            rule("default", AlertEvent::Failed, &[], None),
            rule("etl", AlertEvent::Failed, &[], Some("etl")),
            rule("nightly", AlertEvent::Failed, &["nightly"], None),
            rule("slow", AlertEvent::LongRunning, &[], None),
        ];
        let names = |task, group| -> Vec<String> {
            rules_for(&rules, AlertEvent::Failed, task, group)
                .iter()
                .map(|r| r.name.clone())
                .collect()
        };
        assert_eq!(names("nightly", "etl"), ["nightly"]);
        assert_eq!(names("other", "etl"), ["etl"]);
        assert_eq!(names("other", "default"), ["default"]);
        assert!(rules_for(&rules, AlertEvent::Misfire, "x", "y").is_empty());
    }

    #[test]
    fn rules_that_cannot_work_name_the_column() {
        let check = |event, threshold, count, tasks: Option<&str>, group: Option<&str>| {
            AlertRule::from_columns("r", event, tasks, group, "ops", threshold, count, 0)
                .err()
                .map(|(column, _)| column)
        };
        assert_eq!(check("failed", None, None, None, None), None);
        assert_eq!(check("exploded", None, None, None, None), Some("event"));
        assert_eq!(
            check("long-running", None, None, None, None),
            Some("threshold_ms")
        );
        assert_eq!(
            check("failures", Some(60_000), None, None, None),
            Some("count")
        );
        assert_eq!(check("failures", Some(60_000), Some(3), None, None), None);
        assert_eq!(
            check("failed", None, None, Some("a"), Some("g")),
            Some("tasks")
        );
        let no_channel = AlertRule::from_columns("r", "failed", None, None, " ", None, None, 0);
        assert_eq!(no_channel.unwrap_err().0, "channels");
    }

    #[test]
    fn an_alert_reads_as_one_message_with_its_repeats_and_link() {
        let notice = AlertNotice {
            id: 1,
            rule: "ops".into(),
            event: AlertEvent::Failed,
            task: "nightly load".into(),
            run_id: Some(42),
            message: "failed for good after 3 attempts: boom".into(),
            raised_at: 0,
            suppressed_before: 2,
            link: Some(console_link(
                "http://ops.example:7878/",
                "nightly load",
                Some(42),
            )),
        };
        assert_eq!(
            notice.text(),
            "[Carillon] failed: task nightly load (run 42)\nfailed for good after 3 attempts: boom\n\
             (2 more like it were silenced since the last alert of rule ops)\nhttp://ops.example:7878/runs/42"
        );
        assert_eq!(
            console_link("http://h", "a b", None),
            "http://h/tasks/a%20b"
        );
    }
}
