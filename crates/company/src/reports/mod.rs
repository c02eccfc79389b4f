//! De-identified reports from hospitals and the analytics on them (issue
//! 14, items 1 and 2).
//!
//! - `POST /internal/v1/reports` ([`internal`]): a hospital submits a
//!   report ([`contracts::report`]) under its certificate; company stores
//!   the exact bytes once per (tenant, report id) with the certificate's
//!   tenant and the time received, and refuses a report naming another
//!   tenant (403 and a critical `plane.tenant_mismatch` event).
//! - `/reports`, `/analytics/series`, `/analytics/export.csv` ([`http`]):
//!   the analyst (and the admin) list what was received and read weekly
//!   series and totals, per tenant and across tenants. A total that
//!   includes a suppressed cell is given as "at least" the visible sum and
//!   flagged; it is never filled in by subtraction. Nothing here calls a
//!   hospital: only what company holds is read.

pub mod http;
pub mod internal;
pub mod pages;
pub mod scope;
pub mod store;
