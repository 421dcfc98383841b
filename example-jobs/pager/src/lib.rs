//! `pager`: processes the items of its page, saving a checkpoint after every
//! `checkpoint_every` items (default 10), and resumes from the last checkpoint
//! when an earlier attempt of the same run saved one.
//!
//! Params: `total` (items in the data set, default 1000), `checkpoint_every`,
//! and `fail_after` (fail, retryably, on the first attempt after processing that
//! many items of the page: shows a retry resuming from its checkpoint). Without a
//! page (the task is not paged) it processes page 0 with the `page_size` param
//! (default 100).

use carillon_guest::{Context, JobError, Outcome, export_job, info, save_checkpoint};

fn run(ctx: &Context) -> Result<Outcome, JobError> {
    let total: u64 = ctx.param_or("total", 1000)?;
    let every: u64 = ctx.param_or("checkpoint_every", 10)?;
    let fail_after: Option<u64> = ctx
        .param_str("fail_after")
        .map(|_| ctx.param("fail_after"))
        .transpose()?;
    let (page_index, page_size) = match ctx.page() {
        Some(page) => (page.index, u64::from(page.size)),
        None => (0, ctx.param_or("page_size", 100)?),
    };
    let first = page_index * page_size;
    let end = (first + page_size).min(total);

    let resume_at = match ctx.checkpoint() {
        Some(bytes) => parse_checkpoint(bytes)?,
        None => first,
    };
    if resume_at != first {
        info!(item = resume_at; "resuming page {page_index} from checkpoint");
    }

    let mut next = resume_at.max(first);
    let mut processed: u64 = 0;
    while next < end {
        // "Process" the item; a real job would read and write its data here.
        next += 1;
        processed += 1;
        if processed.is_multiple_of(every.max(1)) || next == end {
            save_checkpoint(next.to_string().as_bytes())?;
        }
        if ctx.attempt() == 1 && fail_after == Some(processed) {
            return Err(JobError::retryable(format!(
                "failing on purpose after {processed} items (param `fail_after`)"
            )));
        }
    }
    info!(first = first, end = end, processed = processed; "page {page_index} done");
    Ok(Outcome::items(processed).with_summary(format!(
        "page {page_index}: items [{first}, {end}), {processed} processed this attempt"
    )))
}

fn parse_checkpoint(bytes: &[u8]) -> Result<u64, JobError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            JobError::fatal("checkpoint is not an item number; was it saved by another job?")
        })
}

export_job!(run);
