//! A patient's care team: the clinicians (roles with
//! `patients.read_assigned`) who may open the record.

pub mod http;
pub mod pages;
pub mod store;
