//! The compile cache: a second load of the same bytes does not compile, and a
//! damaged cache never stops a job from loading.

use carillon::runtime::{CacheOutcome, RunContext, RunLimits, Runtime, RuntimeConfig};

use crate::examples;
use crate::support::block_on;

fn cached_runtime(dir: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.to_owned()),
        max_concurrent_runs: 4,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

#[test]
fn a_restart_loads_from_the_cache_instead_of_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = examples::bytes("hello");
    let first = cached_runtime(dir.path()).load(&bytes).unwrap();
    assert_eq!(first.cache_outcome(), CacheOutcome::Compiled);
    // A new runtime (a restarted host) finds the artefact on disk.
    let restarted = cached_runtime(dir.path());
    let second = restarted.load(&bytes).unwrap();
    assert_eq!(second.cache_outcome(), CacheOutcome::Hit);
    assert_eq!(first.digest(), second.digest());
    let (io, _, _) = carillon::runtime::io::memory::run_io();
    let report = block_on(restarted.run(
        &second,
        carillon::runtime::RunRequest {
            context: RunContext::new("hello", 1),
            limits: RunLimits::default(),
            io,
            cancel: Default::default(),
            mounts: Vec::new(),
        },
    ));
    assert!(report.outcome.is_success(), "{:?}", report.outcome);
}

#[test]
fn a_corrupt_cache_entry_is_recompiled_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = examples::bytes("flaky");
    cached_runtime(dir.path()).load(&bytes).unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let job = cached_runtime(dir.path()).load(&bytes).unwrap();
    assert_eq!(job.cache_outcome(), CacheOutcome::Compiled);
    // ... and the rewritten entry is good again.
    let job = cached_runtime(dir.path()).load(&bytes).unwrap();
    assert_eq!(job.cache_outcome(), CacheOutcome::Hit);
}

#[test]
fn an_unwritable_cache_dir_only_costs_compiles() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"a file where the cache dir should be").unwrap();
    let job = cached_runtime(&blocker)
        .load(&examples::bytes("hello"))
        .unwrap();
    assert_eq!(job.cache_outcome(), CacheOutcome::Compiled);
}
