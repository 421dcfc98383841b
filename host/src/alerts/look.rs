//! The alerts nothing ends to set off, found by looking: runs running past
//! a `long-running` rule's threshold, and tasks a `stale` rule says should
//! have run by now and did not (a slot the scheduler has not fired, a run
//! no host started, a task the host cannot schedule). Every host looks;
//! the alerts table's key (rule, task, subject) keeps each alert one.

use crate::alerts::Alerts;
use crate::clock::now_ms;
use crate::store::{NewAlert, StoreError};
use crate::units::format_duration;
use crate::vocab::{AlertEvent, AlertRule, rules_for};

/// `5m 3s` for a span in ms.
fn age(ms: i64) -> String {
    format_duration(std::time::Duration::from_millis(
        (ms.max(0) / 1000 * 1000) as u64,
    ))
}

impl Alerts {
    /// Looks once; returns the alerts raised.
    pub(super) async fn look(&self) -> Result<usize, StoreError> {
        let rules = self.store.active_rules().await?;
        let now = now_ms();
        let mut raised = Vec::new();
        self.long_running(&rules, now, &mut raised).await?;
        self.stale(&rules, now, &mut raised).await?;
        self.store.raise_alerts(&raised, now).await
    }

    async fn long_running(
        &self,
        rules: &[AlertRule],
        now: i64,
        raised: &mut Vec<NewAlert>,
    ) -> Result<(), StoreError> {
        let Some(shortest) = shortest(rules, AlertEvent::LongRunning) else {
            return Ok(());
        };
        for (id, task, group, started_at) in self.store.runs_running_since(now - shortest).await? {
            for rule in rules_for(rules, AlertEvent::LongRunning, &task, &group) {
                let limit = rule.threshold_ms.unwrap_or(i64::MAX);
                if started_at < now - limit {
                    raised.push(NewAlert {
                        rule: rule.clone(),
                        task: task.clone(),
                        run_id: Some(id),
                        subject: format!("run:{id}"),
                        message: format!(
                            "run {id} has run for {}, past the {} this rule allows",
                            age(now - started_at),
                            age(limit)
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    async fn stale(
        &self,
        rules: &[AlertRule],
        now: i64,
        raised: &mut Vec<NewAlert>,
    ) -> Result<(), StoreError> {
        let Some(shortest) = shortest(rules, AlertEvent::Stale) else {
            return Ok(());
        };
        let (unfired, unstarted, blocked) = self.store.stale_candidates(now - shortest).await?;
        let mut raise =
            |task: &str, group: &str, late_since: Option<i64>, subject: String, message: String| {
                for rule in rules_for(rules, AlertEvent::Stale, task, group) {
                    let grace = rule.threshold_ms.unwrap_or(i64::MAX);
                    if late_since.is_none_or(|since| since < now - grace) {
                        raised.push(NewAlert {
                            rule: rule.clone(),
                            task: task.to_owned(),
                            run_id: None,
                            subject: subject.clone(),
                            message: message.clone(),
                        });
                    }
                }
            };
        for (task, group, slot) in unfired {
            raise(
                &task,
                &group,
                Some(slot),
                format!("slot:{slot}"),
                format!(
                    "its slot due {} ago has not fired: no host is scheduling this database, or the host is far behind",
                    age(now - slot)
                ),
            );
        }
        for (id, task, group, due) in unstarted {
            raise(
                &task,
                &group,
                Some(due),
                format!("run:{id}"),
                format!(
                    "run {id} has waited {} and no host started it: is a host with its selector's labels alive, \
                     with room to run it?",
                    age(now - due)
                ),
            );
        }
        for (task, group, revision, error) in blocked {
            raise(
                &task,
                &group,
                None,
                format!("error:{revision}"),
                format!("the host does not schedule it: {error}"),
            );
        }
        Ok(())
    }
}

/// The shortest threshold of the rules for `event`, if there are any.
fn shortest(rules: &[AlertRule], event: AlertEvent) -> Option<i64> {
    rules
        .iter()
        .filter(|rule| rule.event == event)
        .filter_map(|rule| rule.threshold_ms)
        .min()
}
