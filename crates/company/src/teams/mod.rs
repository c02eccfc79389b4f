//! Teams of company users (issue 14, item 3): an admin manages every team
//! (create, rename, delete, set the lead, members); a team lead adds and
//! removes members of the teams they lead. Membership will decide
//! deployment approvals later.

pub mod http;
pub mod pages;
pub mod scope;
pub mod store;
