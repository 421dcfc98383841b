//! The host's one source of "now" for scheduling and records: milliseconds
//! since the Unix epoch from the system clock. Pure modules take time as an
//! argument instead of calling this.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
