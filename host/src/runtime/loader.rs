//! Turning bytes into a runnable job: check the header, compile (or load the
//! cached compilation), check the component against the contract, and
//! pre-instantiate it against the host's linker so each run only instantiates.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use crate::digest::Digest;
use crate::runtime::bindings::JobPre;
use crate::runtime::compile_cache::{CacheOutcome, CompileCache};
use crate::runtime::store_data::RunData;
use crate::runtime::{CONTRACT_VERSION, EARLIER_CONTRACTS, LoadError};

/// A job component ready to run: compiled, checked and pre-instantiated.
/// Cheap to clone; runs in flight keep the version they started with.
#[derive(Clone)]
pub struct JobComponent {
    inner: Arc<Inner>,
}

struct Inner {
    digest: Digest,
    pre: JobPre<RunData>,
    cache: CacheOutcome,
    load_time: Duration,
}

impl std::fmt::Debug for JobComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobComponent")
            .field("digest", &self.inner.digest)
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

impl JobComponent {
    /// SHA-256 of the component's bytes.
    pub fn digest(&self) -> Digest {
        self.inner.digest
    }

    /// Whether loading hit the compile cache.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.inner.cache
    }

    /// How long loading took (compile or cache load, checks, pre-instantiation).
    pub fn load_time(&self) -> Duration {
        self.inner.load_time
    }

    pub(crate) fn pre(&self) -> &JobPre<RunData> {
        &self.inner.pre
    }
}

pub(crate) fn load(
    engine: &Engine,
    linker: &Linker<RunData>,
    cache: Option<&CompileCache>,
    digest: Digest,
    bytes: &[u8],
) -> Result<JobComponent, LoadError> {
    let started = Instant::now();
    check_header(bytes)?;
    // What can be told from the component's outline is told before
    // compiling, which takes seconds for a big component.
    if let Some(outline) = Outline::read(bytes) {
        check_versions(outline.imports.iter().map(String::as_str))?;
        if !outline.exports.iter().any(|name| name == "run") {
            return Err(not_a_job(outline.exports.iter().map(String::as_str)));
        }
    }
    let cached = cache.and_then(|cache| cache.get(engine, &digest));
    let cache_outcome = if cached.is_some() {
        CacheOutcome::Hit
    } else {
        CacheOutcome::Compiled
    };
    let component = match cached {
        Some(component) => component,
        None => Component::new(engine, bytes).map_err(|e| LoadError::Invalid(error_text(&e)))?,
    };
    check_contract(engine, &component)?;
    if let (Some(cache), CacheOutcome::Compiled) = (cache, cache_outcome) {
        cache.put(&digest, &component);
    }
    let instance_pre = linker
        .instantiate_pre(&component)
        .map_err(|e| LoadError::UnsatisfiedImports(error_text(&e)))?;
    let pre = JobPre::new(instance_pre).map_err(|e| LoadError::WrongSignature {
        detail: error_text(&e),
        supported: CONTRACT_VERSION,
    })?;
    Ok(JobComponent {
        inner: Arc::new(Inner {
            digest,
            pre,
            cache: cache_outcome,
            load_time: started.elapsed(),
        }),
    })
}

/// `\0asm` then a 4-byte version: `01 00 00 00` for a core module,
/// `0d 00 01 00` for a component.
fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm);
    }
    match bytes[4..8] {
        [1, 0, 0, 0] => Err(LoadError::CoreModule),
        [_, _, 1, 0] => Ok(()),
        _ => Err(LoadError::Invalid(format!(
            "unknown WebAssembly version/layer bytes {:02x?}",
            &bytes[4..8]
        ))),
    }
}

/// Rejects a component built against an incompatible contract version, or one
/// of another world (no `run` export), with a message saying which.
fn check_contract(engine: &Engine, component: &Component) -> Result<(), LoadError> {
    let ty = component.component_type();
    check_versions(ty.imports(engine).map(|(name, _)| name))?;
    if ty.get_export(engine, "run").is_none() {
        return Err(not_a_job(ty.exports(engine).map(|(name, _)| name)));
    }
    Ok(())
}

fn not_a_job<'a>(exports: impl Iterator<Item = &'a str>) -> LoadError {
    let exports: Vec<&str> = exports.collect();
    LoadError::NotAJob {
        exports: if exports.is_empty() {
            "none".to_owned()
        } else {
            exports.join(", ")
        },
    }
}

/// Refuses imports of a contract version this host does not serve.
fn check_versions<'a>(imports: impl Iterator<Item = &'a str>) -> Result<(), LoadError> {
    for name in imports {
        let Some(interface) = name.strip_prefix("carillon:job/") else {
            continue;
        };
        let version = interface.split_once('@').map(|(_, v)| v).unwrap_or("");
        let served = std::iter::once(CONTRACT_VERSION).chain(EARLIER_CONTRACTS.iter().copied());
        if !served.into_iter().any(|known| compatible(version, known)) {
            return Err(LoadError::ContractVersion {
                found: if version.is_empty() {
                    "(unversioned)".to_owned()
                } else {
                    version.to_owned()
                },
                supported: CONTRACT_VERSION,
            });
        }
    }
    Ok(())
}

/// The names a component imports and exports at its top level, read
/// without compiling it.
struct Outline {
    imports: Vec<String>,
    exports: Vec<String>,
}

impl Outline {
    /// `None` when the bytes do not parse: compiling will say why.
    fn read(bytes: &[u8]) -> Option<Self> {
        use wasmparser::{Parser, Payload};

        let mut outline = Outline {
            imports: Vec::new(),
            exports: Vec::new(),
        };
        // Every module and component starts with a version and ends with an
        // end; nested ones sit between the outer one's.
        let mut depth = 0usize;
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.ok()? {
                Payload::Version { .. } => depth += 1,
                Payload::End(_) => depth = depth.saturating_sub(1),
                Payload::ComponentImportSection(imports) if depth == 1 => {
                    for import in imports {
                        outline.imports.push(import.ok()?.name.name.to_owned());
                    }
                }
                Payload::ComponentExportSection(exports) if depth == 1 => {
                    for export in exports {
                        outline.exports.push(export.ok()?.name.name.to_owned());
                    }
                }
                _ => {}
            }
        }
        Some(outline)
    }
}

/// Semver compatibility as the component model applies it: same major, and for
/// 0.x the same minor.
fn compatible(found: &str, supported: &str) -> bool {
    let parts = |v: &str| -> Option<(u64, u64)> {
        let mut it = v.split('.');
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    match (parts(found), parts(supported)) {
        (Some((0, found_minor)), Some((0, supported_minor))) => found_minor == supported_minor,
        (Some((found_major, _)), Some((supported_major, _))) => found_major == supported_major,
        _ => false,
    }
}

/// The whole cause chain of a wasmtime error on one line.
pub(crate) fn error_text(error: &wasmtime::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check_tells_text_core_module_and_component_apart() {
        assert!(matches!(
            check_header(b"hello world"),
            Err(LoadError::NotWasm)
        ));
        assert!(matches!(
            check_header(b"\0asm\x01\0\0\0"),
            Err(LoadError::CoreModule)
        ));
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
        assert!(matches!(
            check_header(b"\0asm\x07\0\x07\0"),
            Err(LoadError::Invalid(_))
        ));
    }

    #[test]
    fn contract_versions_follow_component_semver() {
        assert!(compatible("0.1.0", "0.1.0"));
        assert!(compatible("0.1.3", "0.1.0"));
        assert!(!compatible("0.2.0", "0.1.0"));
        assert!(compatible("0.3.1", CONTRACT_VERSION));
        assert!(!compatible("0.4.0", CONTRACT_VERSION));
        assert!(!compatible("1.0.0", "0.1.0"));
        assert!(!compatible("", "0.1.0"));
    }
}
