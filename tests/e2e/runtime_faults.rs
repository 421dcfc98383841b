//! Hostile and broken jobs: every one ends as a failed run with a one-line reason
//! naming the cause, and the host carries on.

use std::time::Duration;

use carillon::runtime::io::LogSource;
use carillon::runtime::{LoadError, RunContext, RunFault, RunLimits, RunOutcome};
use carillon::vocab::{CancelReason, RunState};

use crate::examples;
use crate::support::{Stores, block_on, load, quick_limits, run_example, runtime};

fn fault_of(mode: &str) -> RunFault {
    let run = run_example("hostile", &[("mode", mode)], quick_limits());
    match run.report.outcome {
        RunOutcome::Fault { fault } => fault,
        other => panic!("mode {mode}: expected a fault, got {other:?}"),
    }
}

#[test]
fn a_panic_is_reported_with_its_message_and_location() {
    let run = run_example("hostile", &[("mode", "panic")], quick_limits());
    let RunOutcome::Fault {
        fault: RunFault::Panicked(report),
    } = &run.report.outcome
    else {
        panic!("{:?}", run.report.outcome)
    };
    assert!(
        report.starts_with("hostile job panicking on purpose (at "),
        "{report}"
    );
    assert!(report.contains("hostile/src/lib.rs"), "{report}");
    // The panic message printed on stderr is in the run's log too.
    assert!(
        run.log
            .iter()
            .any(|l| l.source == LogSource::Stderr && l.message.contains("panicked at"))
    );
}

#[test]
fn a_trap_is_reported_as_a_trap() {
    assert_eq!(
        fault_of("trap").to_string(),
        "trapped: unreachable instruction executed"
    );
}

#[test]
fn an_exit_is_reported_as_an_exit_not_a_crash() {
    // `std::process::exit(3)`: WASI p2 carries failure, not the code.
    assert_eq!(fault_of("exit"), RunFault::Exited(1));
    assert_eq!(
        fault_of("exit").to_string(),
        "exited with status 1 instead of returning from `run`"
    );
}

#[test]
fn an_infinite_loop_is_stopped_at_its_timeout() {
    assert_eq!(
        fault_of("spin"),
        RunFault::TimedOut(Duration::from_millis(500))
    );
    assert_eq!(fault_of("spin").to_string(), "timed out after 500ms");
}

#[test]
fn a_blocking_sleep_in_wasi_is_stopped_at_its_timeout() {
    assert_eq!(
        fault_of("sleep"),
        RunFault::TimedOut(Duration::from_millis(500))
    );
}

#[test]
fn stack_overflows_are_named() {
    assert_eq!(fault_of("stack"), RunFault::StackOverflow);
    assert!(
        fault_of("shadow-stack")
            .to_string()
            .contains("shadow stack")
    );
}

#[test]
fn a_memory_bomb_is_stopped_at_its_cap() {
    let limits = RunLimits {
        memory: carillon::units::ByteSize::mib(16),
        ..quick_limits()
    };
    let run = run_example("hog", &[], limits);
    let RunOutcome::Fault { fault } = &run.report.outcome else {
        panic!("{:?}", run.report.outcome)
    };
    assert!(matches!(fault, RunFault::MemoryCap { .. }), "{fault:?}");
    assert!(
        fault
            .to_string()
            .starts_with("exceeded its memory cap of 16 MiB"),
        "{fault}"
    );
}

#[test]
fn log_floods_are_capped_and_said_so() {
    for mode in ["flood", "print-flood"] {
        let run = run_example("hostile", &[("mode", mode)], quick_limits());
        assert_eq!(
            run.report.outcome.reason().unwrap(),
            "flooded the log: exceeded the cap of 1 MiB of log output per run",
            "mode {mode}"
        );
        assert!(
            run.report.log_bytes <= 1 << 20,
            "mode {mode}: {} bytes",
            run.report.log_bytes
        );
        assert!(
            run.log
                .iter()
                .any(|l| l.source == LogSource::Host
                    && l.message.contains("log cap of 1 MiB reached"))
        );
    }
}

#[test]
fn a_hostile_run_and_a_good_run_side_by_side() {
    let stores = Stores::default();
    let spin = load("hostile");
    let hello = load("hello");
    let mut spin_context = RunContext::new("spinner", 1);
    spin_context.params = vec![("mode".into(), "spin".into())];
    let limits = RunLimits {
        timeout: Duration::from_secs(2),
        ..quick_limits()
    };
    // One thread: the good run only gets to run because the busy one yields.
    block_on(async {
        let spinning = tokio::spawn({
            let request = stores.request(spin_context, limits);
            async move { runtime().run(&spin, request).await }
        });
        tokio::task::yield_now().await;
        let good = runtime()
            .run(
                &hello,
                stores.request(RunContext::new("greeter", 2), limits),
            )
            .await;
        assert!(good.outcome.is_success(), "{:?}", good.outcome);
        assert!(
            !spinning.is_finished(),
            "the good run finished while the hostile one still ran"
        );
        let bad = spinning.await.unwrap();
        assert_eq!(bad.outcome.state(), RunState::TimedOut);
    });
    // And the host keeps serving afterwards.
    let again = stores.run(
        &load("hello"),
        RunContext::new("greeter", 3),
        RunLimits::default(),
    );
    assert!(again.report.outcome.is_success());
}

#[test]
fn a_cancelled_job_that_checks_stops_cleanly_with_a_checkpoint() {
    let stores = Stores::default();
    let job = load("sleepy");
    let request = stores.request(RunContext::new("sleeper", 9), RunLimits::default());
    let cancel = request.cancel.clone();
    let report = block_on(async {
        let run = tokio::spawn(async move { runtime().run(&job, request).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel(CancelReason::Requested("the task was replaced".into()));
        run.await.unwrap()
    });
    let reason = report.outcome.reason().unwrap();
    assert!(
        reason.starts_with("cancelled: the task was replaced (the job stopped: cancelled after"),
        "{reason}"
    );
    assert!(
        stores.checkpoints.last(9).is_some(),
        "sleepy saves its progress when cancelled"
    );
}

#[test]
fn a_cancelled_job_that_ignores_it_is_stopped_after_the_grace() {
    let stores = Stores::default();
    let mut context = RunContext::new("spinner", 1);
    context.params = vec![("mode".into(), "spin".into())];
    let request = stores.request(
        context,
        RunLimits {
            timeout: Duration::from_secs(60),
            ..quick_limits()
        },
    );
    request.cancel.cancel(CancelReason::Shutdown);
    let report = block_on(runtime().run(&load("hostile"), request));
    assert_eq!(
        report.outcome.reason().unwrap(),
        "cancelled: host shutting down; the job did not stop within 200ms"
    );
}

#[test]
fn components_of_another_world_or_version_are_refused_at_load() {
    let error = runtime().load(&examples::bytes("not-a-job")).unwrap_err();
    assert!(matches!(error, LoadError::NotAJob { .. }), "{error}");
    assert!(error.to_string().contains("wasi:cli/run"), "{error}");

    let error = runtime().load(&examples::bytes("future-job")).unwrap_err();
    assert!(
        matches!(&error, LoadError::ContractVersion { found, .. } if found == "0.9.0"),
        "{error}"
    );

    let error = runtime().load(b"\0asm\x01\0\0\0").unwrap_err();
    assert!(matches!(error, LoadError::CoreModule), "{error}");

    let mut truncated = examples::bytes("hello");
    truncated.truncate(truncated.len() / 2);
    let error = runtime().load(&truncated).unwrap_err();
    assert!(matches!(error, LoadError::Invalid(_)), "{error}");
}

/// A checkpoint store whose database is down.
struct DownCheckpoints;

impl carillon::runtime::io::CheckpointStore for DownCheckpoints {
    fn save<'a>(
        &'a self,
        _: &'a carillon::runtime::io::RunKey,
        _: Vec<u8>,
    ) -> carillon::runtime::io::BoxFuture<'a, Result<(), carillon::runtime::io::SeamError>> {
        Box::pin(std::future::ready(Err(
            carillon::runtime::io::SeamError::Unavailable("disk I/O error".into()),
        )))
    }
}

#[test]
fn a_database_failure_during_a_run_is_the_hosts_not_the_jobs() {
    let stores = Stores::default();
    let mut context = RunContext::new("pages", 4);
    context.page = Some(carillon::runtime::PageSpec { index: 0, size: 20 });
    let mut request = stores.request(context, quick_limits());
    request.io.checkpoints = std::sync::Arc::new(DownCheckpoints);
    let report = block_on(runtime().run(&load("pager"), request));
    assert_eq!(
        report.outcome,
        RunOutcome::Fault {
            fault: RunFault::Host("its database failed during the run: disk I/O error".into())
        }
    );
}
