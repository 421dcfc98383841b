//! This process's counters and histograms, rendered in Prometheus' text
//! format by the API's `/metrics`: fires, misfires, runs started and ended
//! by task and state, run lateness and duration, database errors of the
//! host's loops, outbound HTTP requests by purpose and outcome. Task labels
//! are capped ([`MAX_TASK_LABELS`] distinct names; later ones count under
//! `task="__other__"`) so a table of a million tasks cannot blow up a
//! scrape. One registry per process ([`global`]); counting is a few atomic
//! adds and, per run, one short lock.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

use crate::vocab::RunState;

/// Distinct task names that get a label of their own.
pub const MAX_TASK_LABELS: usize = 200;

/// The label tasks past the cap share.
const OTHER: &str = "__other__";

/// Lateness buckets, seconds: start minus slot.
const LATENESS_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0,
];

/// Duration buckets, seconds: end minus start.
const DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 1800.0, 3600.0,
];

/// A cumulative histogram of seconds.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, then the +Inf count.
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe_ms(&self, ms: i64) {
        let seconds = ms.max(0) as f64 / 1000.0;
        let bucket = self
            .bounds
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(ms.max(0) as u64 * 1000, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut total = 0;
        for (i, count) in self.counts.iter().enumerate() {
            total += count.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {total}");
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {total}");
    }
}

/// Counts of one task.
#[derive(Debug, Default)]
struct TaskCounts {
    started: u64,
    /// Final runs by state, in [`RunState::ALL`]'s order.
    ended: [u64; RunState::ALL.len()],
}

/// A gauge read at scrape time, by whoever renders.
#[derive(Debug, Clone)]
pub struct Gauge {
    /// Metric name.
    pub name: &'static str,
    /// What it measures.
    pub help: &'static str,
    /// Its value.
    pub value: f64,
}

/// The process's metrics.
#[derive(Debug)]
pub struct Metrics {
    fires: AtomicU64,
    misfires: AtomicU64,
    tasks: Mutex<HashMap<String, TaskCounts>>,
    lateness: Histogram,
    duration: Histogram,
    database_errors: Mutex<Vec<(&'static str, u64)>>,
    /// Outbound HTTP requests by (purpose, outcome).
    outbound: Mutex<Vec<((&'static str, &'static str), u64)>>,
}

impl Metrics {
    fn new() -> Self {
        Self {
            fires: AtomicU64::new(0),
            misfires: AtomicU64::new(0),
            tasks: Mutex::new(HashMap::new()),
            lateness: Histogram::new(&LATENESS_BUCKETS),
            duration: Histogram::new(&DURATION_BUCKETS),
            database_errors: Mutex::new(Vec::new()),
            outbound: Mutex::new(Vec::new()),
        }
    }

    /// The scheduler created `runs` runs and recorded `missed` slots as misfires.
    pub fn fired(&self, runs: usize, missed: i64) {
        self.fires.fetch_add(runs as u64, Ordering::Relaxed);
        self.misfires
            .fetch_add(missed.max(0) as u64, Ordering::Relaxed);
    }

    fn with_task(&self, task: &str, count: impl FnOnce(&mut TaskCounts)) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(counts) = tasks.get_mut(task) {
            count(counts);
        } else if tasks.len() < MAX_TASK_LABELS {
            count(tasks.entry(task.to_owned()).or_default());
        } else {
            count(tasks.entry(OTHER.to_owned()).or_default());
        }
    }

    /// A run of `task` started `lateness_ms` after its slot.
    pub fn run_started(&self, task: &str, lateness_ms: i64) {
        self.lateness.observe_ms(lateness_ms);
        self.with_task(task, |counts| counts.started += 1);
    }

    /// A run of `task` ended for good in `state`, after `duration_ms` of
    /// running if it ran.
    pub fn run_ended(&self, task: &str, state: RunState, duration_ms: Option<i64>) {
        if let Some(ms) = duration_ms {
            self.duration.observe_ms(ms);
        }
        let index = RunState::ALL.iter().position(|s| *s == state).unwrap_or(0);
        self.with_task(task, |counts| counts.ended[index] += 1);
    }

    /// One of the host's loops (`during`: scheduling, claiming, …) failed
    /// on the database.
    pub fn database_error(&self, during: &'static str) {
        let mut errors = self
            .database_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match errors.iter_mut().find(|(name, _)| *name == during) {
            Some((_, count)) => *count += 1,
            None => errors.push((during, 1)),
        }
    }

    /// An outbound HTTP request for `purpose` (`delay`) ended so (`2xx`,
    /// `4xx`, `refused`, `timeout`, `failed`, …).
    pub fn outbound(&self, purpose: &'static str, outcome: &'static str) {
        let mut counts = self.outbound.lock().unwrap_or_else(|e| e.into_inner());
        match counts
            .iter_mut()
            .find(|(key, _)| *key == (purpose, outcome))
        {
            Some((_, count)) => *count += 1,
            None => counts.push(((purpose, outcome), 1)),
        }
    }

    /// Everything, in Prometheus' text format, with `gauges` read by the caller.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            &mut out,
            "carillon_fires_total",
            "Runs the scheduler of this host created from due slots.",
            self.fires.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "carillon_misfires_total",
            "Slots this host recorded as missed (misfires).",
            self.misfires.load(Ordering::Relaxed),
        );
        {
            let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
            let mut names: Vec<&String> = tasks.keys().collect();
            names.sort();
            let _ = writeln!(
                out,
                "# HELP carillon_runs_started_total Runs (attempts) this host started, by task.\n\
                 # TYPE carillon_runs_started_total counter"
            );
            for name in &names {
                let _ = writeln!(
                    out,
                    "carillon_runs_started_total{{task=\"{}\"}} {}",
                    escape(name),
                    tasks[*name].started
                );
            }
            let _ = writeln!(
                out,
                "# HELP carillon_runs_ended_total Runs that ended for good on this host, by task and final state.\n\
                 # TYPE carillon_runs_ended_total counter"
            );
            for name in &names {
                for (state, count) in RunState::ALL.iter().zip(tasks[*name].ended) {
                    if count > 0 {
                        let _ = writeln!(
                            out,
                            "carillon_runs_ended_total{{task=\"{}\",state=\"{state}\"}} {count}",
                            escape(name)
                        );
                    }
                }
            }
        }
        self.lateness.render(
            &mut out,
            "carillon_run_lateness_seconds",
            "How late runs started after their slot.",
        );
        self.duration.render(
            &mut out,
            "carillon_run_duration_seconds",
            "How long runs ran.",
        );
        let _ = writeln!(
            out,
            "# HELP carillon_database_errors_total Failed database operations of the host's loops, by loop.\n\
             # TYPE carillon_database_errors_total counter"
        );
        for (during, count) in self
            .database_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "carillon_database_errors_total{{during=\"{during}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP carillon_outbound_requests_total Outbound HTTP requests (delay callbacks), by purpose and outcome.\n\
             # TYPE carillon_outbound_requests_total counter"
        );
        for ((purpose, outcome), count) in self
            .outbound
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "carillon_outbound_requests_total{{purpose=\"{purpose}\",outcome=\"{outcome}\"}} {count}"
            );
        }
        for gauge in gauges {
            let _ = writeln!(
                out,
                "# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2}",
                gauge.name, gauge.help, gauge.value
            );
        }
        out
    }
}

/// A label value as the text format needs it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// This process's metrics.
pub fn global() -> &'static Metrics {
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_counted_by_task_with_a_cap_and_latenesses_bucketed() {
        let metrics = Metrics::new();
        metrics.fired(3, 1);
        metrics.run_started("a\"b", 3);
        metrics.run_started("a\"b", 700);
        metrics.run_ended("a\"b", RunState::Failed, Some(20));
        for i in 0..MAX_TASK_LABELS + 5 {
            metrics.run_started(&format!("t{i}"), 0);
        }
        metrics.database_error("scheduling");
        metrics.outbound("delay", "2xx");
        metrics.outbound("delay", "2xx");
        metrics.outbound("delay", "refused");
        let text = metrics.render(&[Gauge {
            name: "carillon_runs_pending",
            help: "Pending runs.",
            value: 4.0,
        }]);
        assert!(text.contains("carillon_fires_total 3\n"), "{text}");
        assert!(text.contains("carillon_misfires_total 1\n"));
        assert!(
            text.contains("carillon_runs_started_total{task=\"a\\\"b\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("carillon_runs_ended_total{task=\"a\\\"b\",state=\"failed\"} 1\n"));
        assert!(
            text.contains("carillon_runs_started_total{task=\"__other__\"} 6\n"),
            "{text}"
        );
        assert_eq!(
            text.matches("carillon_runs_started_total{").count(),
            MAX_TASK_LABELS + 1
        );
        assert!(
            text.contains("carillon_run_lateness_seconds_bucket{le=\"0.005\"} 206\n"),
            "{text}"
        );
        assert!(
            text.contains("carillon_run_lateness_seconds_bucket{le=\"0.5\"} 206\n"),
            "{text}"
        );
        assert!(
            text.contains("carillon_run_lateness_seconds_bucket{le=\"1\"} 207\n"),
            "{text}"
        );
        assert!(
            text.contains("carillon_run_lateness_seconds_count 207\n"),
            "{text}"
        );
        assert!(text.contains("carillon_database_errors_total{during=\"scheduling\"} 1\n"));
        assert!(
            text.contains(
                "carillon_outbound_requests_total{purpose=\"delay\",outcome=\"2xx\"} 2\n"
            )
        );
        assert!(text.contains(
            "carillon_outbound_requests_total{purpose=\"delay\",outcome=\"refused\"} 1\n"
        ));
        assert!(text.contains("# TYPE carillon_runs_pending gauge\ncarillon_runs_pending 4\n"));
    }
}
