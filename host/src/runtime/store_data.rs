//! What a run's wasmtime `Store` holds: the run's identity and seams, its memory
//! cap, a WASI context that is built only if the guest touches WASI (most
//! runs never do, and building one is a measurable share of a trivial run),
//! its `wasi:http` hooks and what its `wasi:config` reads from. A run
//! granted folders has its WASI context built up front, with them in it.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::runtime::RunFault;
use crate::runtime::cancel::CancelToken;
use crate::runtime::capture::CapturedOutput;
use crate::runtime::config::RunConfig;
use crate::runtime::http::JobHttp;
use crate::runtime::io::{CheckpointStore, LogSource, RunIo, RunKey, StateStore};
use crate::runtime::mounts::{Mount, preopen};
use crate::runtime::run_log::RunLog;
use crate::runtime::sql::JobSql;
use crate::units::ByteSize;

/// Size caps on what a job hands the host through imports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ImportCaps {
    pub(crate) checkpoint: ByteSize,
    pub(crate) state_key: ByteSize,
    pub(crate) state_value: ByteSize,
}

pub(crate) struct RunData {
    pub(crate) key: RunKey,
    pub(crate) log: Arc<RunLog>,
    pub(crate) checkpoints: Arc<dyn CheckpointStore>,
    pub(crate) state: Arc<dyn StateStore>,
    pub(crate) cancel: CancelToken,
    pub(crate) caps: ImportCaps,
    pub(crate) checkpoints_saved: u32,
    /// Set when a seam could not be reached (the host's failure, not the
    /// job's): what went wrong.
    pub(crate) host_failure: Option<String>,
    pub(crate) memory: MemoryCap,
    pub(crate) http: JobHttp,
    http_ctx: WasiHttpCtx,
    pub(crate) config: RunConfig,
    pub(crate) sql: JobSql,
    /// What the job handed on through `output.set`.
    pub(crate) outputs: BTreeMap<String, String>,
    wasi: Option<WasiCtx>,
    table: ResourceTable,
}

impl RunData {
    pub(crate) fn new(
        key: RunKey,
        log: Arc<RunLog>,
        io: &RunIo,
        cancel: CancelToken,
        caps: ImportCaps,
        memory_cap: ByteSize,
        (http, config, sql): (JobHttp, RunConfig, JobSql),
    ) -> Self {
        Self {
            key,
            log,
            checkpoints: io.checkpoints.clone(),
            state: io.state.clone(),
            cancel,
            caps,
            checkpoints_saved: 0,
            host_failure: None,
            memory: MemoryCap {
                cap: memory_cap.bytes() as usize,
                exceeded: None,
            },
            http,
            http_ctx: WasiHttpCtx::new(),
            config,
            sql,
            outputs: BTreeMap::new(),
            wasi: None,
            table: ResourceTable::new(),
        }
    }
}

impl RunData {
    /// Builds the WASI context now, with `mounts` opened in it (a run with
    /// none builds it only if the guest touches WASI); says which mount
    /// could not be opened.
    pub(crate) fn mount(&mut self, mounts: &[Mount]) -> Result<(), String> {
        let mut builder = wasi_builder(&self.log);
        preopen(&mut builder, mounts)?;
        self.wasi = Some(builder.build());
        Ok(())
    }
}

/// Nothing granted: no preopened dirs, no env, no args, no network (sockets
/// are denied unless allowed), stdin closed; stdout and stderr captured.
fn wasi_builder(log: &Arc<RunLog>) -> WasiCtxBuilder {
    let mut builder = WasiCtx::builder();
    builder
        .stdout(CapturedOutput::new(log.clone(), LogSource::Stdout))
        .stderr(CapturedOutput::new(log.clone(), LogSource::Stderr));
    builder
}

impl WasiHttpView for RunData {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.http,
            table: &mut self.table,
            ctx: &mut self.http_ctx,
        }
    }
}

impl WasiView for RunData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let log = &self.log;
        let wasi = self.wasi.get_or_insert_with(|| wasi_builder(log).build());
        WasiCtxView {
            ctx: wasi,
            table: &mut self.table,
        }
    }
}

/// Enforces a run's memory cap and remembers that it was hit.
pub(crate) struct MemoryCap {
    cap: usize,
    pub(crate) exceeded: Option<RunFault>,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            let fault = RunFault::MemoryCap {
                cap: ByteSize(self.cap as u64),
                wanted: ByteSize(desired as u64),
            };
            self.exceeded = Some(fault.clone());
            return Err(wasmtime::Error::new(fault));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        const MAX_TABLE_ELEMENTS: usize = 100_000;
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
