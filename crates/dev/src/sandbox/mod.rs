//! The synthetic sandbox (issue 15, item 6): dev's "development database
//! access" and "isolated testing environment". A seeded generator fills
//! dev's own tables with synthetic hospitals, staff, patients and clinical
//! records ([`generate`]); developers read them through a read-only API
//! with filters, paging and a streamed export, and reset them from a seed.
//! `bulkhead sandbox seed --patients 10000` fills it for load tests.
//!
//! Nothing here comes from, or can reach, a hospital: the rows are made
//! from the generator's invented lists, every id and MRN starts with
//! `SYN-` (a CHECK on every table), and dev has no client to any hospital
//! (the plane's call graph, docs/security.md).

pub mod generate;
pub mod http;
pub mod pages;
pub mod scope;
pub mod store;

use common::ApiError;

use generate::{Plan, MAX_HOSPITALS};

/// At most this many patients by the API (the CLI takes more).
pub const MAX_API_PATIENTS: u32 = 5_000;
/// At most this many patients by the CLI.
pub const MAX_CLI_PATIENTS: u32 = 1_000_000;

/// A plan checked against the limits: 1 to [`MAX_HOSPITALS`] hospitals,
/// 0 to `max_patients` patients.
pub fn plan(seed: u64, hospitals: u32, patients: u32, max_patients: u32) -> Result<Plan, ApiError> {
    if !(1..=MAX_HOSPITALS).contains(&hospitals) {
        return Err(ApiError::field(
            "hospitals",
            format!("must be 1 to {MAX_HOSPITALS}"),
        ));
    }
    if patients > max_patients {
        return Err(ApiError::field(
            "patients",
            format!("must be 0 to {max_patients}"),
        ));
    }
    Ok(Plan {
        seed,
        hospitals,
        patients,
    })
}
