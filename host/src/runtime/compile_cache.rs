//! Compiled components on disk, keyed by the module's content digest and the
//! engine's compatibility hash, so a restart (or a second host on the same
//! disk) does not compile a module again. A cache entry that does not load is
//! ignored and rewritten: the cache can only make loading faster, never fail it.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::digest::Digest;

/// Whether a component came from the cache or was compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a cached artefact.
    Hit,
    /// Compiled (and, if there is a cache, stored in it).
    Compiled,
}

pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompileCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    fn path_of(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The cached component for `digest`, if a loadable one is on disk.
    pub(crate) fn get(&self, engine: &Engine, digest: &Digest) -> Option<Component> {
        let path = self.path_of(digest);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `put` below from `Component::serialize`
        // of this engine configuration (the engine key is in the file name), in a
        // directory owned by this host; wasmtime checks the header and version.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), "ignoring unloadable compile cache entry: {error}");
                None
            }
        }
    }

    /// Store `component` for `digest`; failures only cost a recompile later.
    pub(crate) fn put(&self, digest: &Digest, component: &Component) {
        if let Err(error) = self.try_put(digest, component) {
            tracing::warn!(dir = %self.dir.display(), "could not write compile cache: {error}");
        }
    }

    fn try_put(&self, digest: &Digest, component: &Component) -> std::io::Result<()> {
        let bytes = component.serialize().map_err(std::io::Error::other)?;
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path_of(digest);
        let temporary = temporary_path(&path);
        std::fs::write(&temporary, bytes)?;
        std::fs::rename(&temporary, &path)
    }
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}
