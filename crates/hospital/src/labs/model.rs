//! The lab order's types and the validation of what clients send.

use chrono::{DateTime, Utc};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};

use crate::appointments::model::check_text;

/// Where a lab order stands: `ordered → in_progress → finalized`;
/// `ordered → cancelled` (by the ordering doctor, before any result).
#[derive(
    utoipa::ToSchema,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum LabOrderStatus {
    /// Ordered, no result yet.
    Ordered,
    /// Some results entered, not yet finalized.
    InProgress,
    /// Finalized: fixed; corrected only by amendments.
    Finalized,
    /// Cancelled by the ordering doctor.
    Cancelled,
}

impl LabOrderStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the lab may still enter results and finalize.
    pub fn open(self) -> bool {
        matches!(self, Self::Ordered | Self::InProgress)
    }
}

/// How soon the lab should work an order.
#[derive(
    utoipa::ToSchema,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum LabPriority {
    /// In the day's order.
    Routine,
    /// Before routine orders.
    Urgent,
    /// Immediately.
    Stat,
}

impl LabPriority {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What an order asks for: lab tests (worked by the lab) or imaging
/// studies (worked by the radiologist). One order, one kind; the rules are
/// the same, only who works the worklist differs (`labs.*` or `imaging.*`).
#[derive(
    utoipa::ToSchema,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum LabOrderKind {
    /// Laboratory tests (blood count, HbA1c, …).
    Lab,
    /// Imaging studies (X-ray, CT, MRI, ultrasound, …).
    Imaging,
}

impl LabOrderKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A result's abnormal flag.
#[derive(
    utoipa::ToSchema,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum LabFlag {
    /// Within the reference range.
    Normal,
    /// Below the reference range.
    Low,
    /// Above the reference range.
    High,
    /// Critically low.
    CriticalLow,
    /// Critically high.
    CriticalHigh,
    /// Abnormal (a result without a numeric range).
    Abnormal,
}

impl LabFlag {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One test ordered (sealed with the order's other tests).
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabTest {
    /// The test's code (1 to 32 letters, digits, `-`, `_`, `.`), unique in the order.
    #[schema(min_length = 1, max_length = 32)]
    pub code: String,
    /// The test's name (2 to 200 characters).
    #[schema(min_length = 2, max_length = 200)]
    pub name: String,
}

/// One test's result (sealed with the order's other results).
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabResult {
    /// The code of a test of the order.
    #[schema(min_length = 1, max_length = 32)]
    pub code: String,
    /// The value (1 to 200 characters).
    #[schema(min_length = 1, max_length = 200)]
    pub value: String,
    /// The unit (at most 50 characters; empty for none).
    #[serde(default)]
    #[schema(max_length = 50)]
    pub unit: String,
    /// The reference range (at most 100 characters; empty for none).
    #[serde(default)]
    #[schema(max_length = 100)]
    pub reference_range: String,
    /// Normal or how abnormal.
    pub flag: LabFlag,
}

/// The most tests in one order.
pub const MAX_TESTS: usize = 20;

/// A test code: 1 to 32 of letters, digits, `-`, `_`, `.`.
pub fn check_code(field: &str, code: &str) -> ApiResult<String> {
    let c = code.trim();
    if c.is_empty()
        || c.len() > 32
        || !c
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
    {
        return Err(ApiError::field(
            field,
            "must be 1 to 32 letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(c.to_string())
}

/// An order's tests, checked: 1 to 20, codes unique.
pub fn tests(tests: &[LabTest]) -> ApiResult<Vec<LabTest>> {
    if tests.is_empty() || tests.len() > MAX_TESTS {
        return Err(ApiError::field(
            "tests",
            format!("must list 1 to {MAX_TESTS} tests"),
        ));
    }
    let mut out: Vec<LabTest> = Vec::with_capacity(tests.len());
    for (i, t) in tests.iter().enumerate() {
        let code = check_code(&format!("tests[{i}].code"), &t.code)?;
        if out.iter().any(|o| o.code.eq_ignore_ascii_case(&code)) {
            return Err(ApiError::field(
                &format!("tests[{i}].code"),
                "is listed twice",
            ));
        }
        let name = check_text(&format!("tests[{i}].name"), &t.name, 2, 200)?;
        out.push(LabTest { code, name });
    }
    Ok(out)
}

/// Results sent for an order's `tests`, checked: 1 to 20, each the code of
/// one of them, none twice.
pub fn results(results: &[LabResult], tests: &[LabTest]) -> ApiResult<Vec<LabResult>> {
    if results.is_empty() || results.len() > MAX_TESTS {
        return Err(ApiError::field(
            "results",
            format!("must list 1 to {MAX_TESTS} results"),
        ));
    }
    let mut out: Vec<LabResult> = Vec::with_capacity(results.len());
    for (i, r) in results.iter().enumerate() {
        let field = |name: &str| format!("results[{i}].{name}");
        let code = check_code(&field("code"), &r.code)?;
        let Some(test) = tests.iter().find(|t| t.code.eq_ignore_ascii_case(&code)) else {
            return Err(ApiError::field(
                &field("code"),
                "is not a test of this order",
            ));
        };
        if out.iter().any(|o| o.code == test.code) {
            return Err(ApiError::field(&field("code"), "is listed twice"));
        }
        let optional = |name: &str, v: &str, max: usize| -> ApiResult<String> {
            if v.trim().is_empty() {
                Ok(String::new())
            } else {
                check_text(&field(name), v, 1, max)
            }
        };
        out.push(LabResult {
            code: test.code.clone(),
            value: check_text(&field("value"), &r.value, 1, 200)?,
            unit: optional("unit", &r.unit, 50)?,
            reference_range: optional("reference_range", &r.reference_range, 100)?,
            flag: r.flag,
        });
    }
    Ok(out)
}

/// `entered` with `fresh` laid over it (a test's newer result replaces its
/// older one), in the order of `tests`.
pub fn merge(tests: &[LabTest], entered: &[LabResult], fresh: &[LabResult]) -> Vec<LabResult> {
    tests
        .iter()
        .filter_map(|t| {
            fresh
                .iter()
                .find(|r| r.code == t.code)
                .or_else(|| entered.iter().find(|r| r.code == t.code))
                .cloned()
        })
        .collect()
}

/// The codes of `tests` that have no result in `results`.
pub fn missing(tests: &[LabTest], results: &[LabResult]) -> Vec<String> {
    tests
        .iter()
        .filter(|t| !results.iter().any(|r| r.code == t.code))
        .map(|t| t.code.clone())
        .collect()
}

/// An amendment as a caller sees it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct LabAmendmentView {
    /// UUID.
    pub id: String,
    /// Who amended.
    pub amended_by: String,
    /// Why.
    pub reason: String,
    /// The whole corrected results.
    pub results: Vec<LabResult>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A lab order as a caller sees it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct LabOrderView {
    /// UUID.
    pub id: String,
    /// The patient.
    pub patient_id: String,
    /// The ordering doctor.
    pub ordered_by: String,
    /// Lab tests or imaging studies.
    pub kind: LabOrderKind,
    /// How soon.
    pub priority: LabPriority,
    /// Where it stands.
    pub status: LabOrderStatus,
    /// The tests ordered.
    pub tests: Vec<LabTest>,
    /// Notes for the lab.
    pub notes: Option<String>,
    /// The current results: the latest amendment's, else those entered
    /// (preliminary until `status` is finalized).
    pub results: Vec<LabResult>,
    /// The results as finalized (or entered so far), never changed by an amendment.
    pub original_results: Vec<LabResult>,
    /// Each amendment, oldest first.
    pub amendments: Vec<LabAmendmentView>,
    /// Who finalized.
    pub finalized_by: Option<String>,
    /// When.
    pub finalized_at: Option<DateTime<Utc>>,
    /// Ordered at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The SHA-256 (hex) of results as they are sealed (their JSON, fields in
/// declaration order): the audit rows of a finalization and of an
/// amendment record it, so the log pins the values it refers to without
/// naming them.
pub fn results_hash(results: &[LabResult]) -> common::ApiResult<String> {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_string(results)
        .map_err(|e| common::ApiError::Internal(anyhow::anyhow!(e)))?;
    Ok(hex::encode(Sha256::digest(json.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(code: &str) -> LabTest {
        LabTest {
            code: code.into(),
            name: format!("Test {code}"),
        }
    }

    fn r(code: &str, value: &str) -> LabResult {
        LabResult {
            code: code.into(),
            value: value.into(),
            unit: String::new(),
            reference_range: String::new(),
            flag: LabFlag::Normal,
        }
    }

    #[test]
    fn tests_are_one_to_twenty_with_unique_codes() {
        assert!(tests(&[]).is_err());
        assert!(tests(&[t("CBC"), t("cbc")]).is_err());
        assert!(tests(&[t("bad code")]).is_err());
        assert_eq!(tests(&[t(" CBC ")]).unwrap()[0].code, "CBC");
        let many: Vec<_> = (0..21).map(|i| t(&format!("T{i}"))).collect();
        assert!(tests(&many).is_err());
    }

    #[test]
    fn results_name_tests_of_the_order_once_and_merge_over_earlier_ones() {
        let order = [t("CBC"), t("K")];
        assert!(results(&[r("NA", "1")], &order).is_err());
        assert!(results(&[r("K", "1"), r("k", "2")], &order).is_err());
        assert!(results(&[r("K", "")], &order).is_err());
        let first = results(&[r("k", "4.1")], &order).unwrap();
        assert_eq!(first[0].code, "K");
        assert_eq!(missing(&order, &first), vec!["CBC".to_string()]);
        let second = results(&[r("K", "4.5"), r("CBC", "ok")], &order).unwrap();
        let all = merge(&order, &first, &second);
        assert_eq!(all, vec![r("CBC", "ok"), r("K", "4.5")]);
        assert!(missing(&order, &all).is_empty());
    }
}
