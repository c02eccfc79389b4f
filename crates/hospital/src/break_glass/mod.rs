//! Break-the-glass: a clinician outside the care team opens one patient's
//! record for a limited time, with a reason. Audited at critical severity,
//! raised as a security event for company, listed for the admin's review.

pub mod http;
pub mod pages;
pub mod store;
