//! SQLite on a full filesystem: the host says what is wrong, holds the run
//! records it cannot write, never keeps the database locked (the task table
//! stays writable), loses nothing that ran, runs no slot twice, and carries
//! on by itself when space returns. Needs root (it mounts a small tmpfs).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::host::{Host, wait_until};

/// A tmpfs of `size` mounted for the test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("cannot run mount");
        assert!(status.success(), "mounting a tmpfs needs root");
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn grow(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

#[test]
fn sqlite_on_a_full_disk_holds_its_records_and_recovers_when_space_returns() {
    let disk = SmallDisk::mount("2m");
    let database: PathBuf = disk.path().join("carillon.db");
    let host = Host::start_on(
        Some(format!("sqlite://{}", database.display())),
        &["hello"],
        &[],
    );
    host.sql(
        "INSERT INTO tasks (name, module, schedule, shard_total) VALUES ('greet', 'hello', 'every 1s', 100)",
    );
    wait_until("the disk to fill up", Duration::from_secs(60), || {
        host.log()
            .contains("database or disk is full")
            .then_some(())
    });
    // The host holds no transaction open: plain SQL can still write the
    // task table (within SQLite's usual wait for a busy writer), or is told
    // the disk is full, never that the database is locked.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match host.try_sql("UPDATE tasks SET paused = TRUE WHERE name = 'greet'") {
            Ok(()) => break,
            Err(error) if error.contains("full") => break,
            Err(error) => assert!(
                std::time::Instant::now() < deadline,
                "the task table stayed unwritable: {error}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    disk.grow("64m");
    host.sql("UPDATE tasks SET paused = TRUE WHERE name = 'greet'");
    wait_until(
        "every run to end, its records stored",
        Duration::from_secs(60),
        || {
            let active =
                host.query("SELECT COUNT(*) FROM runs WHERE state IN ('running', 'pending')");
            // Records held while the disk was full (if a run ended then)
            // are stored once it has room.
            let held = host.log().contains("holding them");
            let stored = host.log().contains("run records stored again");
            (active[0][0] == "0" && (!held || stored)).then_some(())
        },
    );
    // Nothing that ran is lost from the record, nothing ran twice.
    let runs = host.query("SELECT state, COUNT(*) FROM runs GROUP BY state ORDER BY state");
    assert!(!runs.is_empty(), "{runs:?}");
    let twice = host.query("SELECT COUNT(*) FROM runs WHERE attempt > 1");
    assert_eq!(twice[0][0], "0", "no run ran twice: {runs:?}");
    let logless = host.query(
        "SELECT COUNT(*) FROM runs r WHERE r.state = 'succeeded' \
         AND NOT EXISTS (SELECT 1 FROM run_logs l WHERE l.run_id = r.id)",
    );
    assert_eq!(logless[0][0], "0", "every run that ran has its log");
    let problems = host.query("PRAGMA integrity_check");
    assert_eq!(problems, [["ok"]]);

    // And it serves on.
    host.sql("UPDATE tasks SET paused = FALSE, shard_total = 1 WHERE name = 'greet'");
    let before: i64 = host.query("SELECT COUNT(*) FROM runs WHERE state = 'succeeded'")[0][0]
        .parse()
        .unwrap();
    wait_until(
        "runs after the disk came back",
        Duration::from_secs(30),
        || {
            let now: i64 = host.query("SELECT COUNT(*) FROM runs WHERE state = 'succeeded'")[0][0]
                .parse()
                .unwrap();
            (now > before).then_some(())
        },
    );
    assert!(!host.log().contains("panicked"), "{}", host.log());
}
