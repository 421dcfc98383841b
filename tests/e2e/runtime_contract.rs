//! The contract end to end: what the host gives a job (context, params, shard,
//! page, checkpoint, state) and what it takes back (log, outcome, job error).

use carillon::runtime::io::LogSource;
use carillon::runtime::{PageSpec, RunContext, RunLimits, RunOutcome};

use crate::support::{Stores, load, run_example};

#[test]
fn the_context_reaches_the_job() {
    let mut context = RunContext::new("greeter", 42);
    context.group = "reports".into();
    context.attempt = 2;
    context.shard_index = 1;
    context.shard_total = 3;
    context.shard_parameter = Some("Shanghai".into());
    context.page = Some(PageSpec { index: 4, size: 25 });
    context.params = vec![("name".into(), "Ada".into())];
    let run = Stores::default().run(&load("hello"), context, RunLimits::default());
    let log = run.log_text();
    assert!(
        log.contains("hello from shard 1 of 3 task=greeter group=reports run_id=42 attempt=2"),
        "{log}"
    );
    assert!(log.contains("shard parameter: Shanghai"), "{log}");
    assert!(log.contains("page 4 (size 25)"), "{log}");
    assert!(log.contains("param name value=Ada"), "{log}");
    assert!(run.log.iter().all(|line| line.source == LogSource::Guest));
    assert_eq!(
        run.log.iter().map(|l| l.seq).collect::<Vec<_>>(),
        (0..run.log.len() as u32).collect::<Vec<_>>()
    );
    match run.report.outcome {
        RunOutcome::Succeeded { summary, items } => {
            assert_eq!(items, 1);
            assert!(summary.unwrap().starts_with("said hello to Ada"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn shards_of_sharded_sum_add_up_to_the_whole_range() {
    let job = load("sharded-sum");
    let (mut total, mut items) = (0u128, 0u64);
    for index in 0..7 {
        let mut context = RunContext::new("sum", u64::from(index) + 1);
        (context.shard_index, context.shard_total) = (index, 7);
        context.params = vec![("from".into(), "1".into()), ("to".into(), "1001".into())];
        let run = Stores::default().run(&job, context, RunLimits::default());
        let RunOutcome::Succeeded { summary, items: n } = run.report.outcome else {
            panic!("shard {index}: {:?}", run.report.outcome)
        };
        items += n;
        total += summary
            .unwrap()
            .rsplit("= ")
            .next()
            .unwrap()
            .parse::<u128>()
            .unwrap();
    }
    assert_eq!(items, 1000);
    assert_eq!(total, (1..=1000u128).sum());
}

#[test]
fn a_retried_page_resumes_from_the_last_checkpoint() {
    let job = load("pager");
    let stores = Stores::default();
    let mut context = RunContext::new("pages", 7);
    context.page = Some(PageSpec { index: 3, size: 50 });
    context.params = vec![("fail_after".into(), "15".into())];
    let first = stores.run(&job, context.clone(), RunLimits::default());
    assert!(
        matches!(&first.report.outcome, RunOutcome::Failed { retryable: true, message } if message.contains("after 15 items")),
        "{:?}",
        first.report.outcome
    );
    // Checkpoints every 10 items: the last one saved is item 160 (page 3 starts at 150).
    let saved = first.checkpoints.last(7).expect("a checkpoint was saved");
    assert_eq!(saved, b"160");

    context.attempt = 2;
    context.checkpoint = Some(saved);
    let retry = stores.run(&job, context, RunLimits::default());
    assert!(
        retry
            .log_text()
            .contains("resuming page 3 from checkpoint item=160"),
        "{}",
        retry.log_text()
    );
    assert_eq!(
        retry.report.outcome,
        RunOutcome::Succeeded {
            summary: Some("page 3: items [150, 200), 40 processed this attempt".into()),
            items: 40
        }
    );
    assert_eq!(retry.checkpoints.last(7).unwrap(), b"200");
}

#[test]
fn flaky_fails_retryably_until_its_attempt_comes() {
    let job = load("flaky");
    for attempt in 1..=3 {
        let mut context = RunContext::new("flaky", 1);
        context.attempt = attempt;
        let run = Stores::default().run(&job, context, RunLimits::default());
        if attempt < 3 {
            assert!(
                matches!(
                    run.report.outcome,
                    RunOutcome::Failed {
                        retryable: true,
                        ..
                    }
                ),
                "{:?}",
                run.report.outcome
            );
        } else {
            assert!(run.report.outcome.is_success(), "{:?}", run.report.outcome);
        }
    }
}

#[test]
fn task_state_persists_between_runs_of_a_task_and_not_across_tasks() {
    let job = load("hello");
    let stores = Stores::default();
    let summary_of = |task: &str, run_id| match stores
        .run(&job, RunContext::new(task, run_id), RunLimits::default())
        .report
        .outcome
    {
        RunOutcome::Succeeded { summary, .. } => summary.unwrap(),
        other => panic!("{other:?}"),
    };
    assert!(summary_of("a", 1).ends_with("(run 1 of this task)"));
    assert!(summary_of("a", 2).ends_with("(run 2 of this task)"));
    assert!(summary_of("a", 3).ends_with("(run 3 of this task)"));
    assert!(summary_of("b", 4).ends_with("(run 1 of this task)"));
}

#[test]
fn a_checkpoint_over_the_cap_is_refused_to_the_job_not_fatal_to_the_host() {
    let run = run_example(
        "hostile",
        &[("mode", "big-checkpoint")],
        RunLimits::default(),
    );
    match run.report.outcome {
        RunOutcome::Failed { message, .. } => {
            assert!(
                message.contains("checkpoint of 2 MiB is over the cap of 1 MiB"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(run.checkpoints.last(1).is_none());
}

#[test]
fn a_wrongly_typed_param_fails_the_run_naming_param_type_and_value() {
    let run = run_example(
        "hostile",
        &[("mode", "bad-param"), ("n", "abc")],
        RunLimits::default(),
    );
    assert_eq!(
        run.report.outcome,
        RunOutcome::Failed {
            message: "param `n`: expected u32, got `abc`".into(),
            retryable: false
        }
    );
    let run = run_example("sharded-sum", &[], RunLimits::default());
    assert_eq!(
        run.report.outcome.reason().unwrap(),
        "param `to`: expected u64, but the param is not set"
    );
}

#[test]
fn a_job_built_for_contract_0_1_0_runs_unchanged() {
    let job = load("contract-0-1-job");
    let stores = Stores::default();
    let first = stores.run(&job, RunContext::new("old", 1), RunLimits::default());
    assert!(
        first
            .log_text()
            .contains("built for carillon:job@0.1.0 task=old"),
        "{}",
        first.log_text()
    );
    let second = stores.run(&job, RunContext::new("old", 2), RunLimits::default());
    match second.report.outcome {
        RunOutcome::Succeeded { summary, items } => {
            assert_eq!(items, 2, "its task state is kept between runs");
            assert_eq!(
                summary.as_deref(),
                Some("0.1.0 job, run 2, cancelled: false")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(stores.checkpoints.last(2).as_deref(), Some(&b"done"[..]));
}

#[test]
fn a_job_built_for_contract_0_2_0_runs_unchanged() {
    let job = load("contract-0-2-job");
    let stores = Stores::default();
    let run = stores.run(&job, RunContext::new("older", 1), RunLimits::default());
    assert!(
        run.log_text()
            .contains("built for carillon:job@0.2.0 task=older"),
        "{}",
        run.log_text()
    );
    match run.report.outcome {
        RunOutcome::Succeeded { summary, items } => {
            assert_eq!(items, 1);
            let summary = summary.unwrap_or_default();
            assert_eq!(
                summary, "0.2.0 job, run 1, sql: this host runs no SQL for jobs",
                "its sql import answers (here: a runtime without job databases)"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn outputs_a_job_sets_are_reported_with_the_run() {
    let run = run_example("hello", &[("name", "Ada")], RunLimits::default());
    assert!(run.report.outcome.is_success(), "{:?}", run.report.outcome);
    assert_eq!(
        run.report.outputs.get("greeted").map(String::as_str),
        Some("Ada")
    );
}
