//! Roles and permissions: a compiled policy per server that the `[rbac]`
//! section of the configuration may override or extend (new roles without
//! code). Handlers ask by name: `user.require(CorePermission::UsersManage)?`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;

/// A permission a server checks. Each server has an enum implementing this.
pub trait Permission: Copy {
    /// Its stable name, as written in policy files (`users.manage`).
    fn name(self) -> &'static str;
}

/// Permissions every server has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorePermission {
    /// Create, list, change and deactivate this server's users.
    UsersManage,
    /// Read this server's audit log.
    AuditRead,
}

impl Permission for CorePermission {
    fn name(self) -> &'static str {
        match self {
            Self::UsersManage => "users.manage",
            Self::AuditRead => "audit.read",
        }
    }
}

/// Role → permissions, resolved once at start-up.
#[derive(Debug, Clone)]
pub struct Policy {
    roles: BTreeMap<String, BTreeSet<String>>,
    admin_role: String,
}

impl Policy {
    /// The compiled `defaults`, with `overrides` replacing or adding roles.
    /// Every permission named must be in `known`.
    pub fn build(
        defaults: &[(&str, &[&str])],
        admin_role: &str,
        known: &[&str],
        overrides: &BTreeMap<String, Vec<String>>,
    ) -> anyhow::Result<Self> {
        let mut roles: BTreeMap<String, BTreeSet<String>> = defaults
            .iter()
            .map(|(role, perms)| {
                (
                    role.to_string(),
                    perms.iter().map(|p| p.to_string()).collect(),
                )
            })
            .collect();
        for (role, perms) in overrides {
            if role.is_empty()
                || role.len() > 64
                || !role.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            {
                bail!("rbac: role names are lower-case letters and `_`: `{role}`");
            }
            for p in perms {
                if !known.contains(&p.as_str()) {
                    bail!("rbac: role `{role}` names unknown permission `{p}`");
                }
            }
            roles.insert(role.clone(), perms.iter().cloned().collect());
        }
        if !roles.contains_key(admin_role) {
            bail!("rbac: the admin role `{admin_role}` must exist");
        }
        Ok(Self {
            roles,
            admin_role: admin_role.to_string(),
        })
    }

    /// Whether `role` has `permission`.
    pub fn allows(&self, role: &str, permission: &str) -> bool {
        self.roles.get(role).is_some_and(|p| p.contains(permission))
    }

    /// Whether `role` exists.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains_key(role)
    }

    /// The role that administers this server.
    pub fn admin_role(&self) -> &str {
        &self.admin_role
    }

    /// Role names, sorted.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: &[(&str, &[&str])] =
        &[("admin", &["users.manage", "audit.read"]), ("analyst", &[])];
    const KNOWN: &[&str] = &["users.manage", "audit.read", "reports.read"];

    #[test]
    fn overrides_replace_and_add_roles() {
        let mut o = BTreeMap::new();
        o.insert("analyst".to_string(), vec!["reports.read".to_string()]);
        o.insert("auditor".to_string(), vec!["audit.read".to_string()]);
        let p = Policy::build(DEFAULTS, "admin", KNOWN, &o).unwrap();
        assert!(p.allows("analyst", "reports.read"));
        assert!(p.allows("auditor", "audit.read"));
        assert!(!p.allows("auditor", "users.manage"));
        assert!(!p.allows("nobody", "audit.read"));
    }

    #[test]
    fn unknown_permissions_are_refused() {
        let mut o = BTreeMap::new();
        o.insert("analyst".to_string(), vec!["root".to_string()]);
        assert!(Policy::build(DEFAULTS, "admin", KNOWN, &o).is_err());
    }
}
