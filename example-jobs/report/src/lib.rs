//! `report`: writes a CSV report into a folder its task is granted, and reads
//! back the reports already there. The task's `mounts` column grants the
//! folder (`mounts = "reports"`, with `[mounts.reports]` in the host's
//! config); the job sees it at `/reports` and nothing else of the disk.
//!
//! Params: `mount` (default `reports`), `rows` (default 10).

use std::fmt::Write as _;

use carillon_guest::{Context, JobError, Outcome, export_job, info};

fn run(ctx: &Context) -> Result<Outcome, JobError> {
    let mount: String = ctx.param_or("mount", "reports".to_owned())?;
    let rows: u32 = ctx.param_or("rows", 10)?;
    let folder = format!("/{mount}");

    let mut csv = String::from("row,shard,square\n");
    for row in 0..rows {
        let _ = writeln!(csv, "{row},{},{}", ctx.shard().index, u64::from(row).pow(2));
    }
    let path = format!("{folder}/report-{}-{}.csv", ctx.run_id(), ctx.shard().index);
    std::fs::write(&path, &csv).map_err(|error| {
        JobError::fatal(format!(
            "cannot write {path}: {error} (is mount `{mount}` granted to the task and writable?)"
        ))
    })?;
    let reports = std::fs::read_dir(&folder)
        .map_err(|error| JobError::fatal(format!("cannot list {folder}: {error}")))?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".csv"))
        .count();
    info!(path = path.as_str(), bytes = csv.len(); "report written");
    Ok(Outcome::items(u64::from(rows)).with_summary(format!(
        "wrote {rows} rows to {path}; {reports} reports in {folder}"
    )))
}

export_job!(run);
