//! Job modules: the plugins folder (watched, debounced), sidecar manifests,
//! workflow files (`NAME.workflow.toml`, `workflow_file.rs`), the `modules` table (so a module pushed once reaches every host) and the
//! in-memory registry of loaded components.
//!
//! A new or replaced file is validated and compiled off the hot path (a
//! blocking thread), stored by digest, and used from the next run; runs in
//! flight keep the version they started with. A broken file is rejected with
//! a log line naming it, and the previous version stays live. A removed file
//! stops its module's tasks, with the reason recorded on each task.
//!
//! A big module file in the plugins folder (a Python or JavaScript job:
//! 12–20 MB, seconds to compile the first time) loads in the background, so
//! the host serves its other modules meanwhile; its tasks wait for it as for
//! any module not yet loaded (and a newer file, or its removal, while it
//! compiles wins). Modules from the database load before the host
//! dispatches, as runs already claimed may need them.

mod manifest;
mod registry;
mod workflow_apply;
mod workflow_file;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::RecursiveMode;
use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use tokio::sync::mpsc;

pub use manifest::parse_manifest;
pub use registry::{ModuleRegistry, missing_module};
pub use workflow_apply::{Applied, ApplyError, apply_workflow_file};
pub use workflow_file::{WorkflowFile, parse_workflow_file, workflow_name};

use crate::clock::now_ms;
use crate::digest::Digest;
use crate::runtime::Runtime;
use crate::store::{Store, StoreError};
use crate::vocab::{HTTP_MODULE, WORKFLOW_MODULE, is_builtin_module};

/// How long a file must be quiet before it is loaded.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Modules larger than this load in the background when found by a scan.
const BIG_MODULE: usize = 4 << 20;

/// Loads modules from the folder and the database into the registry.
#[derive(Debug, Clone)]
pub struct Plugins {
    store: Store,
    runtime: Arc<Runtime>,
    registry: Arc<ModuleRegistry>,
    /// Modules loading in the background: the version each is loading.
    loading: Arc<Mutex<HashMap<String, Digest>>>,
}

/// What loading a module did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadOutcome {
    /// A new module or a new version of one.
    Loaded(Digest),
    /// The same bytes were already loaded.
    Unchanged(Digest),
    /// Compiled in the background, but a newer version was loaded (or the
    /// module removed) meanwhile: not used.
    Superseded(Digest),
}

impl Plugins {
    /// Loads into `registry` with `runtime`, recording in `store`.
    pub fn new(store: Store, runtime: Arc<Runtime>, registry: Arc<ModuleRegistry>) -> Self {
        Self {
            store,
            runtime,
            registry,
            loading: Arc::default(),
        }
    }

    /// Loads a module file found in the plugins folder: now if it is
    /// small, else on a background task (once per version: a version
    /// already loading is left to finish, unless a newer one supersedes it).
    async fn load_found(&self, name: &str, bytes: Vec<u8>, source: String, from: String) {
        if bytes.len() <= BIG_MODULE {
            self.log_load(name, self.load(name, bytes, &source).await, &from);
            return;
        }
        let digest = Digest::of(&bytes);
        if self.registry.digest(name) == Some(digest) {
            return;
        }
        {
            let mut loading = self.loading();
            if loading.get(name) == Some(&digest) {
                return;
            }
            loading.insert(name.to_owned(), digest);
        }
        tracing::info!(module = %name, bytes = bytes.len(), %from, "big module: loading it in the background");
        let plugins = self.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            let loaded = plugins.install(&name, bytes, &source, Some(digest)).await;
            plugins.log_load(&name, loaded, &from);
        });
    }

    fn loading(&self) -> std::sync::MutexGuard<'_, HashMap<String, Digest>> {
        self.loading.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log_load(&self, name: &str, loaded: anyhow::Result<LoadOutcome>, from: &str) {
        match loaded {
            Ok(LoadOutcome::Loaded(digest)) => {
                tracing::info!(module = %name, digest = %digest.short(), %from, "module loaded");
            }
            Ok(LoadOutcome::Unchanged(_)) => {}
            Ok(LoadOutcome::Superseded(digest)) => {
                tracing::info!(module = %name, digest = %digest.short(), %from, "module version not used: a newer one was loaded, or the module removed, while it compiled");
            }
            Err(error) => {
                let previous = match self.registry.digest(name) {
                    Some(digest) => format!("version {} stays live", digest.short()),
                    None => "the module is not loaded".to_owned(),
                };
                tracing::error!(module = %name, %from, "plugin rejected: {error:#}; {previous}");
            }
        }
    }

    /// Validates and compiles `bytes` as module `name` (on a blocking thread),
    /// stores them in the database and makes them live. A version of the
    /// module still loading in the background is superseded.
    pub async fn load(
        &self,
        name: &str,
        bytes: Vec<u8>,
        source: &str,
    ) -> anyhow::Result<LoadOutcome> {
        self.loading().remove(name);
        self.install(name, bytes, source, None).await
    }

    /// Compiles `bytes`; then, unless it is a `background` load whose
    /// version was superseded while it compiled, stores and makes it live.
    async fn install(
        &self,
        name: &str,
        bytes: Vec<u8>,
        source: &str,
        background: Option<Digest>,
    ) -> anyhow::Result<LoadOutcome> {
        anyhow::ensure!(!is_builtin_module(name), "{}", reserved_name(name));
        // A background load's version is its digest, already computed.
        let digest = background.unwrap_or_else(|| Digest::of(&bytes));
        if self.registry.digest(name) == Some(digest) {
            return Ok(LoadOutcome::Unchanged(digest));
        }
        let runtime = self.runtime.clone();
        let (job, bytes) =
            tokio::task::spawn_blocking(move || (runtime.load(&bytes), bytes)).await?;
        let job = job?;
        match background {
            Some(version) => {
                // Checked and made live under the lock: a load or removal
                // that starts after this supersedes this version itself.
                {
                    let mut loading = self.loading();
                    if loading.get(name) != Some(&version) {
                        return Ok(LoadOutcome::Superseded(digest));
                    }
                    loading.remove(name);
                    self.registry.insert(name, job);
                }
                self.store
                    .put_module(name, &digest.to_string(), &bytes, source, now_ms())
                    .await?;
            }
            None => {
                self.store
                    .put_module(name, &digest.to_string(), &bytes, source, now_ms())
                    .await?;
                self.registry.insert(name, job);
            }
        }
        self.store.unblock_module_tasks(name).await?;
        Ok(LoadOutcome::Loaded(digest))
    }

    /// Brings the registry in line with the `modules` table: loads modules
    /// pushed there (by the CLI or another host) and unloads removed ones.
    pub async fn sync_from_store(&self) -> Result<(), StoreError> {
        let stored = self.store.list_modules().await?;
        for module in &stored {
            if is_builtin_module(&module.name) {
                tracing::error!(module = %module.name, "module in the database not loaded: {}", reserved_name(&module.name));
                continue;
            }
            let current = self.registry.digest(&module.name).map(|d| d.to_string());
            if current.as_deref() == Some(module.digest.as_str()) {
                continue;
            }
            let Some((_, bytes)) = self.store.module_bytes(&module.name).await? else {
                continue;
            };
            // Loaded here, before the host dispatches (runs already claimed
            // may need it); compiled once, then from the compile cache.
            let runtime = self.runtime.clone();
            let loaded = tokio::task::spawn_blocking(move || runtime.load(&bytes)).await;
            match loaded {
                Ok(Ok(job)) => {
                    tracing::info!(module = %module.name, digest = %job.digest().short(), "module loaded from the database");
                    self.registry.insert(&module.name, job);
                    self.store.unblock_module_tasks(&module.name).await?;
                }
                Ok(Err(error)) => {
                    tracing::error!(module = %module.name, "module in the database does not load: {error}");
                }
                Err(error) => {
                    tracing::error!(module = %module.name, "loading module failed: {error}")
                }
            }
        }
        for name in self.registry.names() {
            if !stored.iter().any(|m| m.name == name) {
                self.unload(&name, &format!("module `{name}` was removed"))
                    .await?;
            }
        }
        Ok(())
    }

    async fn unload(&self, name: &str, why: &str) -> Result<(), StoreError> {
        self.registry.remove(name);
        let blocked = self
            .store
            .block_module_tasks(name, &missing_module(name))
            .await?;
        tracing::warn!(module = %name, tasks = blocked, "{why}: its tasks stopped firing");
        Ok(())
    }

    /// Loads every `.wasm` in `dir`, then its `.toml` manifests, then its
    /// workflow files.
    pub async fn scan_folder(&self, dir: &Path) -> anyhow::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("cannot read plugins folder {}: {e}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries.iter().filter(|p| has_extension(p, "wasm")) {
            self.file_changed(path).await;
        }
        // Manifests before workflow files: a workflow's steps name tasks
        // the manifests make.
        let is_workflow = |path: &&PathBuf| {
            path.file_name()
                .and_then(|n| n.to_str())
                .and_then(workflow_name)
                .is_some()
        };
        let (workflows, manifests): (Vec<&PathBuf>, Vec<&PathBuf>) = entries
            .iter()
            .filter(|p| has_extension(p, "toml"))
            .partition(is_workflow);
        for path in manifests.into_iter().chain(workflows) {
            self.file_changed(path).await;
        }
        Ok(())
    }

    /// Reacts to a file in the plugins folder appearing, changing or vanishing.
    pub async fn file_changed(&self, path: &Path) {
        if let Some(workflow) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(workflow_name)
        {
            if path.is_file() {
                self.read_workflow_file(workflow, path).await;
            }
            return;
        }
        let Some(name) = module_name(path) else {
            return;
        };
        let exists = path.is_file();
        if !exists && path.exists() && (has_extension(path, "wasm") || has_extension(path, "toml"))
        {
            tracing::warn!(
                file = %path.display(),
                "ignored: not a regular file (a directory, FIFO or device); a module or manifest must be a file"
            );
            return;
        }
        if has_extension(path, "wasm") {
            if exists {
                self.load_file(&name, path).await;
            } else if let Err(error) = self.remove_module(&name, path).await {
                tracing::error!(file = %path.display(), "unloading failed: {error}");
            }
        } else if has_extension(path, "toml") && exists {
            self.apply_manifest(&name, path).await;
        }
    }

    async fn load_file(&self, name: &str, path: &Path) {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(file = %path.display(), "cannot read plugin: {error}");
                return;
            }
        };
        let source = format!("folder:{}", path.display());
        self.load_found(name, bytes, source, path.display().to_string())
            .await;
    }

    async fn remove_module(&self, name: &str, path: &Path) -> Result<(), StoreError> {
        // A version still compiling in the background is not used.
        self.loading().remove(name);
        if !self.registry.contains(name) {
            return Ok(());
        }
        self.store.remove_module(name).await?;
        self.unload(name, &format!("{} was deleted", path.display()))
            .await
    }

    /// Defines the workflow of `NAME.workflow.toml` (and the task that
    /// starts it on its schedule, if it has one). A file with a mistake
    /// changes nothing and says why; deleting the file keeps the workflow.
    async fn read_workflow_file(&self, name: &str, path: &Path) {
        let file = match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| parse_workflow_file(name, &text))
        {
            Ok(file) => file,
            Err(error) => {
                tracing::error!(file = %path.display(), "workflow file rejected: {error}");
                return;
            }
        };
        match apply_workflow_file(&self.store, name, &file).await {
            Ok(Applied::Unchanged) => {}
            Ok(applied) => tracing::info!(
                workflow = %name,
                file = %path.display(),
                steps = file.def.steps.len(),
                "workflow {} from file",
                if applied == Applied::Created { "created" } else { "updated" }
            ),
            Err(ApplyError::Refused(why)) => {
                tracing::error!(file = %path.display(), "workflow file rejected: {why}")
            }
            Err(error) => {
                tracing::error!(workflow = %name, file = %path.display(), "cannot store workflow: {error}")
            }
        }
    }

    async fn apply_manifest(&self, module: &str, path: &Path) {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) => {
                tracing::error!(file = %path.display(), "cannot read manifest: {error}");
                return;
            }
        };
        let specs = match parse_manifest(module, &text) {
            Ok(specs) => specs,
            Err(error) => {
                tracing::error!(file = %path.display(), "manifest rejected: {error}");
                return;
            }
        };
        for spec in specs {
            let unchanged =
                matches!(self.store.get_task(&spec.name).await, Ok(Some(row)) if row.spec == spec);
            if unchanged {
                continue;
            }
            match self.store.upsert_task(&spec).await {
                Ok(created) => tracing::info!(
                    task = %spec.name,
                    file = %path.display(),
                    "task {} from manifest",
                    if created { "created" } else { "updated" }
                ),
                Err(error) => {
                    tracing::error!(task = %spec.name, file = %path.display(), "cannot store task: {error}")
                }
            }
        }
    }

    /// Starts watching `dir`. Call it before [`Plugins::scan_folder`] so that
    /// a file written between the scan and the watch is not missed; the
    /// events queue up until [`Plugins::follow`] takes them.
    pub fn watch(dir: &Path) -> anyhow::Result<FolderWatch> {
        let (sender, receiver) = mpsc::unbounded_channel::<PathBuf>();
        let mut debouncer =
            new_debouncer(
                DEBOUNCE,
                None,
                move |result: DebounceEventResult| match result {
                    Ok(events) => {
                        for event in events.iter().filter(|e| is_a_change(&e.kind)) {
                            for path in &event.paths {
                                let _ = sender.send(path.clone());
                            }
                        }
                    }
                    Err(errors) => {
                        for error in errors {
                            tracing::warn!("plugins folder watch error: {error}");
                        }
                    }
                },
            )?;
        debouncer.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(FolderWatch {
            _debouncer: Box::new(debouncer),
            receiver,
        })
    }

    /// Loads the files `watch` reports changed until `shutdown` resolves.
    pub async fn follow(
        &self,
        mut watch: FolderWatch,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                path = watch.receiver.recv() => {
                    let Some(path) = path else { return };
                    self.file_changed(&path).await;
                }
            }
        }
    }
}

/// A running watch of the plugins folder and the paths it reported.
pub struct FolderWatch {
    _debouncer: Box<dyn std::any::Any + Send>,
    receiver: mpsc::UnboundedReceiver<PathBuf>,
}

impl std::fmt::Debug for FolderWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderWatch").finish_non_exhaustive()
    }
}

/// Whether a watch event is someone changing the folder: a file created,
/// written, renamed or removed. Opening and reading a file (as the host
/// itself does when it loads one) is not, or every load would trigger the
/// next.
fn is_a_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Other | EventKind::Any => false,
    }
}

fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension().is_some_and(|e| e == extension)
}

/// Why no module may be called `http` or `workflow`.
pub fn reserved_name(name: &str) -> String {
    if name == WORKFLOW_MODULE {
        format!(
            "the module name `{WORKFLOW_MODULE}` is kept for workflow tasks (a task whose module is \
             `{WORKFLOW_MODULE}` starts the workflow its param names); give the module another name"
        )
    } else {
        format!(
            "the module name `{HTTP_MODULE}` is kept for HTTP tasks (a task whose module is `{HTTP_MODULE}` \
             is a call the host makes itself); give the module another name"
        )
    }
}

fn module_name(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    (!stem.starts_with('.')).then(|| stem.to_owned())
}
