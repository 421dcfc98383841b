//! `hello`: logs the context it was given (a chained run's `parent.*`
//! params too), counts its runs in the task's state and hands on whom it
//! greeted. The smallest useful job, and the one to copy when starting a
//! new job.

use carillon_guest::{Context, JobError, Outcome, export_job, info, set_output, task_state};

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
    let runs = match task_state::get_string("runs")? {
        Some(text) => text.parse::<u64>().unwrap_or(0) + 1,
        None => 1,
    };
    task_state::set("runs", runs.to_string())?;
    set_output("greeted", &name)?;
    Ok(Outcome::items(1).with_summary(format!("said hello to {name} (run {runs} of this task)")))
}

export_job!(run);
