//! The four Bulkhead services and the facts every crate needs about them.

use std::fmt;
use std::str::FromStr;

/// One of the four servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// hospital-server: one tenant's PHI.
    Hospital,
    /// company-server: de-identified reports, releases, security events.
    Company,
    /// dev-server: signed builds and synthetic data.
    Dev,
    /// owner-server: tenants, plans, health, encrypted backups.
    Owner,
}

impl Service {
    /// All services, in start-up order.
    pub const ALL: [Service; 4] = [
        Service::Company,
        Service::Dev,
        Service::Owner,
        Service::Hospital,
    ];

    /// Lower-case name: `hospital`, `company`, `dev`, `owner`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hospital => "hospital",
            Self::Company => "company",
            Self::Dev => "dev",
            Self::Owner => "owner",
        }
    }

    /// Prefix of this service's environment variables (`HOSPITAL__…`).
    pub fn env_prefix(self) -> &'static str {
        match self {
            Self::Hospital => "HOSPITAL",
            Self::Company => "COMPANY",
            Self::Dev => "DEV",
            Self::Owner => "OWNER",
        }
    }

    /// The public port of the design (3001, 3002, 3003, 4001).
    pub fn default_port(self) -> u16 {
        match self {
            Self::Hospital => 3001,
            Self::Company => 3002,
            Self::Dev => 3003,
            Self::Owner => 4001,
        }
    }

    /// Prefix of the users' API on the public listener.
    pub fn api_prefix(self) -> &'static str {
        match self {
            Self::Hospital => "/api/v1/tenant",
            Self::Company => "/api/v1/company",
            Self::Dev => "/api/v1/dev",
            Self::Owner => "/api/v1/owner",
        }
    }

    /// The JWT issuer and audience of this server's tokens.
    pub fn token_issuer(self) -> String {
        format!("bulkhead-{}", self.name())
    }

    /// The roles that must use a second factor unless `auth.mfa_required_roles`
    /// says otherwise: every admin role, and company's team lead and
    /// production (they approve and ship releases). Demo mode defaults to
    /// none (the demo accounts have no authenticator).
    pub fn default_mfa_roles(self) -> &'static [&'static str] {
        match self {
            Self::Hospital | Self::Dev => &["admin"],
            Self::Company => &["admin", "team_lead", "production"],
            Self::Owner => &["owner"],
        }
    }

    /// Whether this server's users belong to a tenant.
    pub fn is_tenanted(self) -> bool {
        matches!(self, Self::Hospital)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Service {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hospital" => Ok(Self::Hospital),
            "company" => Ok(Self::Company),
            "dev" => Ok(Self::Dev),
            "owner" => Ok(Self::Owner),
            other => Err(format!(
                "unknown service `{other}` (hospital, company, dev, owner)"
            )),
        }
    }
}
