//! How a finished attempt is recorded: success, a retry after exponential
//! backoff, or a final failure state. Pure: time comes in as an argument.

use crate::runtime::{RunFault, RunOutcome};
use crate::store::{ClaimedRun, Completion};
use crate::vocab::RunState;

/// The longest retry delay, however many attempts were made.
const MAX_BACKOFF_MS: i64 = 3_600_000;

/// Delay before retry number `attempt` (the attempt that just failed, from 1):
/// `backoff × 2^(attempt-1)`, at most an hour.
pub fn retry_delay_ms(backoff_ms: i64, attempt: i64) -> i64 {
    let exponent = (attempt - 1).clamp(0, 30) as u32;
    backoff_ms
        .max(0)
        .saturating_mul(1 << exponent)
        .min(MAX_BACKOFF_MS)
}

/// What to record for `run` after its attempt ended with `outcome` at `now`.
/// `interrupted` says why the host itself stopped the run (shutting down, or
/// fenced off the database): such a run goes back to pending without
/// spending an attempt.
pub fn completion(
    outcome: &RunOutcome,
    run: &ClaimedRun,
    digest: Option<String>,
    now: i64,
    interrupted: Option<&str>,
) -> Completion {
    let base = Completion {
        state: RunState::Failed,
        retry_at: None,
        summary: None,
        items: None,
        error: outcome.reason(),
        module_digest: digest,
        refund_attempt: false,
        started_at: None,
        log_lines_dropped: 0,
        outputs: None,
    };
    let may_retry = run.attempt < run.max_attempts;
    let retry = |error: String| Completion {
        state: RunState::Pending,
        retry_at: Some(now + retry_delay_ms(run.retry_backoff_ms, run.attempt)),
        error: Some(format!("attempt {} {error}; retrying", run.attempt)),
        ..base.clone()
    };
    match outcome {
        RunOutcome::Succeeded { summary, items } => Completion {
            state: RunState::Succeeded,
            summary: summary.clone(),
            items: Some(*items as i64),
            error: None,
            ..base
        },
        _ if interrupted.is_some() => Completion {
            state: RunState::Pending,
            retry_at: Some(now),
            error: Some(format!(
                "interrupted: {}; it resumes from its last checkpoint",
                interrupted.unwrap_or_default()
            )),
            refund_attempt: true,
            ..base
        },
        RunOutcome::Failed { message, retryable } => {
            if *retryable && may_retry {
                retry(format!("failed: {message}"))
            } else {
                base
            }
        }
        // Not the job's failure: again after the backoff, the attempt not
        // counted.
        RunOutcome::Fault {
            fault: fault @ RunFault::Host(_),
        } => Completion {
            state: RunState::Pending,
            retry_at: Some(now + retry_delay_ms(run.retry_backoff_ms.max(1000), run.attempt)),
            error: Some(format!(
                "attempt {} {fault}; retrying (not counted against the task's retries)",
                run.attempt
            )),
            refund_attempt: true,
            ..base
        },
        RunOutcome::Fault {
            fault: fault @ RunFault::Cancelled(_),
        } => Completion {
            state: fault.state(),
            ..base
        },
        RunOutcome::Fault { fault } => {
            if may_retry {
                retry(format!("{}: {fault}", fault.state()))
            } else {
                Completion {
                    state: fault.state(),
                    ..base
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn run(attempt: i64, max_attempts: i64) -> ClaimedRun {
        ClaimedRun {
            id: 1,
            task: "t".into(),
            group: "default".into(),
            scheduled_at: 0,
            shard_index: 0,
            shard_total: 1,
            shard_param: None,
            page_index: None,
            page_size: None,
            not_before: 0,
            params: "{}".into(),
            module: "m".into(),
            timeout_ms: None,
            memory_mib: None,
            attempt,
            max_attempts,
            retry_backoff_ms: 1000,
            checkpoint: None,
            selector: None,
            planned_start: 0,
            mounts: None,
        }
    }

    fn failed(retryable: bool) -> RunOutcome {
        RunOutcome::Failed {
            message: "boom".into(),
            retryable,
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(retry_delay_ms(1000, 1), 1000);
        assert_eq!(retry_delay_ms(1000, 2), 2000);
        assert_eq!(retry_delay_ms(1000, 4), 8000);
        assert_eq!(retry_delay_ms(1000, 40), 3_600_000);
    }

    #[test]
    fn a_retryable_failure_with_attempts_left_is_retried_after_backoff() {
        let c = completion(&failed(true), &run(2, 3), None, 10_000, None);
        assert_eq!(c.state, RunState::Pending);
        assert_eq!(c.retry_at, Some(12_000));
        assert_eq!(c.error.as_deref(), Some("attempt 2 failed: boom; retrying"));
    }

    #[test]
    fn no_retry_when_attempts_are_spent_or_the_job_says_it_cannot_help() {
        assert_eq!(
            completion(&failed(true), &run(3, 3), None, 0, None).state,
            RunState::Failed
        );
        assert_eq!(
            completion(&failed(false), &run(1, 3), None, 0, None).state,
            RunState::Failed
        );
    }

    #[test]
    fn faults_retry_while_attempts_last_and_end_in_their_own_state() {
        let timeout = RunOutcome::Fault {
            fault: RunFault::TimedOut(Duration::from_secs(1)),
        };
        assert_eq!(
            completion(&timeout, &run(1, 2), None, 0, None).state,
            RunState::Pending
        );
        assert_eq!(
            completion(&timeout, &run(2, 2), None, 0, None).state,
            RunState::TimedOut
        );
        let cancelled = RunOutcome::Fault {
            fault: RunFault::Cancelled("replaced".into()),
        };
        assert_eq!(
            completion(&cancelled, &run(1, 5), None, 0, None).state,
            RunState::Cancelled
        );
    }

    #[test]
    fn a_failure_of_the_hosts_database_is_retried_without_spending_an_attempt() {
        let failed = RunOutcome::Fault {
            fault: RunFault::Host("checkpoint not saved: disk full".into()),
        };
        let c = completion(&failed, &run(1, 1), None, 10_000, None);
        assert_eq!(
            (c.state, c.retry_at, c.refund_attempt),
            (RunState::Pending, Some(11_000), true)
        );
        assert!(c.error.unwrap().contains("not counted"));
    }

    #[test]
    fn an_interrupted_run_goes_back_to_pending_without_spending_an_attempt() {
        let cancelled = RunOutcome::Fault {
            fault: RunFault::Cancelled("host shutting down".into()),
        };
        let c = completion(&cancelled, &run(1, 1), None, 5, Some("the host shut down"));
        assert_eq!(
            (c.state, c.retry_at, c.refund_attempt),
            (RunState::Pending, Some(5), true)
        );
        let success = RunOutcome::Succeeded {
            summary: None,
            items: 3,
        };
        assert_eq!(
            completion(&success, &run(1, 1), None, 5, Some("the host shut down")).state,
            RunState::Succeeded
        );
    }
}
