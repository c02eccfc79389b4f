//! Referrals: a doctor on a patient's care team refers the patient to
//! another doctor or to a department, with a reason (sealed, clinical). The
//! receiving doctor — for a department referral, any doctor who receives
//! referrals, while it is pending (the schema has no doctor–department
//! membership; see [`scope`]) — accepts, joining the patient's care team,
//! or declines with a reason; the referring doctor cancels while it is
//! pending. Every change is a conditional update on a pending referral, so
//! of two concurrent decisions one wins and the other is 409 CONFLICT.
//! Who may see and change which referral is decided in [`scope`].

pub mod http;
pub mod model;
pub mod pages;
pub mod scope;
pub mod store;
