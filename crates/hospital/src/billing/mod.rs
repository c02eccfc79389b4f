//! Billing: an accountant invoices a patient for a period. The charges are
//! derived from what happened — completed appointments, the tests of
//! finalized lab orders, dispenses, the bed days of discharged admissions —
//! priced
//! from the configured price list ([`price_list`], `[billing]`), each event
//! billed at most once (a unique index on the live lines). Payments are
//! recorded against an invoice, never beyond its balance; an invoice
//! without payments may be voided, which releases its events. The
//! accountant sees amounts and what was billed (price-list codes and
//! descriptions), never clinical content. Who sees which invoice is
//! decided in [`scope`].

pub mod http;
pub mod model;
pub mod pages;
pub mod price_list;
pub mod scope;
pub mod store;
