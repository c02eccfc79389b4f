//! The internal plane as servers need it: service identities, trust (the CA
//! and its watched CRL), the mTLS server configuration, the peer identity
//! of a connection, the outbound client that checks whom it reached, and
//! the alarms all of these raise. Issuing certificates is the `pki` crate's
//! job, not the servers'.

pub mod alarm;
pub mod certs;
pub mod client;
pub mod crl;
pub mod expected;
pub mod identity;
pub mod peer;
pub mod tls;

pub use identity::ServiceIdentity;
pub use peer::{internal_resource, Allowed, PeerFingerprint, PeerIdentity};
pub use tls::Trust;
