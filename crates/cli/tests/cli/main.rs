//! The `bulkhead` CLI driven as a user would: real binaries, real
//! processes, real databases. Needs the server binaries built next to
//! `bulkhead` (`make test` runs `cargo build --bins` first). One test
//! binary with a module per story, so it links once.
//!
//! Every process a test starts is owned by a [`support::ChildGuard`]: it
//! runs in its own process group, and the guard kills the whole group (the
//! servers `bulkhead up` starts included) when the test ends, also when it
//! fails.

// Panicking is how a test reports a broken arrangement.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod certs;
mod certs_public;
mod crash;
mod deploy;
mod keys;
mod online_copy;
mod plane;
mod postgres;
mod release;
mod sandbox;
mod scale_out;
mod servers;
mod support;
mod tenants;
mod up;
mod update;
