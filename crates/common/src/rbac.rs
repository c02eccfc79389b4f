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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use anyhow::bail;
use strum::VariantArray;

use crate::db::{Db, DbConn};
use crate::error::ApiResult;

/// A permission a server checks. Each server has an enum implementing this,
/// deriving `strum::VariantArray` (the list), `strum::IntoStaticStr` with
/// one `#[strum(serialize = "area.action")]` per variant (the names) and
/// `strum::EnumMessage` (each variant's doc comment is its description).
pub trait Permission:
    Copy + strum::VariantArray + Into<&'static str> + strum::EnumMessage + 'static
{
    /// Its stable name, as written in policy files (`users.manage`).
    fn name(self) -> &'static str {
        self.into()
    }

    /// What it allows: the variant's doc comment, on one line.
    fn description(self) -> String {
        self.get_documentation()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Permissions every server has.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray, strum::IntoStaticStr, strum::EnumMessage,
)]
pub enum CorePermission {
    /// Create, list, change and deactivate this server's users.
    #[strum(serialize = "users.manage")]
    UsersManage,
    /// Read this server's audit log.
    #[strum(serialize = "audit.read")]
    AuditRead,
    /// Create, change and delete this server's roles (the roles API).
    #[strum(serialize = "roles.manage")]
    RolesManage,
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

impl strum::EnumMessage for NoOwnPermission {
    fn get_message(&self) -> Option<&'static str> {
        match *self {}
    }
    fn get_detailed_message(&self) -> Option<&'static str> {
        match *self {}
    }
    fn get_documentation(&self) -> Option<&'static str> {
        match *self {}
    }
    fn get_serializations(&self) -> &'static [&'static str] {
        match *self {}
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
    /// Each permission of [`PolicyTable::known`] with its description.
    fn described(&self) -> Vec<(&'static str, String)>;
}

impl<P: Permission + Sync> PolicyTable for Roles<P> {
    fn known(&self) -> Vec<&'static str> {
        CorePermission::VARIANTS
            .iter()
            .map(|p| p.name())
            .chain(P::VARIANTS.iter().map(|p| p.name()))
            .collect()
    }

    fn described(&self) -> Vec<(&'static str, String)> {
        CorePermission::VARIANTS
            .iter()
            .map(|p| (p.name(), p.description()))
            .chain(P::VARIANTS.iter().map(|p| (p.name(), p.description())))
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

/// Role → permissions: the compiled defaults with the configuration's
/// overrides (built once at start-up), or that with one tenant's stored
/// roles laid over it (see [`LivePolicy`]).
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

    /// This policy with `stored` roles (name, permission names) replacing
    /// or adding roles. A stored permission the server no longer checks
    /// (`known`) is dropped, not an error: code may retire a permission.
    pub fn with_stored<'a>(
        &self,
        stored: impl IntoIterator<Item = (&'a str, Vec<&'a str>)>,
        known: &[&'static str],
    ) -> Self {
        let mut next = self.clone();
        for (role, perms) in stored {
            let set = perms
                .into_iter()
                .filter(|p| known.contains(p))
                .map(str::to_string)
                .collect();
            next.roles.insert(role.to_string(), set);
        }
        next
    }
}

/// How long a process trusts its cached copy of a tenant's roles before it
/// asks the database whether they changed (one small indexed read of the
/// tenant's version row). A change made through this process is seen at
/// once; one made through another instance on the same database within
/// this bound.
pub const POLICY_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Clone)]
struct Cached {
    policy: Arc<Policy>,
    version: i64,
    checked: std::time::Instant,
}

/// The policy a request is judged by: the compiled defaults with the
/// configuration's overrides (the fallback) and, per tenant (`""` off
/// hospital), the roles stored through the roles API. Cached in memory per
/// tenant; see [`POLICY_RECHECK`].
pub struct LivePolicy {
    base: Arc<Policy>,
    known: Vec<&'static str>,
    descriptions: HashMap<&'static str, String>,
    recheck: std::time::Duration,
    cache: RwLock<HashMap<String, Cached>>,
}

impl std::fmt::Debug for LivePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivePolicy")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl LivePolicy {
    /// The live policy over `base`, for a server checking `described`
    /// (each permission with its description).
    pub fn new(base: Policy, described: Vec<(&'static str, String)>) -> Self {
        Self {
            base: Arc::new(base),
            known: described.iter().map(|(p, _)| *p).collect(),
            descriptions: described.into_iter().collect(),
            recheck: POLICY_RECHECK,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The defaults: compiled roles with the configuration's overrides.
    pub fn base(&self) -> &Policy {
        &self.base
    }

    /// Every permission name the server checks, core ones first.
    pub fn known(&self) -> &[&'static str] {
        &self.known
    }

    /// What `permission` allows (its doc comment; empty if unknown).
    pub fn description(&self, permission: &str) -> &str {
        self.descriptions
            .get(permission)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The role that administers this server.
    pub fn admin_role(&self) -> &str {
        self.base.admin_role()
    }

    /// Whether `role` is built in (compiled or configured), as opposed to
    /// one created through the API.
    pub fn is_builtin(&self, role: &str) -> bool {
        self.base.has_role(role)
    }

    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Cached>> {
        self.cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_cache(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Cached>> {
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The policy of `tenant` now: the cached copy if checked within the
    /// recheck bound, else the version row is read (and the roles reloaded
    /// if it moved).
    pub async fn current(&self, db: &Db, tenant: &str) -> ApiResult<Arc<Policy>> {
        let cached = self.read_cache().get(tenant).cloned();
        if let Some(c) = &cached {
            if c.checked.elapsed() < self.recheck {
                return Ok(c.policy.clone());
            }
        }
        let t = tenant.to_string();
        let version = db
            .run_quick(move |c| crate::accounts::roles_store::version(c, &t))
            .await?;
        if let Some(c) = cached.filter(|c| c.version == version) {
            let mut cache = self.write_cache();
            if let Some(entry) = cache.get_mut(tenant) {
                if entry.version == version {
                    entry.checked = std::time::Instant::now();
                }
            }
            return Ok(c.policy);
        }
        let (base, known, t) = (self.base.clone(), self.known.clone(), tenant.to_string());
        let (policy, version) = db
            .run(move |c| Self::load_with(&base, &known, c, &t))
            .await?;
        Ok(self.install(tenant, policy, version))
    }

    /// The cached policy of `tenant` without asking the database (the
    /// defaults if this process has not loaded it yet): for work outside a
    /// request, such as the real-time channel's fan-out.
    pub fn cached(&self, tenant: &str) -> Arc<Policy> {
        self.read_cache()
            .get(tenant)
            .map(|c| c.policy.clone())
            .unwrap_or_else(|| self.base.clone())
    }

    /// Read `tenant`'s stored roles and version in the caller's connection
    /// (inside a write, to judge a change against the current state).
    pub fn load(&self, conn: &mut DbConn, tenant: &str) -> ApiResult<(Policy, i64)> {
        Self::load_with(&self.base, &self.known, conn, tenant)
    }

    fn load_with(
        base: &Policy,
        known: &[&'static str],
        conn: &mut DbConn,
        tenant: &str,
    ) -> ApiResult<(Policy, i64)> {
        let version = crate::accounts::roles_store::version(conn, tenant)?;
        let rows = crate::accounts::roles_store::list(conn, tenant)?;
        let policy = base.with_stored(
            rows.iter().map(|r| (r.name.as_str(), r.permission_names())),
            known,
        );
        Ok((policy, version))
    }

    /// Remember `policy` as `tenant`'s at `version` (after a change this
    /// process made, so it applies at once) unless a newer one is cached.
    pub fn install(&self, tenant: &str, policy: Policy, version: i64) -> Arc<Policy> {
        let policy = Arc::new(policy);
        let mut cache = self.write_cache();
        match cache.get(tenant) {
            Some(c) if c.version > version => c.policy.clone(),
            _ => {
                cache.insert(
                    tenant.to_string(),
                    Cached {
                        policy: policy.clone(),
                        version,
                        checked: std::time::Instant::now(),
                    },
                );
                policy
            }
        }
    }
}

/// Whether `role` is a valid role name: 1 to 64 lower-case letters and `_`.
pub fn valid_role_name(role: &str) -> bool {
    !role.is_empty()
        && role.len() <= 64
        && role.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

fn check_role_name(role: &str) -> anyhow::Result<()> {
    if !valid_role_name(role) {
        bail!("rbac: role names are 1 to 64 lower-case letters and `_`: `{role}`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, strum::VariantArray, strum::IntoStaticStr, strum::EnumMessage)]
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
            CorePermission::RolesManage.description(),
            "Create, change and delete this server's roles (the roles API)."
        );
        assert_eq!(POLICY.described()[3], ("reports.read", String::new()));
        assert_eq!(
            POLICY.known(),
            ["users.manage", "audit.read", "roles.manage", "reports.read"]
        );
        assert_eq!(
            POLICY.roles()[0],
            ("admin", vec!["users.manage", "audit.read"])
        );
        let core_only: Roles<NoOwnPermission> = Roles(&[]);
        assert_eq!(
            core_only.known(),
            ["users.manage", "audit.read", "roles.manage"]
        );
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
    fn stored_roles_replace_and_add_and_drop_retired_permissions() {
        let base = Policy::build(&POLICY, "admin", &BTreeMap::new()).unwrap();
        let known = POLICY.known();
        let live = base.with_stored(
            [
                ("analyst", vec!["reports.read", "reports.retired"]),
                ("clerk", vec!["audit.read"]),
            ],
            &known,
        );
        assert!(live.allows("analyst", "reports.read"));
        assert_eq!(live.permissions_of("analyst"), ["reports.read"]);
        assert!(live.allows("clerk", "audit.read"));
        assert!(!base.has_role("clerk"), "the default is untouched");
        assert_eq!(live.admin_role(), "admin");
    }

    #[test]
    fn the_admin_role_must_exist() {
        let e = refusal(&[], "root");
        assert!(e.contains("admin role `root` must exist"), "{e}");
    }
}
