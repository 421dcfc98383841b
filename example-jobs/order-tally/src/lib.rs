//! `order-tally`: pages through a database table with checkpoints, the shape
//! of most scheduled jobs that read rows. It reads `orders` (`id`, `amount`)
//! in batches keyed by id (`WHERE id > $1 ORDER BY id LIMIT $2`), saving the
//! last id and the running total as a checkpoint after each batch, so a
//! retry or a failover resumes where it stopped; then it records the total
//! in `order_totals` (`run_id`, `orders`, `total`).
//!
//! The task grants the connection in its `databases` column (the host's
//! `[databases.NAME]`). Params: `database` (default `shop`), `batch`
//! (default 100), `fail_after_batches` (fail, retryably, on the first
//! attempt after that many batches: shows the resume).

use carillon_guest::sql;
use carillon_guest::{Context, JobError, Outcome, export_job, info, save_checkpoint};

fn run(ctx: &Context) -> Result<Outcome, JobError> {
    let database: String = ctx.param_or("database", "shop".to_owned())?;
    let batch: u32 = ctx.param_or("batch", 100)?;
    let fail_after: Option<u32> = ctx
        .param_str("fail_after_batches")
        .map(|_| ctx.param("fail_after_batches"))
        .transpose()?;

    let (mut last_id, mut orders, mut total) = match ctx.checkpoint() {
        Some(bytes) => parse_checkpoint(bytes)?,
        None => (0, 0, 0),
    };
    if last_id > 0 {
        info!(last_id = last_id, orders = orders; "resuming after order {last_id}");
    }
    let mut batches = 0;
    loop {
        let rows = sql::query(
            &database,
            "SELECT id, amount FROM orders WHERE id > $1 ORDER BY id LIMIT $2",
            &[&last_id, &batch],
        )?;
        if rows.is_empty() {
            break;
        }
        for row in rows.iter() {
            last_id = row.get("id")?;
            total += row.get::<i64>("amount")?;
            orders += 1;
        }
        save_checkpoint(format!("{last_id},{orders},{total}").as_bytes())?;
        batches += 1;
        if ctx.attempt() == 1 && fail_after == Some(batches) {
            return Err(JobError::retryable(format!(
                "failing on purpose after {batches} batches (param `fail_after_batches`)"
            )));
        }
    }
    sql::execute(
        &database,
        "INSERT INTO order_totals (run_id, orders, total) VALUES ($1, $2, $3)",
        &[&(ctx.run_id() as i64), &orders, &total],
    )?;
    Ok(Outcome::items(orders as u64).with_summary(format!(
        "{orders} orders, total {total}, in {batches} batches this attempt"
    )))
}

/// `last_id,orders,total`.
fn parse_checkpoint(bytes: &[u8]) -> Result<(i64, i64, i64), JobError> {
    let text = std::str::from_utf8(bytes).unwrap_or("");
    let parts: Vec<i64> = text
        .split(',')
        .filter_map(|part| part.parse().ok())
        .collect();
    match parts[..] {
        [last_id, orders, total] => Ok((last_id, orders, total)),
        _ => Err(JobError::fatal(format!(
            "checkpoint `{text}` is not `last_id,orders,total`; was it saved by another job?"
        ))),
    }
}

export_job!(run);
