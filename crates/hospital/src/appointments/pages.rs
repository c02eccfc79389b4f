//! Appointment pages (filled in below).
