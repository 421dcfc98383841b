//! `sleepy`: a long job with durable progress. It works for `seconds` (param;
//! default: forever) in steps of `step_ms` (default 50), saving a checkpoint
//! (steps done) every `checkpoint_every` steps (default 10) and when
//! cancelled. A retried or failed-over attempt resumes from the last
//! checkpoint, so the steps of all attempts add up to `seconds` of work.
//! With `progress = true` it also logs a line at each checkpoint (the
//! console's live log shows them arrive).

use std::time::Duration;

use carillon_guest::{Context, JobError, Outcome, cancelled, export_job, info, save_checkpoint};

fn run(ctx: &Context) -> Result<Outcome, JobError> {
    let seconds: f64 = ctx.param_or("seconds", f64::INFINITY)?;
    let step_ms: u64 = ctx.param_or("step_ms", 50)?;
    let checkpoint_every: u64 = ctx.param_or("checkpoint_every", 10)?;
    let progress: bool = ctx.param_or("progress", false)?;
    let total_steps = (seconds * 1000.0 / step_ms.max(1) as f64).ceil();
    let resumed_at: u64 = ctx
        .checkpoint()
        .and_then(|bytes| std::str::from_utf8(bytes).ok()?.parse().ok())
        .unwrap_or(0);
    info!(resumed_at = resumed_at; "sleeping for {seconds} s");
    let mut steps = resumed_at;
    while (steps as f64) < total_steps {
        if cancelled() {
            save_checkpoint(steps.to_string().as_bytes())?;
            return Err(JobError::retryable(format!(
                "cancelled after {steps} steps"
            )));
        }
        std::thread::sleep(Duration::from_millis(step_ms));
        steps += 1;
        if checkpoint_every > 0 && steps.is_multiple_of(checkpoint_every) {
            save_checkpoint(steps.to_string().as_bytes())?;
            if progress {
                info!(steps = steps; "checkpoint after {steps} steps");
            }
        }
    }
    Ok(Outcome::items(steps)
        .with_summary(format!("slept {seconds} s, resumed at step {resumed_at}")))
}

export_job!(run);
