//! Roles and permissions: a compiled policy per server that the `[rbac]`
//! section of the configuration may override or extend (new roles without
//! code). Handlers ask by value: `user.require(CorePermission::UsersManage)?`.
//!
//! Each server's permission enum is the one source of truth: its names come
//! from the enum (`#[strum(serialize = "…")]`), the list of permissions it
//! checks is the enum's variants, and its compiled policy is written with
//! enum values, so a misspelt permission does not compile. Only the
//! configuration's overrides are text, and they are checked against the enum
//! at start.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;
use strum::VariantArray;

/// A permission a server checks. Each server has an enum implementing this,
/// deriving `strum::VariantArray` (the list) and `strum::IntoStaticStr` with
/// one `#[strum(serialize = "area.action")]` per variant (the names).
pub trait Permission: Copy + strum::VariantArray + Into<&'static str> + 'static {
    /// Its stable name, as written in policy files (`users.manage`).
    fn name(self) -> &'static str {
        self.into()
    }
}

/// Permissions every server has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray, strum::IntoStaticStr)]
pub enum CorePermission {
    /// Create, list, change and deactivate this server's users.
    #[strum(serialize = "users.manage")]
    UsersManage,
    /// Read this server's audit log.
    #[strum(serialize = "audit.read")]
    AuditRead,
}

impl Permission for CorePermission {}

/// The permission type of a server that checks only the core permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoOwnPermission {}

impl strum::VariantArray for NoOwnPermission {
    const VARIANTS: &'static [Self] = &[];
}

impl From<NoOwnPermission> for &'static str {
    fn from(p: NoOwnPermission) -> Self {
        match p {}
    }
}

impl Permission for NoOwnPermission {}

/// One role of a compiled policy: the core permissions it holds and the
/// server's own.
#[derive(Debug)]
pub struct Role<P: 'static> {
    /// Role name (lower-case letters and `_`).
    pub name: &'static str,
    /// Core permissions (users, audit).
    pub core: &'static [CorePermission],
    /// The server's own permissions.
    pub own: &'static [P],
}

/// A server's compiled policy, with `P` its own
/// permission enum.
#[derive(Debug)]
pub struct Roles<P: 'static>(pub &'static [Role<P>]);

/// A compiled policy with its permission enum erased, so that one `Spec`
/// type serves every server.
pub trait PolicyTable: Sync {
    /// Every permission name the server checks: the core ones and its own.
    fn known(&self) -> Vec<&'static str>;
    /// The compiled roles: name → permission names.
    fn roles(&self) -> Vec<(&'static str, Vec<&'static str>)>;
}

impl<P: Permission + Sync> PolicyTable for Roles<P> {
    fn known(&self) -> Vec<&'static str> {
        CorePermission::VARIANTS
            .iter()
            .map(|p| p.name())
            .chain(P::VARIANTS.iter().map(|p| p.name()))
            .collect()
    }

    fn roles(&self) -> Vec<(&'static str, Vec<&'static str>)> {
        self.0
            .iter()
            .map(|r| {
                let perms = r.core.iter().map(|p| p.name());
                (
                    r.name,
                    perms.chain(r.own.iter().map(|p| p.name())).collect(),
                )
            })
            .collect()
    }
}

/// Role → permissions, resolved once at start-up.
#[derive(Debug, Clone)]
pub struct Policy {
    roles: BTreeMap<String, BTreeSet<String>>,
    admin_role: String,
}

impl Policy {
    /// The compiled `table`, with `overrides` (from the configuration)
    /// replacing or adding roles. Every permission an override names must be
    /// one the server checks.
    pub fn build(
        table: &dyn PolicyTable,
        admin_role: &str,
        overrides: &BTreeMap<String, Vec<String>>,
    ) -> anyhow::Result<Self> {
        let known = table.known();
        let mut roles: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (role, perms) in table.roles() {
            check_role_name(role)?;
            roles.insert(
                role.to_string(),
                perms.iter().map(|p| p.to_string()).collect(),
            );
        }
        for (role, perms) in overrides {
            check_role_name(role)?;
            for p in perms {
                if !known.contains(&p.as_str()) {
                    bail!(
                        "rbac: role `{role}` names unknown permission `{p}` (known: {})",
                        known.join(", ")
                    );
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

    /// The permissions of `role` in name order (none for an unknown role).
    pub fn permissions_of(&self, role: &str) -> Vec<&str> {
        self.roles
            .get(role)
            .map(|p| p.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

fn check_role_name(role: &str) -> anyhow::Result<()> {
    if role.is_empty()
        || role.len() > 64
        || !role.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        bail!("rbac: role names are 1 to 64 lower-case letters and `_`: `{role}`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, strum::VariantArray, strum::IntoStaticStr)]
    enum TestPermission {
        #[strum(serialize = "reports.read")]
        ReportsRead,
    }
    impl Permission for TestPermission {}

    const POLICY: Roles<TestPermission> = Roles(&[
        Role {
            name: "admin",
            core: &[CorePermission::UsersManage, CorePermission::AuditRead],
            own: &[],
        },
        Role {
            name: "analyst",
            core: &[],
            own: &[],
        },
    ]);

    fn overrides(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(r, p)| (r.to_string(), p.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn refusal(o: &[(&str, &[&str])], admin: &str) -> String {
        match Policy::build(&POLICY, admin, &overrides(o)) {
            Ok(_) => panic!("accepted {o:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn names_and_the_known_list_come_from_the_enums() {
        assert_eq!(CorePermission::UsersManage.name(), "users.manage");
        assert_eq!(
            POLICY.known(),
            ["users.manage", "audit.read", "reports.read"]
        );
        assert_eq!(
            POLICY.roles()[0],
            ("admin", vec!["users.manage", "audit.read"])
        );
        let core_only: Roles<NoOwnPermission> = Roles(&[]);
        assert_eq!(core_only.known(), ["users.manage", "audit.read"]);
    }

    #[test]
    fn overrides_replace_and_add_roles() {
        let o = overrides(&[("analyst", &["reports.read"]), ("auditor", &["audit.read"])]);
        let p = Policy::build(&POLICY, "admin", &o).unwrap();
        assert!(p.allows("analyst", "reports.read"));
        assert!(p.allows("auditor", "audit.read"));
        assert!(!p.allows("auditor", "users.manage"));
        assert!(!p.allows("nobody", "audit.read"));
        assert!(p.allows("admin", "users.manage"));
    }

    #[test]
    fn unknown_permissions_are_refused_by_name() {
        let e = refusal(&[("analyst", &["reports.raed"])], "admin");
        assert!(e.contains("unknown permission `reports.raed`"), "{e}");
        assert!(
            e.contains("reports.read"),
            "the known names are listed: {e}"
        );
    }

    #[test]
    fn bad_role_names_are_refused() {
        for bad in ["Analyst", "", "team-lead", &"a".repeat(65)] {
            let e = refusal(&[(bad, &["audit.read"])], "admin");
            assert!(
                e.contains("role names are 1 to 64 lower-case"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn the_admin_role_must_exist() {
        let e = refusal(&[], "root");
        assert!(e.contains("admin role `root` must exist"), "{e}");
    }
}
