//! Messages between users and live notifications (issue 13 item 3).
//!
//! - `POST …/messages`: to a staff member (`to: {user: <id>}`) or to the
//!   care team of a patient the sender may see (`to: {care_team: <patient
//!   id>}`); a patient (portal) may write to their own care team only. One
//!   row per recipient, the body sealed like PHI, delivered live through
//!   the real-time hub to recipients that are connected.
//! - `GET …/messages`: the caller's inbox, newest first, paginated; every
//!   message listed is recorded as read in the audit log before it is
//!   answered.
//! - [`notify`]: notifications pushed after a write commits, only to users
//!   the API would show the same facts (added to a care team; a
//!   break-the-glass on a patient of one's care team; a new appointment
//!   with one as doctor, or of one's own record).

pub mod http;
pub mod notify;
pub mod pages;
pub mod store;
