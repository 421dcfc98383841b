//! How the CLI shows times and log lines to people.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::runtime::io::LogLine;

/// `2026-01-31T10:15:00.123Z` for ms since the Unix epoch.
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// One log line for a terminal: time, level, message, then `key=value` fields.
pub(crate) fn log_line(line: &LogLine) -> String {
    let mut text = format!(
        "{} {:<5} {}",
        rfc3339_ms(line.at_ms),
        line.level.as_str().to_uppercase(),
        line.message
    );
    for (key, value) in &line.fields {
        text.push_str(&format!(" {key}={}", quote_if_needed(value)));
    }
    text
}

fn quote_if_needed(value: &str) -> String {
    if value.is_empty() || value.contains(char::is_whitespace) || value.contains('"') {
        format!("{value:?}")
    } else {
        value.to_owned()
    }
}

/// Prints rows as left-aligned columns under a header.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// An optional time in ms as RFC 3339, or `-`.
pub(crate) fn time_or_dash(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_owned(), rfc3339_ms)
}
