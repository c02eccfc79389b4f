//! What the clinical authorization matrices share (appointments, notes,
//! prescriptions): the eleven kinds of caller, the expected answer of a
//! cell, and the envelope code of a refusal.

/// Who calls: each hospital role, on and off the patient's care team where
/// that matters, a patient on their own record or another's, and no token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::VariantArray)]
pub enum Caller {
    Admin,
    DoctorOnTeam,
    DoctorOffTeam,
    NurseOnTeam,
    NurseOffTeam,
    Reception,
    Lab,
    Pharmacist,
    PatientOwn,
    PatientOther,
    NoToken,
}

/// The matrix's columns, in order.
pub const CALLERS: [Caller; 11] = [
    Caller::Admin,
    Caller::DoctorOnTeam,
    Caller::DoctorOffTeam,
    Caller::NurseOnTeam,
    Caller::NurseOffTeam,
    Caller::Reception,
    Caller::Lab,
    Caller::Pharmacist,
    Caller::PatientOwn,
    Caller::PatientOther,
    Caller::NoToken,
];

/// What a cell expects: a status, or a list that shows (or hides) the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Status(u16),
    Lists,
    Hides,
}

pub const OK: Want = Want::Status(200);
pub const NEW: Want = Want::Status(201);
pub const ANON: Want = Want::Status(401);
pub const DENY: Want = Want::Status(403);
pub const GONE: Want = Want::Status(404);
pub const LIST: Want = Want::Lists;
pub const HIDE: Want = Want::Hides;

/// The envelope code of a refusal's status.
pub fn code_for(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        409 => "CONFLICT",
        other => panic!("no envelope code for {other} in the matrix"),
    }
}
