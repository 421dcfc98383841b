//! `hog`: allocates memory 1 MiB at a time, touching every page, until it has
//! `mib` MiB (param; default: without end). Past the run's memory cap the host
//! stops it: the run fails with the cap as its reason.

use carillon_guest::{Context, JobError, Outcome, export_job, info};

fn run(ctx: &Context) -> Result<Outcome, JobError> {
    let limit: u64 = ctx.param_or("mib", u64::MAX)?;
    let mut held: Vec<Vec<u8>> = Vec::new();
    while (held.len() as u64) < limit {
        held.push(vec![0xA5; 1 << 20]);
        if held.len().is_multiple_of(16) {
            info!("holding {} MiB", held.len());
        }
    }
    Ok(Outcome::items(held.len() as u64).with_summary(format!("held {} MiB", held.len())))
}

export_job!(run);
