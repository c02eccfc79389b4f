//! Service identities: the SPIFFE-style URI SAN of each certificate,
//! `spiffe://bulkhead/<service>` or `spiffe://bulkhead/hospital/<tenant>`.

use std::fmt;
use std::str::FromStr;

use crate::service::Service;

/// The URI prefix every Bulkhead identity starts with.
pub const SPIFFE_PREFIX: &str = "spiffe://bulkhead/";

/// Who is on the other end of an mTLS connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServiceIdentity {
    /// company-server.
    Company,
    /// dev-server.
    Dev,
    /// owner-server.
    Owner,
    /// A hospital-server, acting for exactly one tenant.
    Hospital {
        /// The tenant (UUID) in its certificate.
        tenant_id: String,
    },
}

impl ServiceIdentity {
    /// The URI SAN.
    pub fn uri(&self) -> String {
        match self {
            Self::Hospital { tenant_id } => format!("{SPIFFE_PREFIX}hospital/{tenant_id}"),
            other => format!("{SPIFFE_PREFIX}{}", other.service().name()),
        }
    }

    /// Which server kind this is.
    pub fn service(&self) -> Service {
        match self {
            Self::Company => Service::Company,
            Self::Dev => Service::Dev,
            Self::Owner => Service::Owner,
            Self::Hospital { .. } => Service::Hospital,
        }
    }

    /// The tenant, for a hospital.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Self::Hospital { tenant_id } => Some(tenant_id),
            _ => None,
        }
    }

    /// The identity of a service; a hospital needs its tenant.
    pub fn for_service(service: Service, tenant_id: Option<&str>) -> Result<Self, String> {
        match (service, tenant_id) {
            (Service::Company, None) => Ok(Self::Company),
            (Service::Dev, None) => Ok(Self::Dev),
            (Service::Owner, None) => Ok(Self::Owner),
            (Service::Hospital, Some(t)) => {
                uuid::Uuid::parse_str(t).map_err(|_| format!("tenant `{t}` is not a UUID"))?;
                Ok(Self::Hospital {
                    tenant_id: t.to_ascii_lowercase(),
                })
            }
            (Service::Hospital, None) => Err("a hospital identity needs a tenant".into()),
            (s, Some(_)) => Err(format!("{s} identities have no tenant")),
        }
    }

    /// A short file-name-safe label: `company`, `hospital-<tenant>`.
    pub fn label(&self) -> String {
        match self {
            Self::Hospital { tenant_id } => format!("hospital-{tenant_id}"),
            other => other.service().name().to_string(),
        }
    }
}

impl fmt::Display for ServiceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri())
    }
}

impl FromStr for ServiceIdentity {
    type Err = String;

    /// Parse a URI SAN; anything not exactly one of the shapes is refused.
    fn from_str(uri: &str) -> Result<Self, Self::Err> {
        let rest = uri
            .strip_prefix(SPIFFE_PREFIX)
            .ok_or_else(|| format!("not a Bulkhead identity: {uri}"))?;
        match rest.split('/').collect::<Vec<_>>().as_slice() {
            ["company"] => Ok(Self::Company),
            ["dev"] => Ok(Self::Dev),
            ["owner"] => Ok(Self::Owner),
            ["hospital", tenant] => Self::for_service(Service::Hospital, Some(tenant)),
            _ => Err(format!("unknown Bulkhead identity: {uri}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for id in [
            ServiceIdentity::Company,
            ServiceIdentity::Dev,
            ServiceIdentity::Owner,
            ServiceIdentity::Hospital {
                tenant_id: "00000000-0000-4000-8000-000000000001".into(),
            },
        ] {
            assert_eq!(id.uri().parse::<ServiceIdentity>().unwrap(), id);
        }
    }

    #[test]
    fn refuses_lookalikes() {
        for bad in [
            "spiffe://bulkhead/hospital",
            "spiffe://bulkhead/hospital/not-a-uuid",
            "spiffe://bulkhead/company/extra",
            "spiffe://other/company",
            "https://bulkhead/company",
            "spiffe://bulkhead/root",
        ] {
            assert!(bad.parse::<ServiceIdentity>().is_err(), "{bad}");
        }
    }
}
