//! `carillon nodes`: the hosts sharing the database, whether each is alive
//! (heartbeat younger than the configured node timeout), its labels, and the
//! runs it holds.

use serde_json::json;

use crate::cli::database::DbArgs;
use crate::cli::output::say;
use crate::cli::output::{rfc3339_ms, table};
use crate::clock::now_ms;

pub(crate) async fn nodes(db: &DbArgs, as_json: bool) -> anyhow::Result<()> {
    let config = db.config()?;
    let store = db.open_existing().await?;
    let nodes = store.list_nodes().await?;
    let now = now_ms();
    let timeout = config.node_timeout.as_millis() as i64;
    let alive = |heartbeat_at: i64| now - heartbeat_at <= timeout;
    if as_json {
        let items: Vec<_> = nodes
            .iter()
            .map(|n| {
                json!({
                    "id": n.id, "alive": alive(n.heartbeat_at), "labels": n.labels,
                    "capacity": n.capacity, "running": n.running,
                    "started_at": rfc3339_ms(n.started_at),
                    "heartbeat_at": rfc3339_ms(n.heartbeat_at),
                    "heartbeat_age_ms": now - n.heartbeat_at,
                })
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                n.id.clone(),
                if alive(n.heartbeat_at) {
                    "alive"
                } else {
                    "dead"
                }
                .to_owned(),
                if n.labels.is_empty() {
                    "-".to_owned()
                } else {
                    n.labels.clone()
                },
                age((now - n.heartbeat_at).max(0)),
                format!("{}/{}", n.running, n.capacity),
                rfc3339_ms(n.started_at),
            ]
        })
        .collect();
    table(
        &["NODE", "STATE", "LABELS", "HEARTBEAT", "RUNNING", "STARTED"],
        &rows,
    )?;
    Ok(())
}

/// `1.2s ago`, `3m ago`, `2h ago`.
fn age(ms: i64) -> String {
    match ms {
        ..60_000 => format!("{:.1}s ago", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m ago", ms / 60_000),
        _ => format!("{}h ago", ms / 3_600_000),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn heartbeat_ages_read_at_a_glance() {
        assert_eq!(super::age(1234), "1.2s ago");
        assert_eq!(super::age(125_000), "2m ago");
        assert_eq!(super::age(7_300_000), "2h ago");
    }
}
