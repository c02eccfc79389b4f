//! What clients send and receive for a patient, and its validation.

use chrono::{NaiveDate, NaiveDateTime};
use common::{ApiError, ApiResult};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

/// Sex as recorded at registration.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Other.
    Other,
    /// Unknown.
    Unknown,
}

impl Sex {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Female => "female",
            Self::Male => "male",
            Self::Other => "other",
            Self::Unknown => "unknown",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Self {
        match s {
            "female" => Self::Female,
            "male" => Self::Male,
            "other" => Self::Other,
            _ => Self::Unknown,
        }
    }
}

/// Phone and e-mail.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Phone.
    #[schema(max_length = 32, pattern = r"^[0-9 +().-]*[0-9+().-][0-9 +().-]*$")]
    pub phone: Option<String>,
    /// E-mail.
    #[schema(
        max_length = 254,
        pattern = r"^[^@\x00-\x1f\x7f-\x9f]+@[^\x00-\x1f\x7f-\x9f]*\.[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub email: Option<String>,
}

/// Postal address.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Street line.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub line1: String,
    /// Second line.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub line2: Option<String>,
    /// City.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub city: String,
    /// State or region.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub region: Option<String>,
    /// Postal code.
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub postal_code: Option<String>,
    /// Country.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub country: String,
}

/// Whom to call.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EmergencyContact {
    /// Name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// Relationship to the patient.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub relationship: Option<String>,
    /// Phone.
    #[schema(
        min_length = 1,
        max_length = 32,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub phone: String,
}

/// Insurance.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Insurance {
    /// Insurer.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub provider: String,
    /// Policy number.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub policy_number: String,
    /// Group number.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub group_number: Option<String>,
}

/// ABO/Rh blood type.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum BloodType {
    /// A+
    #[serde(rename = "A+")]
    APos,
    /// A-
    #[serde(rename = "A-")]
    ANeg,
    /// B+
    #[serde(rename = "B+")]
    BPos,
    /// B-
    #[serde(rename = "B-")]
    BNeg,
    /// AB+
    #[serde(rename = "AB+")]
    AbPos,
    /// AB-
    #[serde(rename = "AB-")]
    AbNeg,
    /// O+
    #[serde(rename = "O+")]
    OPos,
    /// O-
    #[serde(rename = "O-")]
    ONeg,
    /// Not known.
    #[serde(rename = "unknown")]
    Unknown,
}

/// Registration.
#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPatient {
    /// Given name.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub first_name: String,
    /// Family name.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub last_name: String,
    /// YYYY-MM-DD.
    #[schema(format = Date, pattern = r"^\d{4}-\d{2}-\d{2}$")]
    pub date_of_birth: String,
    /// Sex.
    pub sex: Sex,
    /// Contact.
    #[serde(default, deserialize_with = "object")]
    pub contact: Option<Contact>,
    /// Address.
    #[serde(default, deserialize_with = "object")]
    pub address: Option<Address>,
    /// Emergency contact.
    #[serde(default, deserialize_with = "object")]
    pub emergency_contact: Option<EmergencyContact>,
    /// Insurance.
    #[serde(default, deserialize_with = "object")]
    pub insurance: Option<Insurance>,
    /// Known allergies (clinical).
    #[schema(max_items = 50)]
    pub allergies: Option<Vec<String>>,
    /// Blood type (clinical).
    pub blood_type: Option<BloodType>,
}

fn double<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A nested record must be a JSON object: serde would also take an array
/// of its fields in order (`"contact": [null, null]`), which no client
/// means and the API does not document.
fn object<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None => Ok(None),
        Some(v @ serde_json::Value::Object(_)) => T::deserialize(v)
            .map(Some)
            .map_err(serde::de::Error::custom),
        Some(_) => Err(serde::de::Error::custom("expected a JSON object or null")),
    }
}

/// [`object`] for a change, where absent and `null` differ.
fn double_object<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    object(d).map(Some)
}

/// A change: absent fields stay; `null` clears an optional field.
#[derive(utoipa::ToSchema, Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientChanges {
    /// Given name.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub first_name: Option<String>,
    /// Family name.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub last_name: Option<String>,
    /// YYYY-MM-DD.
    #[schema(format = Date, pattern = r"^\d{4}-\d{2}-\d{2}$")]
    pub date_of_birth: Option<String>,
    /// Sex.
    pub sex: Option<Sex>,
    /// Contact.
    #[serde(default, deserialize_with = "double_object")]
    pub contact: Option<Option<Contact>>,
    /// Address.
    #[serde(default, deserialize_with = "double_object")]
    pub address: Option<Option<Address>>,
    /// Emergency contact.
    #[serde(default, deserialize_with = "double_object")]
    pub emergency_contact: Option<Option<EmergencyContact>>,
    /// Insurance.
    #[serde(default, deserialize_with = "double_object")]
    pub insurance: Option<Option<Insurance>>,
    /// Allergies (clinical).
    #[serde(default, deserialize_with = "double")]
    pub allergies: Option<Option<Vec<String>>>,
    /// Blood type (clinical).
    #[serde(default, deserialize_with = "double")]
    pub blood_type: Option<Option<BloodType>>,
}

impl PatientChanges {
    /// Names of the demographic fields it sets.
    pub fn demographic_fields(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (name, set) in [
            ("first_name", self.first_name.is_some()),
            ("last_name", self.last_name.is_some()),
            ("date_of_birth", self.date_of_birth.is_some()),
            ("sex", self.sex.is_some()),
            ("contact", self.contact.is_some()),
            ("address", self.address.is_some()),
            ("emergency_contact", self.emergency_contact.is_some()),
            ("insurance", self.insurance.is_some()),
        ] {
            if set {
                v.push(name);
            }
        }
        v
    }

    /// Names of the clinical fields it sets.
    pub fn clinical_fields(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.allergies.is_some() {
            v.push("allergies");
        }
        if self.blood_type.is_some() {
            v.push("blood_type");
        }
        v
    }
}

/// A patient as a caller may see it. Clinical fields are absent (not
/// decrypted at all) for callers without the clinical view.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct PatientView {
    /// UUID.
    pub id: String,
    /// Medical record number.
    pub mrn: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// YYYY-MM-DD.
    pub date_of_birth: String,
    /// Sex.
    pub sex: Sex,
    /// Contact.
    pub contact: Option<Contact>,
    /// Address.
    pub address: Option<Address>,
    /// Emergency contact.
    pub emergency_contact: Option<EmergencyContact>,
    /// Insurance.
    pub insurance: Option<Insurance>,
    /// Allergies (clinical view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allergies: Option<Vec<String>>,
    /// Blood type (clinical view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blood_type: Option<BloodType>,
    /// The insurer's answer about `insurance` at registration or the latest
    /// booking it answered (`not_checked`: no insurance, no insurer
    /// configured, or the insurance changed since).
    pub insurance_eligibility: crate::insurance::InsuranceEligibility,
    /// When the insurer was asked.
    #[serde(serialize_with = "common::db::stamp::json_opt")]
    pub insurance_checked_at: Option<NaiveDateTime>,
    /// Whether a portal account is linked.
    pub has_portal_account: bool,
    /// Registered.
    #[serde(serialize_with = "common::db::stamp::json")]
    pub created_at: NaiveDateTime,
    /// By (user id).
    pub created_by: String,
    /// Last change.
    #[serde(serialize_with = "common::db::stamp::json")]
    pub updated_at: NaiveDateTime,
    /// By (user id).
    pub updated_by: String,
    /// Soft-deleted (admin only sees these).
    pub deleted: bool,
}

const MAX_NAME: usize = 100;
const MAX_TEXT: usize = 200;

fn text(field: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(ApiError::field(
            field,
            format!("must be 1 to {max} printable characters"),
        ));
    }
    Ok(())
}

fn opt_text(field: &str, v: &Option<String>, max: usize) -> ApiResult<()> {
    match v {
        Some(s) => text(field, s, max),
        None => Ok(()),
    }
}

/// Validate a name.
pub fn check_name(field: &str, v: &str) -> ApiResult<()> {
    text(field, v, MAX_NAME)
}

/// Validate a date of birth: YYYY-MM-DD, from 1900 to today.
pub fn check_dob(v: &str) -> ApiResult<NaiveDate> {
    let d = NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .filter(|_| v.len() == 10)
        .ok_or_else(|| ApiError::field("date_of_birth", "must be a date as YYYY-MM-DD"))?;
    let min = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
    if d < min || d > chrono::Utc::now().date_naive() {
        return Err(ApiError::field(
            "date_of_birth",
            "must be between 1900-01-01 and today",
        ));
    }
    Ok(d)
}

/// Validate contact details.
pub fn check_contact(c: &Contact) -> ApiResult<()> {
    opt_text("contact.phone", &c.phone, 32)?;
    if let Some(p) = &c.phone {
        if !p
            .chars()
            .all(|ch| ch.is_ascii_digit() || " +-().".contains(ch))
        {
            return Err(ApiError::field(
                "contact.phone",
                "may hold only digits, spaces and + - ( ) .",
            ));
        }
    }
    opt_text("contact.email", &c.email, 254)?;
    if let Some(e) = &c.email {
        if !e
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        {
            return Err(ApiError::field(
                "contact.email",
                "is not a valid e-mail address",
            ));
        }
    }
    Ok(())
}

/// Validate an address.
pub fn check_address(a: &Address) -> ApiResult<()> {
    text("address.line1", &a.line1, MAX_TEXT)?;
    opt_text("address.line2", &a.line2, MAX_TEXT)?;
    text("address.city", &a.city, MAX_NAME)?;
    opt_text("address.region", &a.region, MAX_NAME)?;
    opt_text("address.postal_code", &a.postal_code, 20)?;
    text("address.country", &a.country, MAX_NAME)
}

/// Validate an emergency contact.
pub fn check_emergency(e: &EmergencyContact) -> ApiResult<()> {
    text("emergency_contact.name", &e.name, MAX_TEXT)?;
    opt_text("emergency_contact.relationship", &e.relationship, MAX_NAME)?;
    text("emergency_contact.phone", &e.phone, 32)
}

/// Validate insurance.
pub fn check_insurance(i: &Insurance) -> ApiResult<()> {
    text("insurance.provider", &i.provider, MAX_TEXT)?;
    text("insurance.policy_number", &i.policy_number, 64)?;
    opt_text("insurance.group_number", &i.group_number, 64)
}

/// Validate allergies.
pub fn check_allergies(a: &[String]) -> ApiResult<()> {
    if a.len() > 50 {
        return Err(ApiError::field("allergies", "at most 50 entries"));
    }
    for x in a {
        text("allergies", x, MAX_TEXT)?;
    }
    Ok(())
}

impl NewPatient {
    /// Check every field.
    pub fn validate(&self) -> ApiResult<()> {
        check_name("first_name", &self.first_name)?;
        check_name("last_name", &self.last_name)?;
        check_dob(&self.date_of_birth)?;
        if let Some(c) = &self.contact {
            check_contact(c)?;
        }
        if let Some(a) = &self.address {
            check_address(a)?;
        }
        if let Some(e) = &self.emergency_contact {
            check_emergency(e)?;
        }
        if let Some(i) = &self.insurance {
            check_insurance(i)?;
        }
        if let Some(a) = &self.allergies {
            check_allergies(a)?;
        }
        Ok(())
    }
}

impl PatientChanges {
    /// Check every field present.
    pub fn validate(&self) -> ApiResult<()> {
        if let Some(v) = &self.first_name {
            check_name("first_name", v)?;
        }
        if let Some(v) = &self.last_name {
            check_name("last_name", v)?;
        }
        if let Some(v) = &self.date_of_birth {
            check_dob(v)?;
        }
        if let Some(Some(c)) = &self.contact {
            check_contact(c)?;
        }
        if let Some(Some(a)) = &self.address {
            check_address(a)?;
        }
        if let Some(Some(e)) = &self.emergency_contact {
            check_emergency(e)?;
        }
        if let Some(Some(i)) = &self.insurance {
            check_insurance(i)?;
        }
        if let Some(Some(a)) = &self.allergies {
            check_allergies(a)?;
        }
        if self.demographic_fields().is_empty() && self.clinical_fields().is_empty() {
            return Err(ApiError::validation("nothing to change"));
        }
        Ok(())
    }
}
