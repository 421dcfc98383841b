//! A `carillon serve` process for the benchmarks: started with the given
//! flags, waited for until it serves, measured, and stopped or killed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running host.
pub(crate) struct Served {
    child: Child,
}

impl Served {
    /// Starts `carillon serve ARGS` (compile cache in `cache`, log to `log`)
    /// and returns once it logs that it serves, with the time that took.
    /// `CARILLON_BIN` names another build to measure (side by side with
    /// an older commit's, say); by default it is this one's.
    pub(crate) fn start(args: &[&str], cache: &Path, log: PathBuf) -> (Served, Duration) {
        let started = Instant::now();
        let binary = std::env::var_os("CARILLON_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_carillon").into());
        let child = Command::new(binary)
            .arg("serve")
            .args(args)
            .env("CARILLON_CACHE_DIR", cache)
            .env("CARILLON_API_LISTEN", "127.0.0.1:0")
            .env("CARILLON_LOG_LEVEL", "warn,carillon::serve=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start carillon");
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("carillon is serving")
        {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "host did not start; see {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        (Served { child }, started.elapsed())
    }

    /// Resident set size now and at its peak, in MiB, from /proc.
    pub(crate) fn rss_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// kill -9.
    pub(crate) fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGINT, then wait for the exit.
    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
