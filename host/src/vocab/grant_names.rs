//! Names of what a task may be granted, and the columns that grant them: the
//! `secrets` column (`api_token, smtp.password`), the `mounts` column
//! (`reports, inbox`), the `databases` column (`crm, warehouse`). A name is 1 to 100 letters, digits, `_` or `-` (a
//! secret's may hold `.` too), so it reads the same in SQL, on a command
//! line, as a `wasi:config` key (`secret.NAME`) and as a folder (`/NAME`).

/// The longest name of a secret or a mount.
pub const MAX_GRANT_NAME: usize = 100;

/// What a name names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    /// A secret (`secret set NAME`, the `secrets` column).
    Secret,
    /// A folder the host config names (`[mounts.NAME]`, the `mounts` column).
    Mount,
    /// A database the host config names (`[databases.NAME]`, the
    /// `databases` column).
    Database,
}

impl GrantKind {
    fn noun(self) -> &'static str {
        match self {
            GrantKind::Secret => "secret",
            GrantKind::Mount => "mount",
            GrantKind::Database => "database",
        }
    }

    fn allows(self, c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_' || c == '-' || (c == '.' && self == GrantKind::Secret)
    }

    fn allowed(self) -> &'static str {
        match self {
            GrantKind::Secret => "a letter, digit, `_`, `-` or `.`",
            GrantKind::Mount | GrantKind::Database => "a letter, digit, `_` or `-`",
        }
    }
}

/// Whether `name` can name a `kind`; if not, why.
pub fn check_grant_name(kind: GrantKind, name: &str) -> Result<(), String> {
    let noun = kind.noun();
    if name.is_empty() || name.len() > MAX_GRANT_NAME {
        return Err(format!(
            "`{}` is not a {noun} name: 1 to {MAX_GRANT_NAME} characters",
            name.escape_debug()
        ));
    }
    if let Some(bad) = name.chars().find(|&c| !kind.allows(c)) {
        return Err(format!(
            "`{}` is not a {noun} name: `{}` is not {}",
            name.escape_debug(),
            bad.escape_debug(),
            kind.allowed()
        ));
    }
    Ok(())
}

/// The names a column grants, comma- or space-separated.
pub fn parse_grant_names(kind: GrantKind, text: &str) -> Result<Vec<String>, String> {
    text.split([',', ' ', '\n', '\t'])
        .filter(|name| !name.is_empty())
        .map(|name| check_grant_name(kind, name).map(|()| name.to_owned()))
        .collect()
}

/// Whether `name` can name a secret; if not, why.
pub fn check_secret_name(name: &str) -> Result<(), String> {
    check_grant_name(GrantKind::Secret, name)
}

/// The names a `secrets` column grants.
pub fn parse_secret_names(text: &str) -> Result<Vec<String>, String> {
    parse_grant_names(GrantKind::Secret, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_lists_split() {
        assert_eq!(
            parse_secret_names("api_token, smtp.password").unwrap(),
            ["api_token", "smtp.password"]
        );
        assert!(parse_secret_names("").unwrap().is_empty());
        assert!(
            parse_secret_names("a;b")
                .unwrap_err()
                .contains("`;` is not a letter")
        );
        assert!(check_secret_name(&"x".repeat(101)).is_err());
    }

    #[test]
    fn a_mount_name_is_a_plain_folder_name() {
        assert_eq!(
            parse_grant_names(GrantKind::Mount, "reports inbox").unwrap(),
            ["reports", "inbox"]
        );
        for bad in ["..", "a/b", "a.b"] {
            let error = check_grant_name(GrantKind::Mount, bad).unwrap_err();
            assert!(error.contains("is not a mount name"), "{bad}: {error}");
        }
    }
}
