//! `flaky`: fails (retryably) until attempt `succeed_on` (param, default 3), then
//! succeeds. For seeing retries and backoff work.

use carillon_guest::{Context, JobError, Outcome, export_job, info, warn};

fn run(ctx: &Context) -> Result<Outcome, JobError> {
    let succeed_on: u32 = ctx.param_or("succeed_on", 3)?;
    let attempt = ctx.attempt();
    if attempt < succeed_on {
        warn!(attempt = attempt; "failing on purpose");
        return Err(JobError::retryable(format!(
            "attempt {attempt} fails on purpose; attempt {succeed_on} will succeed"
        )));
    }
    info!(attempt = attempt; "succeeding");
    Ok(Outcome::done().with_summary(format!("succeeded on attempt {attempt}")))
}

export_job!(run);
