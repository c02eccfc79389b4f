//! Prescriptions: a doctor on the care team prescribes (after
//! acknowledging any of the patient's recorded allergies the medication
//! matches); a pharmacist works the tenant's queue, dispensing in parts up
//! to quantity × (1 + refills) — the database refuses more, also between
//! concurrent dispenses — or rejecting with a reason; the patient sees
//! their own. Who may see and change which prescription is decided in
//! [`scope`].

pub mod http;
pub mod model;
pub mod pages;
pub mod scope;
pub mod store;
