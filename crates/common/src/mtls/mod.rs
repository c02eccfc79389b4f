//! The internal plane: certificates, service identities, the mTLS server
//! configuration, the peer identity of a connection and the outbound client.

pub mod certs;
pub mod client;
pub mod identity;
pub mod peer;
pub mod tls;

pub use identity::ServiceIdentity;
pub use peer::{internal_resource, Allowed, PeerIdentity};
