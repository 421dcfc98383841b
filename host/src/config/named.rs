//! The sections of `carillon.toml` that name things a task may be granted:
//! `[mounts.NAME]`, folders a task's runs see at `/NAME`.
//!
//! ```toml
//! [mounts.reports]
//! path = "/srv/reports"
//! writable = true                   # default false: read-only
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use crate::runtime::Mount;
use crate::vocab::{GrantKind, check_grant_name};

/// The sections of this kind, for messages.
pub(super) const NAMED_SECTIONS: &[&str] = &["mounts"];

/// The `[mounts.NAME]` sections of a file.
pub(super) fn mounts(entries: &toml::Value) -> Result<BTreeMap<String, Mount>, String> {
    let Some(entries) = entries.as_table() else {
        return Err(
            "`mounts` must hold one section per folder, e.g. [mounts.reports] path = \"/srv/reports\""
                .to_owned(),
        );
    };
    let mut mounts = BTreeMap::new();
    for (name, entry) in entries {
        check_grant_name(GrantKind::Mount, name).map_err(|e| format!("[mounts.{name}]: {e}"))?;
        let Some(fields) = entry.as_table() else {
            return Err(format!(
                "`mounts.{name}` must be a section: [mounts.{name}] path = \"/srv/{name}\""
            ));
        };
        let mut path = None;
        let mut writable = false;
        for (key, value) in fields {
            match (key.as_str(), value) {
                ("path", toml::Value::String(text)) => path = Some(text.clone()),
                ("writable", toml::Value::Boolean(flag)) => writable = *flag,
                ("path", _) => return Err(format!("[mounts.{name}] path must be a string")),
                ("writable", _) => {
                    return Err(format!("[mounts.{name}] writable must be true or false"));
                }
                (other, _) => {
                    return Err(format!(
                        "unknown key `{other}` in [mounts.{name}]; its keys are path, writable"
                    ));
                }
            }
        }
        let Some(path) = path else {
            return Err(format!(
                "[mounts.{name}] needs a path: path = \"/srv/{name}\""
            ));
        };
        let mount = mount_of(name, Path::new(&path), writable)
            .map_err(|e| format!("[mounts.{name}]: {e}"))?;
        mounts.insert(name.clone(), mount);
    }
    Ok(mounts)
}

/// Mount `name` of the folder `path`, made absolute; fails when `path` is
/// not a folder.
pub fn mount_of(name: &str, path: &Path, writable: bool) -> Result<Mount, String> {
    let absolute = std::fs::canonicalize(path).map_err(|e| {
        format!(
            "{} cannot be opened ({e}); create the folder first",
            path.display()
        )
    })?;
    if !absolute.is_dir() {
        return Err(format!("{} is not a folder", path.display()));
    }
    Ok(Mount {
        name: name.to_owned(),
        path: absolute,
        writable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BTreeMap<String, Mount>, String> {
        let table: toml::Table = text.parse().unwrap();
        mounts(&table["mounts"])
    }

    #[test]
    fn mounts_are_read_checked_and_read_only_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[mounts.reports]\npath = \"{0}\"\nwritable = true\n[mounts.inbox]\npath = \"{0}\"\n",
            dir.path().display()
        );
        let mounts = parse(&text).unwrap();
        assert!(mounts["reports"].writable);
        assert!(!mounts["inbox"].writable);
        assert_eq!(mounts["inbox"].guest_path(), "/inbox");

        let missing = parse("[mounts.x]\npath = \"/no/such/folder\"\n").unwrap_err();
        assert!(
            missing.contains("/no/such/folder cannot be opened"),
            "{missing}"
        );
        let typo = parse(&format!("[mounts.x]\npth = \"{}\"\n", dir.path().display())).unwrap_err();
        assert!(typo.contains("unknown key `pth`"), "{typo}");
        let bad_name = parse("[mounts.\"a.b\"]\npath = \"/\"\n").unwrap_err();
        assert!(bad_name.contains("is not a mount name"), "{bad_name}");
    }
}
