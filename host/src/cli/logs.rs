//! `carillon logs RUN_ID`: one run's log lines, every attempt, in order.

use anyhow::bail;

use crate::cli::database::DbArgs;
use crate::cli::output::say;
use crate::cli::output::{printable, rfc3339_ms};

pub(crate) async fn logs(db: &DbArgs, run_id: i64, as_json: bool) -> anyhow::Result<()> {
    let store = db.open_existing().await?;
    if store.get_run(run_id).await?.is_none() {
        bail!("there is no run {run_id}; see `carillon runs`");
    }
    let lines = store.run_logs(run_id).await?;
    if as_json {
        say!("{}", serde_json::to_string_pretty(&lines)?);
        return Ok(());
    }
    for line in lines {
        let fields: Vec<(String, String)> = line
            .fields
            .as_deref()
            .and_then(|f| serde_json::from_str(f).ok())
            .unwrap_or_default();
        let fields: String = fields.iter().map(|(k, v)| format!(" {k}={v}")).collect();
        say!(
            "{} #{} {:<5} {}",
            rfc3339_ms(line.at),
            line.attempt,
            printable(&line.level.to_uppercase()),
            printable(&format!("{}{fields}", line.message))
        );
    }
    Ok(())
}
