//! Rooms, beds and admissions. The admin manages rooms (name, type, in a
//! department) and their beds; reception and the admin admit any patient
//! to a free bed and transfer them, a doctor those on their care team; a
//! doctor on the care team discharges with a discharge summary, which is a
//! signed clinical note of type `discharge_summary` written through the
//! notes module. Never two patients in one bed and never one patient in two
//! beds: the database enforces both (partial unique indexes over the active
//! admissions). The occupancy counts carry no PHI. Who may see and change
//! what is decided in [`scope`].

pub mod http;
pub mod model;
pub mod pages;
pub mod scope;
pub mod store;
