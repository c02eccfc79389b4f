//! Bulkhead's certificate authority, for the CLI (`bulkhead certs …`,
//! `bulkhead up --demo`) and the testkit. Servers never link it: they only
//! load and verify certificates (`common::mtls`), so rcgen stays out of them.
//!
//! Two layers:
//! - [`ca`]: the CA in memory ([`Ca`], [`IssueRequest`], [`Issued`],
//!   [`RevokedSerial`]) with explicit validity periods (tests need expired
//!   certificates) and the key usages each role needs ([`Roles`]);
//! - [`dir`]: the certificates directory (default `./certs`) with its
//!   registers of issued and revoked serials and the CRL.

pub mod ca;
pub mod dir;

pub use ca::{
    Ca, IssueRequest, Issued, IssuedRecord, RevokedSerial, Roles, CRL_VALIDITY_DAYS,
    DEFAULT_CA_NAME,
};
pub use common::mtls::certs::{
    normalize_serial, parse_serials_and_identity, verify_client, verify_server,
};
pub use dir::*;
