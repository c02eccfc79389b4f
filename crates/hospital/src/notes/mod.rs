//! Clinical notes and medical reports: a SOAP note or a report of a type
//! (discharge summary, consultation, procedure, progress note) written by a
//! doctor or nurse on the patient's care team. A draft is edited by its
//! author; signing fixes it for good (its content hash goes into the audit
//! row) and corrections are amendments beside the original. Who may see and
//! change which note is decided in [`scope`].

pub mod http;
pub mod model;
pub mod pages;
pub mod scope;
pub mod store;
