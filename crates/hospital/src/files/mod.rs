//! Patient files: the folder hierarchy of the original design — per medical
//! module a doctor's workspace (`documents`, `reports`, `images`, `temp`,
//! `archive`), in it a folder per patient the doctor takes on
//! (`medical_records`, `lab_results`, `imaging`, `prescriptions`,
//! `treatment_plans`, `progress_notes`, `discharge_summaries`,
//! `consent_forms`) — kept in the database, and the bytes in an object store
//! (local disk or S3, `common::objects`): streamed both ways, encrypted in
//! chunks before they leave the process, stored once per tenant and content.
//! Types are checked on the content's magic bytes ([`sniff`]), sizes and
//! retention per module and category come from `[files]` ([`rules`]), who
//! may do what is decided in [`scope`], and [`retention`] archives and
//! purges.

pub mod holds_http;
pub mod http;
pub mod pages;
pub mod retention;
pub mod rules;
pub mod scope;
pub mod sniff;
pub mod spaces_http;
pub mod store;
pub mod transfer_http;
