//! Names of secrets, and the `secrets` column that grants them to a task:
//! `api_token, smtp.password`. A name is 1 to 100 letters, digits, `_`, `-`
//! or `.`, so it reads the same in SQL, on a command line and as a
//! `wasi:config` key (`secret.NAME`).

/// The longest secret name.
pub const MAX_SECRET_NAME: usize = 100;

/// Whether `name` can name a secret; if not, why.
pub fn check_secret_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_SECRET_NAME {
        return Err(format!(
            "`{}` is not a secret name: 1 to {MAX_SECRET_NAME} characters",
            name.escape_debug()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "`{}` is not a secret name: `{}` is not a letter, digit, `_`, `-` or `.`",
            name.escape_debug(),
            bad.escape_debug()
        ));
    }
    Ok(())
}

/// The names a `secrets` column grants, comma- or space-separated.
pub fn parse_secret_names(text: &str) -> Result<Vec<String>, String> {
    text.split([',', ' ', '\n', '\t'])
        .filter(|name| !name.is_empty())
        .map(|name| check_secret_name(name).map(|()| name.to_owned()))
        .collect()
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
}
