//! Every API test of Bulkhead, in one binary so it links once. Each test
//! starts its own servers (port 0, fresh database) through the testkit;
//! `BULKHEAD_TEST_PG_URL` runs the same tests on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod anchors;
mod audit;
mod auth;
mod chain;
mod clinical_matrix;
mod company_releases;
mod company_system;
mod company_teams;
mod config;
mod dev_config;
mod dev_releases;
mod dev_sandbox;
mod envelope;
mod fuzz;
mod group_commit;
mod health;
mod hospital_access_log;
mod hospital_admissions;
mod hospital_admissions_matrix;
mod hospital_appointments;
mod hospital_appointments_matrix;
mod hospital_backup;
mod hospital_billing;
mod hospital_billing_matrix;
mod hospital_break_glass;
mod hospital_care_team;
mod hospital_departments;
mod hospital_files;
mod hospital_files_matrix;
mod hospital_insurance;
mod hospital_labs;
mod hospital_labs_matrix;
mod hospital_matrix;
mod hospital_notes;
mod hospital_notes_matrix;
mod hospital_patients;
mod hospital_phi;
mod hospital_prescriptions;
mod hospital_prescriptions_matrix;
mod hospital_referrals;
mod hospital_referrals_matrix;
mod hospital_roles;
mod hospital_tenants;
mod hospital_updates;
mod hospital_validation;
mod hosted_plane;
mod key_rotation;
mod lockout;
mod mfa;
mod online_copy;
mod openapi;
mod owner_backups;
mod owner_files_health;
mod owner_tenants;
mod plane;
mod plane_findings;
mod portal_enrolment;
mod proxies;
mod public_tls;
mod ratelimit;
mod rbac;
mod realtime;
mod reports;
mod roles;
mod sessions;
mod tenancy;
mod tokens;
mod user_input;
mod users;

use testkit::TestApp;

/// A role of `app` other than its admin role, if it has one (owner has none).
pub fn ordinary_role(app: &TestApp) -> Option<&'static str> {
    let spec = app.spec();
    spec.roles()
        .into_iter()
        .find(|role| *role != spec.admin_role)
}

/// A failure envelope's error without its correlation id: what must be the
/// same for failures that must not be told apart.
pub fn answer(body: &serde_json::Value) -> serde_json::Value {
    let mut error = body["error"].clone();
    if let Some(e) = error.as_object_mut() {
        e.remove("correlation_id");
    }
    error
}

/// The error code of a failure envelope.
pub fn code(body: &serde_json::Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}
