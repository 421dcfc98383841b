//! A run's log as the runtime sees it: numbers lines, enforces the per-run log
//! cap, splits captured stdout/stderr into lines, and remembers a Rust panic
//! message so a panic trap can be reported as such. Lines go to the run's
//! [`LogSink`]; nothing is stored here beyond partial output lines.

use std::sync::{Arc, Mutex};

use crate::clock::now_ms;
use crate::runtime::RunFault;
use crate::runtime::io::{Level, LogLine, LogSink, LogSource, RunKey};
use crate::units::ByteSize;

pub(crate) struct RunLog {
    key: RunKey,
    sink: Arc<dyn LogSink>,
    cap: u64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_seq: u32,
    bytes_used: u64,
    /// Lines the sink could not hold.
    dropped: u64,
    flooded: bool,
    stdout_partial: Vec<u8>,
    stderr_partial: Vec<u8>,
    panic_location: Option<String>,
    panic_message: Option<String>,
    /// Secret values handed to the job: never written to the log.
    redacted: Vec<String>,
}

/// What a redacted value reads as.
const REDACTED: &str = "[redacted]";

impl RunLog {
    pub(crate) fn new(key: RunKey, sink: Arc<dyn LogSink>, cap: ByteSize) -> Self {
        Self {
            key,
            sink,
            cap: cap.bytes(),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A line from the `log` import. Fails (stopping the run) past the cap.
    pub(crate) fn guest_line(
        &self,
        level: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> Result<(), RunFault> {
        let cost = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        let mut inner = self.lock();
        self.charge(&mut inner, cost as u64)?;
        self.emit(&mut inner, level, LogSource::Guest, message, fields);
        Ok(())
    }

    /// Bytes the guest wrote to stdout or stderr. Complete lines are logged
    /// (stdout at info, stderr at warn); a partial line waits for its end.
    pub(crate) fn captured(&self, source: LogSource, bytes: &[u8]) -> Result<(), RunFault> {
        let mut inner = self.lock();
        self.charge(&mut inner, bytes.len() as u64)?;
        let mut partial = std::mem::take(match source {
            LogSource::Stderr => &mut inner.stderr_partial,
            _ => &mut inner.stdout_partial,
        });
        partial.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(end) = partial[start..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&partial[start..start + end]).into_owned();
            self.captured_line(&mut inner, source, line);
            start += end + 1;
        }
        partial.drain(..start);
        match source {
            LogSource::Stderr => inner.stderr_partial = partial,
            _ => inner.stdout_partial = partial,
        }
        Ok(())
    }

    fn captured_line(&self, inner: &mut Inner, source: LogSource, line: String) {
        let line = line.trim_end_matches('\r').to_owned();
        if line.is_empty() {
            return;
        }
        let level = if source == LogSource::Stderr {
            self.watch_for_panic(inner, &line);
            Level::Warn
        } else {
            Level::Info
        };
        self.emit(inner, level, source, line, Vec::new());
    }

    /// Rust's panic hook prints `thread '…' panicked at FILE:LINE:COL:` and then
    /// the message on the next line.
    fn watch_for_panic(&self, inner: &mut Inner, line: &str) {
        if let Some(at) = line.find(" panicked at ") {
            let location = line[at + " panicked at ".len()..].trim_end_matches(':');
            inner.panic_location = Some(location.to_owned());
            inner.panic_message = None;
        } else if inner.panic_location.is_some() && inner.panic_message.is_none() {
            inner.panic_message = Some(line.to_owned());
        }
    }

    /// A line from the host about this run; not counted against the cap.
    pub(crate) fn host_line(&self, level: Level, message: String) {
        let mut inner = self.lock();
        self.emit(&mut inner, level, LogSource::Host, message, Vec::new());
    }

    /// Logs whatever partial stdout/stderr line is left at the end of the run.
    pub(crate) fn finish(&self) {
        let mut inner = self.lock();
        for source in [LogSource::Stdout, LogSource::Stderr] {
            let partial = std::mem::take(match source {
                LogSource::Stderr => &mut inner.stderr_partial,
                _ => &mut inner.stdout_partial,
            });
            if !partial.is_empty() {
                let line = String::from_utf8_lossy(&partial).into_owned();
                self.captured_line(&mut inner, source, line);
            }
        }
    }

    /// `FILE:LINE:COL: message` of the last panic printed, if any.
    pub(crate) fn panic_report(&self) -> Option<String> {
        let inner = self.lock();
        let location = inner.panic_location.as_ref()?;
        Some(match &inner.panic_message {
            Some(message) => format!("{message} (at {location})"),
            None => format!("at {location}"),
        })
    }

    pub(crate) fn cap(&self) -> ByteSize {
        ByteSize(self.cap)
    }

    pub(crate) fn flooded(&self) -> bool {
        self.lock().flooded
    }

    pub(crate) fn bytes_used(&self) -> u64 {
        self.lock().bytes_used
    }

    fn charge(&self, inner: &mut Inner, cost: u64) -> Result<(), RunFault> {
        let fault = RunFault::LogFlood(ByteSize(self.cap));
        if inner.flooded {
            return Err(fault);
        }
        if inner.bytes_used + cost > self.cap {
            inner.flooded = true;
            let message = format!(
                "log cap of {} reached: stopping the run",
                ByteSize(self.cap)
            );
            self.emit(inner, Level::Error, LogSource::Host, message, Vec::new());
            return Err(fault);
        }
        inner.bytes_used += cost;
        Ok(())
    }

    fn emit(
        &self,
        inner: &mut Inner,
        level: Level,
        source: LogSource,
        message: String,
        fields: Vec<(String, String)>,
    ) {
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let (message, fields) = if inner.redacted.is_empty() {
            (message, fields)
        } else {
            let fields = fields
                .into_iter()
                .map(|(key, value)| (key, redact_in(&inner.redacted, &value)))
                .collect();
            (redact_in(&inner.redacted, &message), fields)
        };
        let line = LogLine {
            seq,
            at_ms: now_ms(),
            level,
            source,
            message,
            fields,
        };
        if !self.sink.write(&self.key, line) {
            inner.dropped += 1;
        }
    }

    /// From now on, `value` reads as `[redacted]` in every line (a value
    /// shorter than 4 bytes is left: it would blank out common words).
    pub(crate) fn redact(&self, value: &str) {
        if value.len() >= 4 {
            let mut inner = self.lock();
            if !inner.redacted.iter().any(|known| known == value) {
                inner.redacted.push(value.to_owned());
                // Longest first, so a value that holds another goes whole.
                inner
                    .redacted
                    .sort_by_key(|known| std::cmp::Reverse(known.len()));
            }
        }
    }

    /// `text` with every redacted value replaced.
    pub(crate) fn redacted(&self, text: &str) -> String {
        redact_in(&self.lock().redacted, text)
    }

    /// Lines the sink could not hold (it was full).
    pub(crate) fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

fn redact_in(values: &[String], text: &str) -> String {
    let mut text = text.to_owned();
    for value in values {
        if text.contains(value.as_str()) {
            text = text.replace(value.as_str(), REDACTED);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::io::memory::MemoryLog;

    #[test]
    fn a_redacted_value_never_reaches_the_log() {
        let sink = Arc::new(MemoryLog::default());
        let key = RunKey {
            task: Arc::from("t"),
            run_id: 7,
            attempt: 1,
        };
        let log = RunLog::new(key, sink.clone(), ByteSize::kib(64));
        log.guest_line(Level::Info, "token s3cr3t-t0k".into(), vec![])
            .unwrap();
        log.redact("s3cr3t-t0k");
        log.redact("abc");
        log.guest_line(
            Level::Info,
            "sending Bearer s3cr3t-t0k to abc".into(),
            vec![("auth".into(), "Bearer s3cr3t-t0k".into())],
        )
        .unwrap();
        log.captured(LogSource::Stdout, b"s3cr3t-t0k\n").unwrap();
        let lines = sink.lines_of(7);
        assert_eq!(
            lines[0].message, "token s3cr3t-t0k",
            "lines before the read are the job's own"
        );
        assert_eq!(lines[1].message, "sending Bearer [redacted] to abc");
        assert_eq!(lines[1].fields[0].1, "Bearer [redacted]");
        assert_eq!(lines[2].message, "[redacted]");
        assert_eq!(
            log.redacted("failed with s3cr3t-t0k"),
            "failed with [redacted]"
        );
    }
}
