//! The sections of `carillon.toml` that name things a task may be granted:
//! `[mounts.NAME]`, folders a task's runs see at `/NAME`, and
//! `[databases.NAME]`, connections its runs may query through `sql`.
//!
//! ```toml
//! [mounts.reports]
//! path = "/srv/reports"
//! writable = true                   # default false: read-only
//!
//! [databases.crm]
//! url = "postgres://jobs@db.internal/crm"
//! max_rows = 10000                  # rows a query may return (default)
//! max_connections = 4               # the pool's size (default)
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use crate::runtime::Mount;
use crate::store::JobDatabase;
use crate::vocab::{GrantKind, check_grant_name};

/// The sections of this kind, for messages.
pub(super) const NAMED_SECTIONS: &[&str] = &["mounts", "databases"];

/// Each `[SECTION.NAME]` of `entries`, named by `kind` and read by `read`
/// from its fields. `noun` and `example(name)` (a key line) make the
/// messages for a malformed section.
fn named_sections<T>(
    entries: &toml::Value,
    section: &str,
    kind: GrantKind,
    (noun, first): (&str, &str),
    example: fn(&str) -> String,
    read: impl Fn(&str, &toml::Table) -> Result<T, String>,
) -> Result<BTreeMap<String, T>, String> {
    let Some(entries) = entries.as_table() else {
        return Err(format!(
            "`{section}` must hold one section per {noun}, e.g. [{section}.{first}] {}",
            example(first)
        ));
    };
    let mut named = BTreeMap::new();
    for (name, entry) in entries {
        check_grant_name(kind, name).map_err(|e| format!("[{section}.{name}]: {e}"))?;
        let Some(fields) = entry.as_table() else {
            return Err(format!(
                "`{section}.{name}` must be a section: [{section}.{name}] {}",
                example(name)
            ));
        };
        named.insert(name.clone(), read(name, fields)?);
    }
    Ok(named)
}

/// The `[databases.NAME]` sections of a file.
pub(super) fn databases(entries: &toml::Value) -> Result<BTreeMap<String, JobDatabase>, String> {
    let example = |_: &str| "url = \"postgres://…\"".to_owned();
    named_sections(
        entries,
        "databases",
        GrantKind::Database,
        ("connection", "crm"),
        example,
        |name, fields| {
            let mut database = JobDatabase {
                name: name.to_owned(),
                url: String::new(),
                max_rows: JobDatabase::DEFAULT_MAX_ROWS,
                max_connections: JobDatabase::DEFAULT_MAX_CONNECTIONS,
            };
            let count = |key: &str, value: &toml::Value, most: i64| match value.as_integer() {
                Some(number) if (1..=most).contains(&number) => Ok(number),
                _ => Err(format!(
                    "[databases.{name}] {key} must be a whole number from 1 to {most}"
                )),
            };
            for (key, value) in fields {
                match key.as_str() {
                    "url" => database.url = database_url(name, value)?,
                    "max_rows" => database.max_rows = count(key, value, 1_000_000)? as usize,
                    "max_connections" => database.max_connections = count(key, value, 64)? as u32,
                    other => {
                        return Err(format!(
                            "unknown key `{other}` in [databases.{name}]; its keys are url, max_rows, max_connections"
                        ));
                    }
                }
            }
            if database.url.is_empty() {
                return Err(format!(
                    "[databases.{name}] needs a url: url = \"postgres://user@host/{name}\""
                ));
            }
            Ok(database)
        },
    )
}

/// `url` of `[databases.NAME]`: PostgreSQL or SQLite.
fn database_url(name: &str, value: &toml::Value) -> Result<String, String> {
    let Some(url) = value.as_str() else {
        return Err(format!("[databases.{name}] url must be a string"));
    };
    if !(url.starts_with("postgres://")
        || url.starts_with("postgresql://")
        || url.starts_with("sqlite:"))
    {
        return Err(format!(
            "[databases.{name}] url must start with postgres:// or sqlite: (got `{}`)",
            crate::store::redact(url)
        ));
    }
    Ok(url.to_owned())
}

/// The `[mounts.NAME]` sections of a file.
pub(super) fn mounts(entries: &toml::Value) -> Result<BTreeMap<String, Mount>, String> {
    named_sections(
        entries,
        "mounts",
        GrantKind::Mount,
        ("folder", "reports"),
        |name| format!("path = \"/srv/{name}\""),
        |name, fields| {
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
            mount_of(name, Path::new(&path), writable).map_err(|e| format!("[mounts.{name}]: {e}"))
        },
    )
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

    #[test]
    fn databases_are_read_with_defaults_and_bad_ones_named() {
        let read = |text: &str| {
            let table: toml::Table = text.parse().unwrap();
            databases(&table["databases"])
        };
        let ok =
            read("[databases.crm]\nurl = \"postgres://u:pw@db/crm\"\nmax_rows = 50\n").unwrap();
        assert_eq!(ok["crm"].max_rows, 50);
        assert_eq!(
            ok["crm"].max_connections,
            JobDatabase::DEFAULT_MAX_CONNECTIONS
        );
        let mysql = read("[databases.x]\nurl = \"mysql://u:secret@db/x\"\n").unwrap_err();
        assert!(mysql.contains("must start with postgres://"), "{mysql}");
        assert!(
            !mysql.contains("secret"),
            "the password is not shown: {mysql}"
        );
        let no_url = read("[databases.x]\nmax_rows = 5\n").unwrap_err();
        assert!(no_url.contains("needs a url"), "{no_url}");
        let zero = read("[databases.x]\nurl = \"sqlite://x.db\"\nmax_rows = 0\n").unwrap_err();
        assert!(
            zero.contains("max_rows must be a whole number from 1"),
            "{zero}"
        );
    }
}
