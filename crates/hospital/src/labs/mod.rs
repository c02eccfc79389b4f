//! Lab orders: a doctor on the care team orders tests; the lab works the
//! tenant's worklist, enters results (per test value, unit, reference range,
//! abnormal flag) and finalizes; a finalized order is never changed again —
//! corrections are amendments that keep the original and record who, when,
//! why and the corrected results. The ordering doctor and the care team see
//! results; the patient sees their own finalized results only. Who may see
//! and change which order is decided in [`scope`].

pub mod http;
pub mod model;
pub mod pages;
pub mod scope;
pub mod store;
