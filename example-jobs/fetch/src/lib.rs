//! `fetch`: GETs the URL in its `url` param and logs the answer's status and
//! size; fails on a status other than 2xx (retryable on 5xx and 429). Its
//! task must grant the URL's host in `allowed_hosts`. Param `repeat`
//! (default 1) GETs it that many times in the run, one after the other (the
//! benchmark's per-request cost inside a job).

use carillon_guest::{Context, JobError, Outcome, export_job, http, info};

fn run(ctx: &Context) -> Result<Outcome, JobError> {
    let url: String = ctx.param("url")?;
    let repeat: u32 = ctx.param_or("repeat", 1)?;
    for _ in 1..repeat {
        http::get(&url)?.ok()?;
    }
    let answer = http::get(&url)?;
    info!(
        status = answer.status,
        bytes = answer.body.len(),
        content_type = answer.header("content-type").unwrap_or("");
        "GET {url}"
    );
    let answer = answer.ok()?;
    Ok(Outcome::items(1).with_summary(format!(
        "GET {url}: {} ({} bytes)",
        answer.status,
        answer.body.len()
    )))
}

export_job!(run);
