//! Calendars on a real `carillon serve`: a task skips the slots its calendar
//! excludes, a calendar changed with plain SQL reschedules the tasks on it,
//! a task naming a calendar that does not exist waits with an error naming
//! it and fires once it exists; the CLI (set, import from .ics, show, list,
//! remove, `cron next --calendar`) and the API check calendars alike.

use std::time::Duration;

use serde_json::json;

use crate::host::{Host, wait_until};
use crate::http::{Request, get, post};
use crate::pg::TestDatabase;
use crate::support::carillon;

/// The slots (ms) of the runs of `task`, oldest first.
fn slots(host: &Host, task: &str) -> Vec<i64> {
    host.query(&format!(
        "SELECT scheduled_at FROM runs WHERE task = '{task}' ORDER BY scheduled_at"
    ))
    .iter()
    .map(|row| row[0].parse().unwrap())
    .collect()
}

#[test]
fn a_task_skips_what_its_calendar_excludes_and_follows_changes_made_with_sql() {
    skips_what_its_calendar_excludes(None);
}

#[test]
fn calendars_work_the_same_on_postgresql() {
    let database = TestDatabase::create("calendars");
    skips_what_its_calendar_excludes(Some(database.url()));
}

fn skips_what_its_calendar_excludes(database: Option<String>) {
    let host = Host::start_on(database, &["hello"], &[]);
    // Named before it exists: the task waits, with the reason on its row.
    host.sql(
        "INSERT INTO tasks (name, module, schedule, calendar) VALUES ('ticks', 'hello', 'every 1s', 'odd-seconds')",
    );
    let error = wait_until(
        "the missing calendar to be named",
        Duration::from_secs(10),
        || {
            let rows = host.query("SELECT COALESCE(error, ''), COALESCE(error_code, '') FROM tasks WHERE name = 'ticks'");
            (!rows[0][0].is_empty()).then(|| rows[0].clone())
        },
    );
    assert!(
        error[0].contains("calendar `odd-seconds`: no such calendar"),
        "{error:?}"
    );
    assert_eq!(error[1], "calendar");
    assert!(slots(&host, "ticks").is_empty());

    // Even seconds excluded: only odd seconds fire.
    host.sql(
        "INSERT INTO calendars (name, kind, excludes) VALUES ('odd-seconds', 'cron', '0/2 * * * * ?')",
    );
    let fired = wait_until(
        "three fires on odd seconds",
        Duration::from_secs(20),
        || {
            let fired = slots(&host, "ticks");
            (fired.len() >= 3).then_some(fired)
        },
    );
    // `every 1s` slots sit at the task's creation time plus whole seconds.
    assert!(fired.iter().all(|slot| slot / 1000 % 2 == 1), "{fired:?}");
    let errors = host.query("SELECT COALESCE(error, '') FROM tasks WHERE name = 'ticks'");
    assert_eq!(errors[0][0], "", "the error went once the calendar existed");

    // Changed with SQL to exclude odd seconds: the task follows.
    host.sql("UPDATE calendars SET excludes = '1/2 * * * * ?' WHERE name = 'odd-seconds'");
    let changed_at = *slots(&host, "ticks").last().unwrap();
    let later = wait_until(
        "three fires on even seconds",
        Duration::from_secs(20),
        || {
            let even: Vec<i64> = slots(&host, "ticks")
                .into_iter()
                .filter(|slot| *slot > changed_at + 2000)
                .collect();
            (even.len() >= 3).then_some(even)
        },
    );
    assert!(later.iter().all(|slot| slot / 1000 % 2 == 0), "{later:?}");

    // A row that does not check out blocks its tasks with the reason.
    host.sql("UPDATE calendars SET kind = 'fortnightly' WHERE name = 'odd-seconds'");
    let error = wait_until(
        "the broken calendar to be named",
        Duration::from_secs(10),
        || {
            let rows = host.query("SELECT COALESCE(error, '') FROM tasks WHERE name = 'ticks'");
            (!rows[0][0].is_empty()).then(|| rows[0][0].clone())
        },
    );
    assert!(
        error.contains("calendar kind `fortnightly` is unknown"),
        "{error}"
    );
    assert!(
        host.log().contains("calendar cannot be used"),
        "the host says so in its log"
    );
}

const HOLIDAYS_ICS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//carillon test//EN\r\n\
BEGIN:VEVENT\r\nUID:easter-monday-2027\r\nDTSTART;VALUE=DATE:20270329\r\nSUMMARY:Ostermontag\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:labour-day-2027\r\nDTSTART;VALUE=DATE:20270501\r\nSUMMARY:Tag der Arbeit\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

#[test]
fn the_cli_sets_imports_previews_and_removes_calendars_and_refuses_what_would_break() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("carillon.db").display());
    let ok = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--database", url.as_str()]);
        let out = carillon(&args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        out.stdout
    };
    let refused = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--database", url.as_str()]);
        let out = carillon(&args);
        assert_eq!(out.code, 2, "{args:?} should be refused: {}", out.stdout);
        out.stderr
    };
    ok(&[
        "calendar",
        "set",
        "weekends",
        "--kind",
        "weekly",
        "--excludes",
        "SAT,SUN",
    ]);
    let ics = dir.path().join("holidays.ics");
    std::fs::write(&ics, HOLIDAYS_ICS).unwrap();
    let imported = ok(&[
        "calendar",
        "import",
        "de-holidays",
        ics.to_str().unwrap(),
        "--base",
        "weekends",
        "--description",
        "Public holidays",
    ]);
    assert!(imported.contains("2 date(s) from 2 event(s)"), "{imported}");

    // A weekday task across the DST change of 2027-03-28 in Berlin, with
    // Easter Monday a holiday: Friday 09:00 CET, then Tuesday 09:00 CEST.
    let next = ok(&[
        "cron",
        "next",
        "0 0 9 * * ?",
        "--tz",
        "Europe/Berlin",
        "--from",
        "2027-03-26T00:00:00Z",
        "-n",
        "3",
        "--calendar",
        "de-holidays",
    ]);
    assert_eq!(
        next,
        "2027-03-26T08:00:00Z\n2027-03-30T07:00:00Z\n2027-03-31T07:00:00Z\n"
    );

    let listed = ok(&["calendar", "list"]);
    assert!(
        listed.contains("de-holidays") && listed.contains("weekends"),
        "{listed}"
    );
    let error = refused(&[
        "calendar",
        "set",
        "weekends",
        "--kind",
        "weekly",
        "--excludes",
        "SUN",
        "--base",
        "de-holidays",
    ]);
    assert!(error.contains("its bases loop"), "{error}");
    let error = refused(&[
        "calendar",
        "set",
        "bad",
        "--kind",
        "annual",
        "--excludes",
        "31-12",
    ]);
    assert!(
        error.contains("`31-12` is not a day of the year; write MM-DD"),
        "{error}"
    );

    ok(&[
        "task",
        "add",
        "payroll",
        "--module",
        "hello",
        "--schedule",
        "0 0 9 * * ?",
        "--calendar",
        "de-holidays",
    ]);
    let error = refused(&[
        "task",
        "add",
        "other",
        "--module",
        "hello",
        "--schedule",
        "every 1h",
        "--calendar",
        "nope",
    ]);
    assert!(
        error.contains("calendar `nope`: no such calendar"),
        "{error}"
    );
    let shown = ok(&["calendar", "show", "de-holidays"]);
    assert!(
        shown.contains("tasks:       payroll") && shown.contains("2027-03-29"),
        "{shown}"
    );
    let error = refused(&["calendar", "remove", "de-holidays"]);
    assert!(error.contains("used by task(s) payroll"), "{error}");
    let error = refused(&["calendar", "remove", "weekends"]);
    assert!(
        error.contains("de-holidays have it as their base"),
        "{error}"
    );
    ok(&["task", "edit", "payroll", "--calendar", "none"]);
    ok(&["calendar", "remove", "de-holidays"]);
    assert!(!ok(&["calendar", "list"]).contains("de-holidays"));
}

#[test]
fn the_api_reads_and_changes_calendars_by_role_and_previews_fire_times_with_them() {
    let host = Host::start(&["hello"], &[]);
    let (api, url) = (host.api(), host.database_url());
    let token = |name: &str, role: &str, extra: &[&str]| {
        let mut args = vec![
            "token",
            "create",
            name,
            "--role",
            role,
            "--database",
            url.as_str(),
        ];
        args.extend(extra);
        let out = carillon(&args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout.trim().to_owned()
    };
    let (editor, etl_editor, viewer) = (
        token("editor", "editor", &[]),
        token("etl-editor", "editor", &["--groups", "etl"]),
        token("viewer", "viewer", &[]),
    );
    let put = |token: &str, name: &str, body: serde_json::Value| {
        Request::new(&api, "PUT", &format!("/api/v1/calendars/{name}"))
            .token(token)
            .json(body)
            .send()
    };
    let lunch = json!({"kind": "daily", "excludes": "12:00-13:00", "description": "Lunch"});
    assert_eq!(put(&viewer, "lunch", lunch.clone()).status, 403);
    assert_eq!(
        put(&etl_editor, "lunch", lunch.clone()).status,
        403,
        "an editor of one group cannot change what every group's tasks do"
    );
    let created = put(&editor, "lunch", lunch.clone());
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        put(&editor, "lunch", lunch).status,
        200,
        "a second PUT replaces"
    );

    let bad = put(
        &editor,
        "bad",
        json!({"kind": "weekly", "excludes": "FUNDAY"}),
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(bad.json()["error"]["field"], "excludes");
    let bad = put(
        &editor,
        "bad",
        json!({"kind": "weekly", "excludes": "SUN", "base": "gone"}),
    );
    assert_eq!(bad.json()["error"]["field"], "base", "{}", bad.body);
    let bad = put(
        &editor,
        "bad",
        json!({"kind": "weekly", "excludes": "SUN", "time_zone": "Mars/Base"}),
    );
    assert_eq!(bad.json()["error"]["field"], "time_zone", "{}", bad.body);

    // Tasks are checked against the calendars as SQL rows are.
    let task = post(&api, "/api/v1/tasks")
        .token(&editor)
        .json(json!({"name": "report", "module": "hello", "schedule": "every 30m", "calendar": "missing"}))
        .send();
    assert_eq!(task.status, 422, "{}", task.body);
    assert_eq!(task.json()["error"]["field"], "calendar");
    let task = post(&api, "/api/v1/tasks")
        .token(&editor)
        .json(json!({"name": "report", "module": "hello", "schedule": "every 30m", "calendar": "lunch"}))
        .send();
    assert_eq!(task.status, 201, "{}", task.body);
    assert_eq!(task.json()["calendar"], "lunch");

    let next = get(&api, "/api/v1/tasks/report/next?n=48")
        .token(&viewer)
        .send();
    assert_eq!(next.status, 200, "{}", next.body);
    let times = next.json()["times"].as_array().unwrap().clone();
    assert_eq!(times.len(), 48);
    for time in &times {
        let minute_of_day = time.as_i64().unwrap() / 60_000 % 1440;
        assert!(
            !(720..780).contains(&minute_of_day),
            "a slot at lunch: {time}"
        );
    }
    let preview = get(
        &api,
        "/api/v1/cron/next?expr=every%2030m&n=48&calendar=lunch",
    )
    .token(&viewer)
    .send();
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert_eq!(preview.json()["times"].as_array().unwrap().len(), 48);
    let preview = get(&api, "/api/v1/cron/next?expr=every%2030m&calendar=nope")
        .token(&viewer)
        .send();
    assert_eq!(
        preview.json()["error"]["field"],
        "calendar",
        "{}",
        preview.body
    );

    let shown = get(&api, "/api/v1/calendars/lunch").token(&viewer).send();
    assert_eq!(shown.json()["tasks"], json!(["report"]), "{}", shown.body);
    let listed = get(&api, "/api/v1/calendars").token(&viewer).send();
    assert_eq!(
        listed.json()["calendars"][0]["name"],
        "lunch",
        "{}",
        listed.body
    );
    assert!(listed.json()["calendars"][0]["problem"].is_null());

    let delete = |token: &str, name: &str| {
        Request::new(&api, "DELETE", &format!("/api/v1/calendars/{name}"))
            .token(token)
            .send()
    };
    let in_use = delete(&editor, "lunch");
    assert_eq!(in_use.status, 409, "{}", in_use.body);
    assert!(
        in_use.body.contains("used by task(s) report"),
        "{}",
        in_use.body
    );
    let cleared = Request::new(&api, "PATCH", "/api/v1/tasks/report")
        .token(&editor)
        .json(json!({"calendar": null}))
        .send();
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(delete(&editor, "lunch").status, 204);
    assert_eq!(delete(&editor, "lunch").status, 404);
    let audit = host.query("SELECT action FROM audit WHERE target = 'lunch' ORDER BY id");
    assert_eq!(
        audit.iter().map(|row| row[0].as_str()).collect::<Vec<_>>(),
        ["calendar.set", "calendar.set", "calendar.delete"]
    );
}
