//! `/api/v1/stats/runs`: how many runs each hour of the last day or week
//! held, by state, for the dashboard's chart. An hour that ended more than
//! [`SETTLED_AFTER`] ago is counted once and remembered by this host for a
//! week, so a week's chart costs the reading of its last hours only; the
//! bars of remembered hours do not follow later retries and purges.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::auth::Caller;
use crate::api::body::Query;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::server::ApiState;
use crate::api::views::{RunHour, RunHours};
use crate::clock::now_ms;
use crate::store::{Store, StoreError};
use crate::vocab::Role;

/// An hour, in ms.
const HOUR: i64 = 3_600_000;
/// The most hours a chart asks for: a week.
pub(crate) const MAX_HOURS: i64 = 168;
/// An hour this long over is counted once and remembered.
const SETTLED_AFTER: i64 = 2 * HOUR;

/// The counts of one hour: (group, state, runs).
type HourCount = Vec<(String, String, i64)>;

/// The settled hours counted so far, by their start (ms).
#[derive(Debug, Default)]
pub(crate) struct SettledHours {
    hours: Mutex<HashMap<i64, HourCount>>,
}

impl SettledHours {
    /// The counts of every hour in `start..end` (hour-aligned): remembered
    /// for settled hours (counting those not yet remembered), read now for
    /// the rest.
    async fn counts(
        &self,
        store: &Store,
        start: i64,
        end: i64,
        now: i64,
    ) -> Result<BTreeMap<i64, HourCount>, StoreError> {
        let settled_end = (now - SETTLED_AFTER).div_euclid(HOUR) * HOUR;
        let split = settled_end.clamp(start, end);
        let missing: Vec<i64> = {
            let hours = self.lock();
            (start..split)
                .step_by(HOUR as usize)
                .filter(|hour| !hours.contains_key(hour))
                .collect()
        };
        if let (Some(&first), Some(&last)) = (missing.first(), missing.last()) {
            let mut counted: HashMap<i64, HourCount> =
                missing.iter().map(|&hour| (hour, Vec::new())).collect();
            for (hour, group, state, runs) in store.count_runs_by_hour(first, last + HOUR).await? {
                if let Some(count) = counted.get_mut(&hour) {
                    count.push((group, state, runs));
                }
            }
            let mut hours = self.lock();
            hours.extend(counted);
            hours.retain(|&hour, _| hour >= now - (MAX_HOURS + 24) * HOUR);
        }
        let mut counts: BTreeMap<i64, HourCount> = {
            let hours = self.lock();
            (start..end)
                .step_by(HOUR as usize)
                .map(|hour| (hour, hours.get(&hour).cloned().unwrap_or_default()))
                .collect()
        };
        if split < end {
            for (hour, group, state, runs) in store.count_runs_by_hour(split, end).await? {
                if let Some(count) = counts.get_mut(&hour) {
                    count.push((group, state, runs));
                }
            }
        }
        Ok(counts)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, HourCount>> {
        self.hours
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts the settled hours of the last week, so that the first chart
    /// of a week after a start does not wait for them.
    pub(crate) async fn warm(&self, store: &Store) {
        let (now, started) = (now_ms(), std::time::Instant::now());
        let end = now.div_euclid(HOUR) * HOUR + HOUR;
        match self.counts(store, end - MAX_HOURS * HOUR, end, now).await {
            Ok(_) => tracing::debug!(
                "counted the last week's runs for the dashboard in {} ms",
                started.elapsed().as_millis()
            ),
            Err(error) => {
                tracing::warn!("cannot count the last week's runs for the dashboard yet: {error}")
            }
        }
    }
}

/// The span of the chart.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunHoursQuery {
    /// Hours back from the end of this hour (default 24, at most 168).
    #[param(minimum = 1, maximum = 168)]
    hours: Option<i64>,
}

/// Runs per hour of their slot, by state, over the last `hours` hours.
#[utoipa::path(get, path = "/api/v1/stats/runs", tag = "runs", params(RunHoursQuery),
    responses((status = 200, body = RunHours), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn runs_by_hour(
    State(state): State<ApiState>,
    caller: Caller,
    Query(query): Query<RunHoursQuery>,
) -> ApiResult<axum::Json<RunHours>> {
    caller.require(Role::Viewer)?;
    let hours = query.hours.unwrap_or(24);
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(ApiError::invalid(format!(
            "hours must be 1 to {MAX_HOURS} (a week); got {hours}"
        ))
        .on("hours"));
    }
    let now = now_ms();
    let end = now.div_euclid(HOUR) * HOUR + HOUR;
    let counts = state
        .settled_hours
        .counts(&state.store, end - hours * HOUR, end, now)
        .await?;
    let per_hour = counts
        .into_iter()
        .map(|(hour, count)| {
            let mut runs = BTreeMap::new();
            for (group, run_state, n) in count {
                if caller.sees(&group) {
                    *runs.entry(run_state).or_insert(0) += n;
                }
            }
            RunHour { hour, runs }
        })
        .collect();
    Ok(axum::Json(RunHours { hours: per_hour }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adds a run of group `group` in `state`, made at `created_at`.
    async fn add_run(store: &Store, slot: i64, group: &str, state: &str, created_at: i64) {
        store
            .run_sql(&format!(
                "INSERT INTO runs (task, task_group, module, shard_index, shard_total, \
                 scheduled_at, not_before, state, created_at) \
                 VALUES ('t', '{group}', 'noop', 0, 1, {slot}, 0, '{state}', {created_at})"
            ))
            .await;
    }

    fn runs_of(counts: &BTreeMap<i64, HourCount>, hour: i64) -> Vec<(String, String, i64)> {
        let mut runs = counts[&hour].clone();
        runs.sort();
        runs
    }

    #[tokio::test]
    async fn an_hour_is_counted_live_until_it_is_over_and_then_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("stats.db").display());
        let store = Store::connect(&url).await.unwrap();
        let base = 1_000 * HOUR;
        // Hour 0: two succeeded in etl, one failed in default; hour 1: one running.
        add_run(&store, 1, "etl", "succeeded", base + 10).await;
        add_run(&store, 2, "etl", "succeeded", base + 20).await;
        add_run(&store, 3, "default", "failed", base + 30).await;
        add_run(&store, 4, "etl", "running", base + HOUR + 5).await;
        let hours = SettledHours::default();

        // An hour after hour 1 ended: both are read live, and change as runs do.
        let now = base + 3 * HOUR - 1;
        let counts = hours
            .counts(&store, base, base + 3 * HOUR, now)
            .await
            .unwrap();
        assert_eq!(counts.len(), 3, "every hour of the span, empty ones too");
        assert_eq!(
            runs_of(&counts, base),
            [
                ("default".into(), "failed".into(), 1),
                ("etl".into(), "succeeded".into(), 2)
            ]
        );
        assert_eq!(runs_of(&counts, base + 2 * HOUR), []);
        store
            .run_sql("UPDATE runs SET state = 'succeeded' WHERE state = 'running'")
            .await;
        let counts = hours
            .counts(&store, base, base + 3 * HOUR, now)
            .await
            .unwrap();
        assert_eq!(
            runs_of(&counts, base + HOUR),
            [("etl".into(), "succeeded".into(), 1)]
        );

        // Hour 0 is over by more than SETTLED_AFTER: counted once, then
        // remembered though its runs change; hour 1 is still read live.
        let later = base + HOUR + SETTLED_AFTER + 1;
        hours
            .counts(&store, base, base + 3 * HOUR, later)
            .await
            .unwrap();
        store.run_sql("UPDATE runs SET state = 'cancelled'").await;
        let counts = hours
            .counts(&store, base, base + 3 * HOUR, later)
            .await
            .unwrap();
        assert_eq!(
            runs_of(&counts, base),
            [
                ("default".into(), "failed".into(), 1),
                ("etl".into(), "succeeded".into(), 2)
            ]
        );
        assert_eq!(
            runs_of(&counts, base + HOUR),
            [("etl".into(), "cancelled".into(), 1)]
        );
    }
}
