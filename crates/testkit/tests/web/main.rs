//! The web interface over HTTP (no browser): sessions, cookie flags, CSRF,
//! the Content-Security-Policy, and that pages share the API's rules and
//! audit rows. `tests/browser` drives the same pages in Chromium.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;
mod company_releases;
mod company_system;
mod dev_pages;
mod hospital_appointments;
mod hospital_billing;
mod hospital_files;
mod hospital_labs;
mod hospital_messages;
mod hospital_notes;
mod hospital_pages;
mod hospital_prescriptions;
mod hospital_referrals;
mod hospital_wards;
mod kernel_pages;
mod mfa;
mod owner_pages;
mod reports;
mod roles_teams;
mod sessions;
