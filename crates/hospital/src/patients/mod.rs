//! Patients: registration, reading, search, update, soft delete, the
//! patient's access log and portal account. PHI is stored encrypted with
//! blind indexes for search; who may see which patient is decided in
//! [`scope`], the one place for it.

pub mod http;
pub mod model;
pub mod pages;
pub mod portal;
pub mod portal_pages;
pub mod scope;
pub mod sealed;
pub mod search;
pub mod store;
pub mod update;
