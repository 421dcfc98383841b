//! The one wasmtime `Engine` of the process and the epoch ticker that drives
//! timeouts: pooling instance allocator sized for the host's concurrency,
//! epoch interruption on, Cranelift at its defaults.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::runtime::RuntimeConfig;

/// Core instances, memories and tables a component may use: a Rust job built
/// for wasm32-wasip2 uses a handful of each (its module plus adapter shims);
/// a Python job (componentize-py) uses 14 core instances, a JavaScript one
/// (ComponentizeJS) 9. The pool reserves them per slot, so the bound costs
/// address space, not memory.
const CORE_INSTANCES_PER_RUN: u32 = 16;
const MEMORIES_PER_RUN: u32 = 2;
const TABLES_PER_RUN: u32 = 8;

/// Memory of a finished run's slot that is reset with `memset` (only the pages
/// it dirtied, found with the `PAGEMAP_SCAN` ioctl on Linux 6.7+) instead of
/// `madvise`. `madvise` costs a TLB shootdown on every core per run, which
/// was a third of a trivial run's time and made two workers slower than one
/// (see BENCHMARKS.md). 2 MiB covers a Rust job's 1 MiB shadow stack, its
/// data and the start of its heap.
const KEEP_RESIDENT: usize = 2 << 20;

pub(crate) fn build_engine(config: &RuntimeConfig) -> wasmtime::Result<Engine> {
    let runs = config.max_concurrent_runs.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(runs)
        .total_core_instances(runs * CORE_INSTANCES_PER_RUN)
        .total_memories(runs * MEMORIES_PER_RUN)
        .total_tables(runs * TABLES_PER_RUN)
        .total_stacks(runs)
        .max_core_instances_per_component(CORE_INSTANCES_PER_RUN)
        .max_memories_per_component(MEMORIES_PER_RUN)
        .max_tables_per_component(TABLES_PER_RUN)
        .max_memory_size(config.max_memory.bytes() as usize)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(64 << 10)
        .pagemap_scan(Enabled::Auto);

    let mut wasm = Config::new();
    wasm.epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .max_wasm_stack(config.max_wasm_stack);
    Engine::new(&wasm)
}

/// Advances the engine's epoch every tick until dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: Engine, tick: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("carillon-epoch".into())
            .spawn(move || {
                while !stop_flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
