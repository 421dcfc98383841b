//! `hello`: logs the context it was given. The smallest useful job, and the one
//! to copy when starting a new job.

use carillon_guest::{Context, JobError, Outcome, export_job, info};

fn run(ctx: &Context) -> Result<Outcome, JobError> {
    let shard = ctx.shard();
    info!(
        task = ctx.task(),
        group = ctx.group(),
        run_id = ctx.run_id(),
        attempt = ctx.attempt();
        "hello from shard {} of {}", shard.index, shard.total
    );
    if let Some(parameter) = shard.parameter {
        info!("shard parameter: {parameter}");
    }
    if let Some(page) = ctx.page() {
        info!("page {} (size {})", page.index, page.size);
    }
    for (key, value) in ctx.params() {
        info!(value = value; "param {key}");
    }
    let name: String = ctx.param_or("name", "world".to_owned())?;
    Ok(Outcome::items(1).with_summary(format!("said hello to {name}")))
}

export_job!(run);
