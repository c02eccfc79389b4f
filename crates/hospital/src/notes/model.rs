//! The note's types and the validation of what clients send.

use chrono::{DateTime, Utc};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::appointments::model::check_text;

/// What kind of note: a SOAP note or a medical report of a type.
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
pub enum NoteType {
    /// Subjective, objective, assessment, plan.
    Soap,
    /// A discharge summary (report).
    DischargeSummary,
    /// A consultation report.
    Consultation,
    /// A procedure report.
    Procedure,
    /// A progress note (report).
    ProgressNote,
}

impl NoteType {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Where a note stands: `draft → signed`, never back.
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
pub enum NoteStatus {
    /// Being written; its author may change it.
    Draft,
    /// Signed; never changed again (amendments only).
    Signed,
}

impl NoteStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A note's content: the four SOAP fields for a SOAP note, a title and a
/// body for a report; the other fields are `null`.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NoteContent {
    /// What the patient reports (SOAP).
    pub subjective: Option<String>,
    /// What was observed and measured (SOAP).
    pub objective: Option<String>,
    /// The clinician's assessment (SOAP).
    pub assessment: Option<String>,
    /// What happens next (SOAP).
    pub plan: Option<String>,
    /// The report's title (reports).
    pub title: Option<String>,
    /// The report's text (reports).
    pub body: Option<String>,
}

impl NoteContent {
    /// The SHA-256 (hex) of the content as stored (its JSON, fields in
    /// declaration order): what a signature and an amendment record.
    pub fn hash(&self) -> ApiResult<String> {
        Ok(hex::encode(Sha256::digest(self.to_json()?.as_bytes())))
    }

    /// The JSON that is sealed and hashed.
    pub fn to_json(&self) -> ApiResult<String> {
        serde_json::to_string(self).map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))
    }
}

/// The content fields as a client sends them (creation, edit, amendment).
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct ContentFields {
    /// SOAP: subjective (at most 10000 characters).
    #[schema(max_length = 10000)]
    pub subjective: Option<String>,
    /// SOAP: objective (at most 10000 characters).
    #[schema(max_length = 10000)]
    pub objective: Option<String>,
    /// SOAP: assessment (at most 10000 characters).
    #[schema(max_length = 10000)]
    pub assessment: Option<String>,
    /// SOAP: plan (at most 10000 characters).
    #[schema(max_length = 10000)]
    pub plan: Option<String>,
    /// Report: title (at most 200 characters).
    #[schema(max_length = 200)]
    pub title: Option<String>,
    /// Report: body (1 to 20000 characters).
    #[schema(max_length = 20000)]
    pub body: Option<String>,
}

/// The longest SOAP field.
pub const MAX_SOAP: usize = 10_000;
/// The longest report body.
pub const MAX_BODY: usize = 20_000;
/// The longest report title.
pub const MAX_TITLE: usize = 200;

fn optional(field: &str, v: &Option<String>, max: usize) -> ApiResult<Option<String>> {
    match v {
        Some(s) if !s.trim().is_empty() => Ok(Some(check_text(field, s, 1, max)?)),
        _ => Ok(None),
    }
}

/// Check `f` for a note of type `kind` and make its content.
pub fn content_for(kind: NoteType, f: &ContentFields) -> ApiResult<NoteContent> {
    let soap_given = [&f.subjective, &f.objective, &f.assessment, &f.plan]
        .iter()
        .any(|v| v.is_some());
    if kind == NoteType::Soap {
        for (field, v) in [("title", &f.title), ("body", &f.body)] {
            if v.is_some() {
                return Err(ApiError::field(
                    field,
                    "a SOAP note has subjective, objective, assessment and plan, not a title or body",
                ));
            }
        }
        let c = NoteContent {
            subjective: optional("subjective", &f.subjective, MAX_SOAP)?,
            objective: optional("objective", &f.objective, MAX_SOAP)?,
            assessment: optional("assessment", &f.assessment, MAX_SOAP)?,
            plan: optional("plan", &f.plan, MAX_SOAP)?,
            title: None,
            body: None,
        };
        if c == NoteContent::default() {
            return Err(ApiError::field(
                "subjective",
                "a SOAP note needs at least one of subjective, objective, assessment, plan",
            ));
        }
        return Ok(c);
    }
    if soap_given {
        return Err(ApiError::field(
            "subjective",
            "a report has a title and a body, not SOAP fields",
        ));
    }
    let body = f
        .body
        .as_deref()
        .ok_or_else(|| ApiError::field("body", "a report needs a body"))?;
    Ok(NoteContent {
        title: optional("title", &f.title, MAX_TITLE)?,
        body: Some(check_text("body", body, 1, MAX_BODY)?),
        ..Default::default()
    })
}

/// One amendment of a signed note.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct NoteAmendmentView {
    /// UUID.
    pub id: String,
    /// Who amended.
    pub author_id: String,
    /// Why (sealed).
    pub reason: String,
    /// The whole corrected content (sealed).
    pub content: NoteContent,
    /// SHA-256 (hex) of `content`.
    pub content_hash: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A note as a caller sees it. `content` is what was written (and signed);
/// `current` is the content after the latest amendment (or `content`).
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct ClinicalNoteView {
    /// UUID.
    pub id: String,
    /// The patient.
    pub patient_id: String,
    /// Who wrote (and signs) it.
    pub author_id: String,
    /// SOAP note or report type.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: NoteType,
    /// Draft or signed.
    pub status: NoteStatus,
    /// The original content.
    pub content: NoteContent,
    /// SHA-256 (hex) of the signed content; `null` for a draft.
    pub content_hash: Option<String>,
    /// When it was signed.
    pub signed_at: Option<DateTime<Utc>>,
    /// Corrections of the signed note, oldest first.
    pub amendments: Vec<NoteAmendmentView>,
    /// The content as last amended.
    pub current: NoteContent,
    /// Written at.
    pub created_at: DateTime<Utc>,
    /// Last change of the draft (or signing).
    pub updated_at: DateTime<Utc>,
}
