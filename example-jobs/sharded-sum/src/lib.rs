//! `sharded-sum`: sums its shard's slice of the range `[from, to)` given by the
//! params `from` (default 0) and `to` (required). Shard `i` of `n` takes the
//! `i`-th of `n` contiguous, near-equal slices, so the shards' sums add up to the
//! sum of the whole range.

use carillon_guest::{Context, JobError, Outcome, export_job, info};

fn run(ctx: &Context) -> Result<Outcome, JobError> {
    let from: u64 = ctx.param_or("from", 0)?;
    let to: u64 = ctx.param("to")?;
    if to < from {
        return Err(JobError::fatal(format!(
            "param `to` ({to}) is below param `from` ({from})"
        )));
    }
    let shard = ctx.shard();
    let (start, end) = slice_of(from, to, shard.index, shard.total);
    let sum: u128 = (start..end).map(u128::from).sum();
    info!(start = start, end = end, sum = sum; "shard {} of {} summed its slice", shard.index, shard.total);
    Ok(Outcome::items(end - start).with_summary(format!("sum of [{start}, {end}) = {sum}")))
}

/// The `index`-th of `total` contiguous slices of `[from, to)`; the first
/// `len % total` slices are one longer.
fn slice_of(from: u64, to: u64, index: u32, total: u32) -> (u64, u64) {
    let (index, total) = (u64::from(index), u64::from(total.max(1)));
    let len = to - from;
    let (base, extra) = (len / total, len % total);
    let start = from + index * base + index.min(extra);
    let end = start + base + u64::from(index < extra);
    (start.min(to), end.min(to))
}

export_job!(run);
