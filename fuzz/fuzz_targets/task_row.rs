//! Any values in the columns of a task row, as another system may write
//! them with plain SQL: the row is a definition or an error naming the
//! column, and a definition's next fire times are computed without a panic.
#![no_main]

use arbitrary::Arbitrary;
use carillon::vocab::{TaskDefinition, TaskRow, TaskSpec};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Columns {
    name: String,
    group: String,
    module: String,
    schedule: String,
    time_zone: String,
    shard_total: i64,
    shard_params: Option<String>,
    page_size: Option<i64>,
    params: String,
    concurrency: String,
    misfire: String,
    timeout_ms: Option<i64>,
    memory_mib: Option<i64>,
    max_retries: i64,
    retry_backoff_ms: i64,
    selector: Option<String>,
    start_at: Option<i64>,
    end_at: Option<i64>,
    keep_runs: Option<i64>,
    created_at: i64,
    after_ms: i64,
}

fuzz_target!(|columns: Columns| {
    let mut spec = TaskSpec::new(&columns.name, &columns.module, &columns.schedule);
    spec.group = columns.group;
    spec.time_zone = columns.time_zone;
    spec.shard_total = columns.shard_total;
    spec.shard_params = columns.shard_params;
    spec.page_size = columns.page_size;
    spec.params = columns.params;
    spec.concurrency = columns.concurrency;
    spec.misfire = columns.misfire;
    spec.timeout_ms = columns.timeout_ms;
    spec.memory_mib = columns.memory_mib;
    spec.max_retries = columns.max_retries;
    spec.retry_backoff_ms = columns.retry_backoff_ms;
    spec.selector = columns.selector;
    spec.start_at = columns.start_at;
    spec.end_at = columns.end_at;
    spec.keep_runs = columns.keep_runs;
    let row = TaskRow::new(spec, columns.created_at);
    match TaskDefinition::from_row(&row) {
        Ok(definition) => {
            let _ = definition.timing.upcoming(columns.after_ms, 5);
        }
        Err(error) => assert!(
            error.message.starts_with("column `"),
            "an error that names no column: {}",
            error.message
        ),
    }
});
