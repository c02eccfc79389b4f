//! The invoice's types and the validation of what clients send.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};

macro_rules! stored_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(
            utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize,
            strum::IntoStaticStr, strum::EnumString,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),* }

        impl $name {
            /// The stored name.
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }
    };
}

stored_enum! {
    /// What an invoice line bills.
    SourceKind {
        /// A completed appointment (by type).
        Appointment,
        /// One test of a finalized lab order.
        LabTest,
        /// One dispense of a prescription.
        Dispense,
        /// The bed days of a discharged admission, priced at
        /// `billing.bed_day`.
        Admission,
    }
}

stored_enum! {
    /// Where an invoice stands: `issued → partially_paid → paid`;
    /// `issued → void` (only without payments).
    InvoiceStatus {
        /// Nothing paid yet.
        Issued,
        /// Some of it paid.
        PartiallyPaid,
        /// Paid in full.
        Paid,
        /// Voided: its events may be billed again.
        Void,
    }
}

stored_enum! {
    /// How a payment was made.
    PaymentMethod {
        /// Cash.
        Cash,
        /// Card.
        Card,
        /// Bank transfer.
        BankTransfer,
        /// Paid by an insurer.
        Insurance,
        /// Anything else.
        Other,
    }
}

impl InvoiceStatus {
    /// The status of a live invoice of `total` with `paid` paid.
    pub fn of(total: i64, paid: i64) -> Self {
        if paid <= 0 {
            Self::Issued
        } else if paid < total {
            Self::PartiallyPaid
        } else {
            Self::Paid
        }
    }
}

/// One line of an invoice: what was billed, never clinical content.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct InvoiceLineView {
    /// The price list's item code.
    pub item_code: String,
    /// The price list's description ("Consultation", "Lab test CBC", "Dispensing").
    pub description: String,
    /// What kind of event it bills.
    pub source_kind: SourceKind,
    /// The event's id (appointment, `<lab order>/<test's place in the order, from 1>`, dispense).
    pub source_id: String,
    /// When the event happened (UTC).
    pub service_at: DateTime<Utc>,
    /// How many.
    pub quantity: i64,
    /// The price of one (minor units).
    pub unit_price: i64,
    /// `quantity × unit_price` (minor units).
    pub amount: i64,
}

/// A payment as a caller sees it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct InvoicePaymentView {
    /// UUID.
    pub id: String,
    /// Minor units.
    pub amount: i64,
    /// How.
    pub method: PaymentMethod,
    /// The payment's reference (a receipt or transfer number), if any.
    pub reference: Option<String>,
    /// Who recorded it.
    pub recorded_by: String,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

/// An invoice as a caller sees it: amounts and what was billed; of the
/// patient, their id and name only.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct InvoiceView {
    /// UUID.
    pub id: String,
    /// The patient.
    pub patient_id: String,
    /// The patient's name ("First Last").
    pub patient_name: String,
    /// First day billed (the hospital's time zone).
    pub period_from: String,
    /// Last day billed (inclusive).
    pub period_to: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Where it stands.
    pub status: InvoiceStatus,
    /// Sum of the lines (minor units).
    pub total: i64,
    /// Sum of the payments (minor units).
    pub paid: i64,
    /// `total − paid` (0 once void).
    pub balance: i64,
    /// The lines, by service time.
    pub lines: Vec<InvoiceLineView>,
    /// The payments, oldest first.
    pub payments: Vec<InvoicePaymentView>,
    /// Why it was voided.
    pub void_reason: Option<String>,
    /// Who voided it.
    pub voided_by: Option<String>,
    /// When.
    pub voided_at: Option<DateTime<Utc>>,
    /// Who issued it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The longest period one invoice covers (days).
pub const MAX_PERIOD_DAYS: i64 = 366;

/// The largest payment (minor units).
pub const MAX_PAYMENT: i64 = 1_000_000_000_000;

/// A `YYYY-MM-DD` date.
pub fn check_date(field: &str, value: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::field(field, "must be a date as YYYY-MM-DD"))
}

/// A period: `from` ≤ `to`, at most [`MAX_PERIOD_DAYS`] days.
pub fn check_period(from: &str, to: &str) -> ApiResult<(NaiveDate, NaiveDate)> {
    let from = check_date("period_from", from)?;
    let to = check_date("period_to", to)?;
    if to < from {
        return Err(ApiError::field(
            "period_to",
            "must not be before period_from",
        ));
    }
    if (to - from).num_days() + 1 > MAX_PERIOD_DAYS {
        return Err(ApiError::field(
            "period_to",
            format!("a period covers at most {MAX_PERIOD_DAYS} days"),
        ));
    }
    Ok((from, to))
}

/// The UTC instants `[start, end)` of the days `from..=to` in `tz`.
pub fn period_bounds(
    tz: chrono_tz::Tz,
    from: NaiveDate,
    to: NaiveDate,
) -> (NaiveDateTime, NaiveDateTime) {
    let midnight = |d: NaiveDate| {
        let local = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        tz.from_local_datetime(&local)
            .earliest()
            .map(|t| t.naive_utc())
            .unwrap_or(local)
    };
    let end = to.succ_opt().unwrap_or(to);
    (midnight(from), midnight(end))
}

/// A payment's amount: positive, at most [`MAX_PAYMENT`].
pub fn check_amount(amount: i64) -> ApiResult<i64> {
    if amount <= 0 || amount > MAX_PAYMENT {
        return Err(ApiError::field(
            "amount",
            format!("must be a positive amount in minor units, at most {MAX_PAYMENT}"),
        ));
    }
    Ok(amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_ordered_bounded_dates() {
        assert!(check_period("2026-01-01", "2026-01-31").is_ok());
        assert!(check_period("2026-01-31", "2026-01-01").is_err());
        assert!(check_period("2026-1-1x", "2026-01-31").is_err());
        assert!(check_period("2025-01-01", "2026-12-31").is_err());
        let (s, e) = period_bounds(
            chrono_tz::Europe::Paris,
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        );
        assert_eq!(s.to_string(), "2025-12-31 23:00:00");
        assert_eq!(e.to_string(), "2026-01-01 23:00:00");
        assert_eq!(InvoiceStatus::of(10, 0), InvoiceStatus::Issued);
        assert_eq!(InvoiceStatus::of(10, 4), InvoiceStatus::PartiallyPaid);
        assert_eq!(InvoiceStatus::of(10, 10), InvoiceStatus::Paid);
        assert!(check_amount(0).is_err());
    }
}
