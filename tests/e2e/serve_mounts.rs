//! Folders: a task's `mounts` column grants the host config's
//! `[mounts.NAME]` folders, each seen by the job at `/NAME`, read-only unless
//! the config makes it writable; an ungranted folder is not there at all,
//! and a name the host does not configure fails the run saying so.
//! `carillon run` grants the same way with `--mount` / `--mount-writable`.

use crate::host::Host;
use crate::serve_http_tasks::final_runs;
use crate::support::{carillon, wasm};

fn csv_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".csv"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_writable_mount_is_written_a_read_only_one_is_not_and_others_are_invisible() {
    let reports = tempfile::tempdir().unwrap();
    let inbox = tempfile::tempdir().unwrap();
    std::fs::write(inbox.path().join("old.csv"), "row\n").unwrap();
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!(
            "[mounts.reports]\npath = \"{}\"\nwritable = true\n\n[mounts.inbox]\npath = \"{}\"\n",
            reports.path().display(),
            inbox.path().display()
        ),
    )
    .unwrap();
    let host = Host::start(&["report"], &["--config", config.path().to_str().unwrap()]);
    host.sql(
        "INSERT INTO tasks (name, module, schedule, params, mounts) VALUES \
         ('writes', 'report', 'after 0s', '{\"rows\": \"3\"}', 'reports'), \
         ('read-only', 'report', 'after 0s', '{\"mount\": \"inbox\"}', 'inbox'), \
         ('ungranted', 'report', 'after 0s', '{}', 'inbox'), \
         ('unknown', 'report', 'after 0s', '{}', 'archive')",
    );

    let runs = final_runs(&host, "writes", 1);
    assert_eq!(runs[0][0], "succeeded", "{runs:?}");
    assert!(
        runs[0][2].contains("wrote 3 rows to /reports/report-"),
        "{runs:?}"
    );
    let written = csv_files(reports.path());
    assert_eq!(written.len(), 1, "{written:?}");
    let csv = std::fs::read_to_string(reports.path().join(&written[0])).unwrap();
    assert_eq!(csv, "row,shard,square\n0,0,0\n1,0,1\n2,0,4\n");

    let runs = final_runs(&host, "read-only", 1);
    assert_eq!(runs[0][0], "failed", "{runs:?}");
    assert!(
        runs[0][3].contains("cannot write /inbox/report-"),
        "{runs:?}"
    );
    assert_eq!(csv_files(inbox.path()), ["old.csv"], "nothing was written");

    let runs = final_runs(&host, "ungranted", 1);
    assert_eq!(runs[0][0], "failed", "{runs:?}");
    assert!(runs[0][3].contains("cannot write /reports/"), "{runs:?}");
    assert_eq!(
        csv_files(reports.path()).len(),
        1,
        "only the granted task wrote"
    );

    let runs = final_runs(&host, "unknown", 1);
    assert!(
        runs[0][3].contains(
            "task `unknown` is granted mount `archive`, which host `test-node` does not configure; \
             add [mounts.archive]"
        ),
        "{runs:?}"
    );

    // A bad name in the column is the task's error, as any bad column is.
    host.sql("UPDATE tasks SET mounts = '../etc' WHERE name = 'writes'");
    let error = crate::host::wait_until(
        "the bad mounts column named",
        std::time::Duration::from_secs(10),
        || {
            let rows = host.query("SELECT COALESCE(error, '') FROM tasks WHERE name = 'writes'");
            (!rows[0][0].is_empty()).then(|| rows[0][0].clone())
        },
    );
    assert!(error.contains("`../etc` is not a mount name"), "{error}");
}

#[test]
fn carillon_run_grants_folders_by_flag() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap();
    let writable = carillon(&[
        "run",
        &wasm("report"),
        "--mount-writable",
        &format!("reports={folder}"),
        "--param",
        "rows=2",
    ]);
    assert_eq!(writable.code, 0, "{}{}", writable.stdout, writable.stderr);
    assert!(
        writable
            .stdout
            .contains("wrote 2 rows to /reports/report-1-0.csv; 1 reports in /reports")
    );
    assert!(dir.path().join("report-1-0.csv").is_file());

    let read_only = carillon(&[
        "run",
        &wasm("report"),
        "--mount",
        &format!("reports={folder}"),
    ]);
    assert_eq!(read_only.code, 1, "{}", read_only.stdout);
    assert!(
        read_only
            .stderr
            .contains("cannot write /reports/report-1-0.csv"),
        "{}",
        read_only.stderr
    );

    let none = carillon(&["run", &wasm("report")]);
    assert_eq!(none.code, 1);
    let missing = carillon(&["run", &wasm("report"), "--mount", "reports=/no/such/dir"]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing
            .stderr
            .contains("--mount: /no/such/dir cannot be opened"),
        "{}",
        missing.stderr
    );
}
