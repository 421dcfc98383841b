//! Who may do what through the admin API: the four roles, least privilege
//! first, each allowed everything the one before it is. A token or user
//! holds one role, optionally limited to some task groups ([`Grant`]).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// What a caller of the API may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Read tasks, runs, logs, nodes, modules and the audit log.
    Viewer,
    /// And trigger, pause, resume, cancel and retry.
    Operator,
    /// And create, edit and delete tasks and modules.
    Editor,
    /// And manage tokens, users, secrets and settings.
    Admin,
}

impl Role {
    /// Every role, least privilege first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Editor, Role::Admin];

    /// The text stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text.trim())
            .ok_or_else(|| format!("`{text}` is not a role; use viewer, operator, editor or admin"))
    }
}

/// A role, and the task groups it applies to (`None`: every group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// What the holder may do.
    pub role: Role,
    /// The only task groups it may see and act on, if limited.
    pub groups: Option<Vec<String>>,
}

impl Grant {
    /// Everything, everywhere.
    pub fn admin() -> Self {
        Self {
            role: Role::Admin,
            groups: None,
        }
    }

    /// Whether the holder may act with `role`'s rights.
    pub fn allows(&self, role: Role) -> bool {
        self.role >= role
    }

    /// Whether the holder may see tasks (and their runs) of `group`.
    pub fn covers(&self, group: &str) -> bool {
        self.groups
            .as_ref()
            .is_none_or(|groups| groups.iter().any(|g| g == group))
    }

    /// Whether the holder is limited to some groups (so it may not act on
    /// what belongs to no group: modules, tokens, settings).
    pub fn is_limited(&self) -> bool {
        self.groups.is_some()
    }
}

/// Parses a comma list of task groups (`etl,billing`); empty names are
/// refused.
pub fn parse_groups(text: &str) -> Result<Vec<String>, String> {
    let groups: Vec<String> = text.split(',').map(|g| g.trim().to_owned()).collect();
    if groups.iter().any(String::is_empty) {
        return Err(format!(
            "`{text}` is not a list of groups; write them as `etl,billing`"
        ));
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_rank_least_privilege_first() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        let operator = Grant {
            role: Role::Operator,
            groups: Some(vec!["etl".into()]),
        };
        assert!(operator.allows(Role::Viewer) && operator.allows(Role::Operator));
        assert!(!operator.allows(Role::Editor));
        assert!(operator.covers("etl") && !operator.covers("billing"));
        assert!(Grant::admin().covers("anything"));
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .contains("viewer, operator")
        );
        assert_eq!(parse_groups("etl, billing").unwrap(), ["etl", "billing"]);
        assert!(parse_groups("etl,,x").is_err());
    }
}
