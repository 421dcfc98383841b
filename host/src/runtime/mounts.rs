//! The folders a run sees: each mount it is granted, opened at `/NAME`,
//! read-only unless the host's config makes it writable. Nothing else of the
//! host's file system is visible (wasmtime's preopens are capability
//! handles: `..` and symbolic links cannot leave them).

use std::path::PathBuf;

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// A folder of the host a run may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Its name: the job sees it at `/NAME`.
    pub name: String,
    /// The host folder.
    pub path: PathBuf,
    /// Whether the job may create, change and delete files in it.
    pub writable: bool,
}

impl Mount {
    /// Where the job sees it.
    pub fn guest_path(&self) -> String {
        format!("/{}", self.name)
    }
}

/// Opens each of `mounts` in `builder`, or says which could not be opened.
pub(crate) fn preopen(builder: &mut WasiCtxBuilder, mounts: &[Mount]) -> Result<(), String> {
    for mount in mounts {
        let perms = if mount.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        builder
            .preopened_dir(&mount.path, mount.guest_path(), perms)
            .map_err(|error| {
                format!(
                    "mount `{}`: cannot open {} ({error}); check [mounts.{}] in the host config",
                    mount.name,
                    mount.path.display(),
                    mount.name
                )
            })?;
    }
    Ok(())
}
