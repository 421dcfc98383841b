//! How the CLI shows times and log lines to people.

use chrono::{DateTime, SecondsFormat, Utc};

/// `println!` that returns the error instead of panicking, so a closed pipe
/// (`carillon runs | head -3`) ends the output quietly: `main` takes a
/// broken pipe for success.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}
pub(crate) use say;

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
    printable(&text)
}

fn quote_if_needed(value: &str) -> String {
    if value.is_empty() || value.contains(char::is_whitespace) || value.contains('"') {
        format!("{value:?}")
    } else {
        value.to_owned()
    }
}

/// `text` with control characters escaped (`\n`, `\u{1b}`): names and
/// messages come from the database and jobs, and must not drive a terminal.
pub(crate) fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Prints rows as left-aligned columns under a header, control characters
/// escaped.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| printable(cell)).collect())
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> std::io::Result<()> {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        say!("{}", padded.join("  ").trim_end());
        Ok(())
    };
    line(header.to_vec())?;
    for row in rows {
        line(row.iter().map(String::as_str).collect())?;
    }
    Ok(())
}

/// An optional time in ms as RFC 3339, or `-`.
pub(crate) fn time_or_dash(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_owned(), rfc3339_ms)
}
