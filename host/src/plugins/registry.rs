//! The modules this host can run right now: name → loaded component. Runs
//! take a clone (an `Arc`) when they start, so replacing a module never
//! touches runs in flight. A task whose module is not here does not fire:
//! [`missing_module`] is the reason recorded on it.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::digest::Digest;
use crate::runtime::JobComponent;
use crate::vocab::{TaskError, TaskErrorKind};

/// Why a task of `module` cannot fire while the module is not loaded. Its
/// kind, not its wording, is what unblocks the task when the module arrives.
pub fn missing_module(module: &str) -> TaskError {
    TaskError {
        kind: TaskErrorKind::MissingModule,
        message: format!(
            "module `{module}` is not loaded: drop {module}.wasm into the plugins folder or run `carillon module push {module} FILE.wasm`"
        ),
        column: Some("module"),
    }
}

/// Loaded modules by name.
#[derive(Debug, Default)]
pub struct ModuleRegistry {
    modules: RwLock<HashMap<String, JobComponent>>,
}

impl ModuleRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether module `name` is loaded.
    pub fn contains(&self, name: &str) -> bool {
        self.read().contains_key(name)
    }

    /// The loaded component of module `name`.
    pub fn get(&self, name: &str) -> Option<JobComponent> {
        self.read().get(name).cloned()
    }

    /// The digest of module `name`, if loaded.
    pub fn digest(&self, name: &str) -> Option<Digest> {
        self.read().get(name).map(JobComponent::digest)
    }

    /// Loads (or replaces) module `name`.
    pub fn insert(&self, name: &str, job: JobComponent) {
        self.modules
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), job);
    }

    /// Unloads module `name`; returns whether it was loaded.
    pub fn remove(&self, name: &str) -> bool {
        self.modules
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
            .is_some()
    }

    /// Names of the loaded modules.
    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, JobComponent>> {
        self.modules.read().unwrap_or_else(|e| e.into_inner())
    }
}
