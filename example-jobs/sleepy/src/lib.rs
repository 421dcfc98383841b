//! `sleepy`: runs for `seconds` (param; default: forever), sleeping in short
//! steps and checking for cancellation between them. Unless cancelled it runs
//! past any timeout; when cancelled it saves how far it got and returns.

use std::time::{Duration, Instant};

use carillon_guest::{Context, JobError, Outcome, cancelled, export_job, info, save_checkpoint};

fn run(ctx: &Context) -> Result<Outcome, JobError> {
    let seconds: f64 = ctx.param_or("seconds", f64::INFINITY)?;
    let step = Duration::from_millis(ctx.param_or("step_ms", 50)?);
    info!("sleeping for {seconds} s");
    let started = Instant::now();
    let mut steps = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        if cancelled() {
            save_checkpoint(steps.to_string().as_bytes())?;
            return Err(JobError::retryable(format!(
                "cancelled after {steps} steps"
            )));
        }
        std::thread::sleep(step);
        steps += 1;
    }
    Ok(Outcome::items(steps).with_summary(format!("slept {seconds} s")))
}

export_job!(run);
