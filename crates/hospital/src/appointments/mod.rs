//! Appointments: booking a patient with a doctor in a department at a
//! slot of the doctor's working hours, and the visit's life (check-in,
//! completion, cancellation, no-show, reschedule). Overlaps are refused by
//! the database itself (`appointment_granules`, see [`store::hold`]); who
//! may see and change which appointment is decided in [`scope`].

pub mod availability;
pub mod http;
pub mod model;
pub mod pages;
pub mod schedule_http;
pub mod scope;
pub mod store;
