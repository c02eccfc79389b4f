//! A release's manifest, its canonical form and its Ed25519 signature:
//! the wire format lives in `contracts::release` (dev, company, hospitals
//! and `bulkhead release` all verify with it); re-exported here.

pub use contracts::release::*;
