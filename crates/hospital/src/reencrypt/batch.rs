//! One batch of re-encryption for one tenant, inside the caller's write
//! transaction (a job of [`common::db::Db::write`], or [`common::db::write_tx`]
//! in the CLI).

use chrono::NaiveDateTime;
use common::audit::{self, Event, Origin};
use common::crypto::Keyring;
use common::db::{now, DbBackend, DbConn};
use common::{ApiError, ApiResult};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use serde_json::json;

use crate::patients::sealed::{Sealer, LEGACY_VERSION};
use crate::patients::store::Row;
use crate::patients::update::SealedColumns;
use crate::schema::{
    appointments, break_glass, clinical_note_amendments, clinical_notes, files, lab_orders,
    lab_result_amendments, legal_holds, messages, patients, prescriptions, reencrypt_progress,
    referrals,
};

/// The largest batch `[reencrypt].batch_size` allows.
pub const MAX_BATCH: i64 = 1000;

/// The audit action of a batch.
pub const ACTION: &str = "keys.reencrypt";

/// Where a tenant's re-encryption stands (`reencrypt_progress`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = reencrypt_progress)]
pub struct Progress {
    /// The tenant.
    pub tenant_id: String,
    /// The target data key (the tenant's active key when the run began).
    pub key_id: String,
    /// The target index key version.
    pub index_version: i32,
    /// The last patient id done in this pass ("" at the start of a pass).
    pub cursor: String,
    /// Rows re-sealed towards this target so far.
    pub resealed: i64,
    /// Whether a whole pass found nothing left to do for this target.
    pub done: bool,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Rows re-sealed in this batch.
    pub resealed: usize,
    /// Break-the-glass reasons encrypted again under the active key.
    pub grants: usize,
    /// Appointments' sealed texts encrypted again under the active key.
    pub appointments: usize,
    /// Clinical notes' and amendments' sealed texts encrypted again.
    pub notes: usize,
    /// Prescriptions' sealed texts encrypted again.
    pub prescriptions: usize,
    /// Lab orders' and amendments' sealed texts encrypted again.
    pub labs: usize,
    /// Message bodies encrypted again under the active key.
    pub messages: usize,
    /// File names and legal holds' reasons encrypted again.
    pub files: usize,
    /// Referrals' reasons and decline reasons encrypted again.
    pub referrals: usize,
    /// Admission reasons encrypted again.
    pub admissions: usize,
    /// Rows changed by someone else meanwhile: looked at again next pass.
    pub retried: usize,
    /// Rows that could not be opened (logged by place, never content):
    /// left as they are, counted in the audit row.
    pub failed: usize,
    /// The tenant has nothing left to re-seal for the current target.
    pub done: bool,
}

/// Every tenant with data keys (the ones that can have sealed rows).
pub fn tenants(conn: &mut DbConn) -> ApiResult<Vec<String>> {
    use common::schema::data_keys;
    Ok(data_keys::table
        .select(data_keys::tenant_id)
        .distinct()
        .order(data_keys::tenant_id.asc())
        .load(conn)?)
}

/// The tenant's stored progress, if any.
pub fn progress(conn: &mut DbConn, tenant: &str) -> ApiResult<Option<Progress>> {
    Ok(reencrypt_progress::table
        .filter(reencrypt_progress::tenant_id.eq(tenant))
        .select(Progress::as_select())
        .first(conn)
        .optional()?)
}

/// Whether the tenant may have work (a read: creates nothing). False only
/// when its progress says done for its current active key and index version.
pub fn needs_work(conn: &mut DbConn, keyring: &Keyring, tenant: &str) -> ApiResult<bool> {
    let active = keyring
        .keys(conn, tenant)?
        .into_iter()
        .find(|k| k.active)
        .map(|k| k.key_id);
    let index_version = keyring.current_index_version(conn, tenant)?;
    Ok(match (progress(conn, tenant)?, active, index_version) {
        (Some(p), Some(key), Some(v)) => !(p.done && p.key_id == key && p.index_version == v),
        _ => true,
    })
}

type Condition = Box<dyn BoxableExpression<patients::table, DbBackend, SqlType = Bool>>;

/// Rows not yet under `key_id` and `index_version`: any sealed column
/// naming another key (`v1.<key_id>.` starts every value sealed under it),
/// indexes of another version, or a row from before row versions.
fn stale(key_id: &str, index_version: i32) -> Condition {
    let p = format!("v1.{key_id}.%");
    let mut c: Condition = Box::new(
        patients::version
            .eq(LEGACY_VERSION)
            .or(patients::index_version.ne(index_version))
            .or(patients::mrn_enc.not_like(p.clone()))
            .or(patients::first_name_enc.not_like(p.clone()))
            .or(patients::last_name_enc.not_like(p.clone()))
            .or(patients::dob_enc.not_like(p.clone())),
    );
    // Never NULL from version 1 on (version 0 rows are caught above).
    let optional: [Condition; 6] = [
        Box::new(patients::contact_enc.assume_not_null().not_like(p.clone())),
        Box::new(patients::address_enc.assume_not_null().not_like(p.clone())),
        Box::new(
            patients::emergency_contact_enc
                .assume_not_null()
                .not_like(p.clone()),
        ),
        Box::new(
            patients::insurance_enc
                .assume_not_null()
                .not_like(p.clone()),
        ),
        Box::new(
            patients::allergies_enc
                .assume_not_null()
                .not_like(p.clone()),
        ),
        Box::new(
            patients::blood_type_enc
                .assume_not_null()
                .not_like(p.clone()),
        ),
    ];
    for column in optional {
        c = Box::new(c.or(column));
    }
    c
}

/// Re-seal up to `size` stale rows of `tenant` after its cursor, move the
/// cursor, and audit the batch as `actor` (counts only). Run it in a write
/// transaction; run it again until [`Outcome::done`].
pub fn run_batch(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    size: i64,
    actor: &str,
) -> ApiResult<Outcome> {
    let size = size.clamp(1, MAX_BATCH);
    let key_id = keyring.active_key(conn, tenant)?.key_id().to_string();
    let index_version = keyring.indexer(conn, tenant)?.version();
    let stored = progress(conn, tenant)?;
    let exists = stored.is_some();
    // A new target (a rotation since) starts a new pass from the top.
    let mut p = stored
        .filter(|p| p.key_id == key_id && p.index_version == index_version)
        .unwrap_or_else(|| Progress {
            tenant_id: tenant.to_string(),
            key_id: key_id.clone(),
            index_version,
            cursor: String::new(),
            resealed: 0,
            done: false,
            updated_at: now(),
        });
    if p.done {
        return Ok(Outcome {
            done: true,
            ..Outcome::default()
        });
    }
    let from_top = p.cursor.is_empty();
    let rows: Vec<Row> = patients::table
        .filter(patients::tenant_id.eq(tenant))
        .filter(patients::id.gt(p.cursor.clone()))
        .filter(stale(&key_id, index_version))
        .order(patients::id.asc())
        .limit(size)
        .select(Row::as_select())
        .load(conn)?;
    let mut out = Outcome::default();
    for row in &rows {
        // Each row in its own savepoint: one that cannot be opened is left
        // as it is, the others go on.
        match conn.transaction::<bool, ApiError, _>(|c| reseal_row(c, keyring, row)) {
            Ok(true) => out.resealed += 1,
            Ok(false) => out.retried += 1,
            Err(e) => {
                tracing::warn!(error = %e, tenant, patient = %row.id, "re-encryption: row left as it is");
                out.failed += 1;
            }
        }
    }
    let pass_over = (rows.len() as i64) < size;
    // The break-the-glass reasons (immutable, one sealed column) once per
    // pass from the top; more than a batch of them keeps the tenant undone.
    let mut grants_left = false;
    if pass_over && from_top {
        let (moved, failed, more) = reencrypt_grants(conn, keyring, tenant, &key_id, size)?;
        out.grants = moved;
        out.failed += failed;
        grants_left = more;
        let (moved, failed, more) = reencrypt_appointments(conn, keyring, tenant, &key_id, size)?;
        out.appointments = moved;
        out.failed += failed;
        grants_left |= more;
        let (moved, failed, more) = reencrypt_notes(conn, keyring, tenant, &key_id, size)?;
        out.notes = moved;
        out.failed += failed;
        grants_left |= more;
        let (moved, failed, more) = reencrypt_prescriptions(conn, keyring, tenant, &key_id, size)?;
        out.prescriptions = moved;
        out.failed += failed;
        grants_left |= more;
        let (moved, failed, more) = reencrypt_labs(conn, keyring, tenant, &key_id, size)?;
        out.labs = moved;
        out.failed += failed;
        grants_left |= more;
        let (moved, failed, more) = reencrypt_messages(conn, keyring, tenant, &key_id, size)?;
        out.messages = moved;
        out.failed += failed;
        grants_left |= more;
        let (moved, failed, more) = reencrypt_files(conn, keyring, tenant, &key_id, size)?;
        out.files = moved;
        out.failed += failed;
        grants_left |= more;
        let (moved, failed, more) = reencrypt_referrals(conn, keyring, tenant, &key_id, size)?;
        out.referrals = moved;
        out.failed += failed;
        grants_left |= more;
        let (moved, failed, more) = reencrypt_admissions(conn, keyring, tenant, &key_id, size)?;
        out.admissions = moved;
        out.failed += failed;
        grants_left |= more;
    }
    if pass_over {
        // A pass that began at the top and met no concurrent change saw
        // every row; otherwise one more pass checks what it may have missed.
        out.done = from_top && out.retried == 0 && !grants_left;
        p.cursor = String::new();
    } else if let Some(last) = rows.last() {
        p.cursor = last.id.clone();
    }
    p.done = out.done;
    p.resealed += out.resealed as i64;
    p.updated_at = now();
    save(conn, &p, exists)?;
    if !rows.is_empty()
        || out.grants > 0
        || out.appointments > 0
        || out.notes > 0
        || out.prescriptions > 0
        || out.labs > 0
        || out.messages > 0
        || out.files > 0
        || out.referrals > 0
        || out.admissions > 0
    {
        let event = Event::new(actor, "system", ACTION, &format!("tenant:{tenant}"))
            .tenant(Some(tenant))
            .details(json!({
                "resealed": out.resealed,
                "grants": out.grants,
                "appointments": out.appointments,
                "notes": out.notes,
                "prescriptions": out.prescriptions,
                "labs": out.labs,
                "messages": out.messages,
                "files": out.files,
                "referrals": out.referrals,
                "admissions": out.admissions,
                "retried": out.retried,
                "failed": out.failed,
                "key_id": key_id,
                "index_version": index_version,
                "pass_complete": pass_over,
            }));
        audit::append(conn, &event, &Origin::default())?;
    }
    Ok(out)
}

/// Encrypt up to `size` values of one sealed text column of the tenant
/// (`$table.$col`, rows found by `$id`, bound by `$aad(tenant, id)`) not
/// under `key_id` again under it: (moved, failed, whether a full batch was
/// found). A value changed meanwhile is left for the next pass; an empty one
/// (a purged file's name) has nothing to move.
macro_rules! reseal_text_column {
    ($conn:expr, $keyring:expr, $tenant:expr, $key_id:expr, $size:expr,
     $table:ident, $id:ident, $col:ident, $kind:expr, $aad:path) => {{
        let stale: Vec<(String, String)> = $table::table
            .filter($table::tenant_id.eq($tenant))
            .filter($table::$col.ne(""))
            .filter($table::$col.not_like(format!("v1.{}.%", $key_id)))
            .order($table::$id.asc())
            .limit($size)
            .select(($table::$id, $table::$col))
            .load($conn)?;
        let (moved, failed) = each_row(
            $conn,
            $tenant,
            $kind,
            &stale,
            |r| &r.0,
            |c, (id, stored)| {
                let aad = $aad($tenant, id);
                let fresh = $keyring.reencrypt(c, $tenant, stored, &aad)?;
                Ok(diesel::update(
                    $table::table
                        .filter($table::tenant_id.eq($tenant))
                        .filter($table::$id.eq(id))
                        .filter($table::$col.eq(stored)),
                )
                .set($table::$col.eq(fresh))
                .execute(c)?)
            },
        );
        (moved, failed, stale.len() as i64 >= $size)
    }};
}

/// Encrypt up to `size` break-the-glass reasons of the tenant not under
/// `key_id` again under it: (moved, failed, whether a full batch was found).
fn reencrypt_grants(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    key_id: &str,
    size: i64,
) -> ApiResult<(usize, usize, bool)> {
    Ok(reseal_text_column!(
        conn,
        keyring,
        tenant,
        key_id,
        size,
        break_glass,
        id,
        reason_enc,
        "grant",
        crate::break_glass::store::aad
    ))
}

/// Encrypt up to `size` referral reasons and up to `size` decline reasons
/// of the tenant not under `key_id` again under it: (moved, failed, whether
/// a full batch was found).
fn reencrypt_referrals(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    key_id: &str,
    size: i64,
) -> ApiResult<(usize, usize, bool)> {
    use crate::referrals::store::{decline_aad, reason_aad};
    let (reasons, reasons_failed, more_reasons) = reseal_text_column!(
        conn, keyring, tenant, key_id, size, referrals, id, reason_enc, "referral", reason_aad
    );
    let stale: Vec<(String, String)> = referrals::table
        .filter(referrals::tenant_id.eq(tenant))
        .filter(referrals::decline_reason_enc.is_not_null())
        .filter(
            referrals::decline_reason_enc
                .assume_not_null()
                .not_like(format!("v1.{key_id}.%")),
        )
        .order(referrals::id.asc())
        .limit(size)
        .select((
            referrals::id,
            referrals::decline_reason_enc.assume_not_null(),
        ))
        .load(conn)?;
    let (declines, declines_failed) = each_row(
        conn,
        tenant,
        "referral_decline",
        &stale,
        |r| &r.0,
        |c, (id, stored)| {
            let fresh = keyring.reencrypt(c, tenant, stored, &decline_aad(tenant, id))?;
            Ok(diesel::update(
                referrals::table
                    .filter(referrals::tenant_id.eq(tenant))
                    .filter(referrals::id.eq(id))
                    .filter(referrals::decline_reason_enc.eq(stored)),
            )
            .set(referrals::decline_reason_enc.eq(fresh))
            .execute(c)?)
        },
    );
    Ok((
        reasons + declines,
        reasons_failed + declines_failed,
        more_reasons || stale.len() as i64 >= size,
    ))
}

/// Encrypt up to `size` admission reasons of the tenant not under `key_id`
/// again under it: (moved, failed, whether a full batch was found).
fn reencrypt_admissions(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    key_id: &str,
    size: i64,
) -> ApiResult<(usize, usize, bool)> {
    use crate::schema::admissions;
    Ok(reseal_text_column!(
        conn,
        keyring,
        tenant,
        key_id,
        size,
        admissions,
        id,
        reason_enc,
        "admission",
        crate::admissions::store::aad
    ))
}

/// Encrypt up to `size` message bodies of the tenant not under `key_id`
/// again under it: (moved, failed, whether a full batch was found).
fn reencrypt_messages(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    key_id: &str,
    size: i64,
) -> ApiResult<(usize, usize, bool)> {
    Ok(reseal_text_column!(
        conn,
        keyring,
        tenant,
        key_id,
        size,
        messages,
        id,
        body_enc,
        "message",
        crate::messages::store::aad
    ))
}

/// Encrypt up to `size` file names and up to `size` legal holds' reasons
/// of the tenant not under `key_id` again under it (a purged file has no
/// name left): (moved, failed, whether a full batch was found).
fn reencrypt_files(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    key_id: &str,
    size: i64,
) -> ApiResult<(usize, usize, bool)> {
    let (names, names_failed, more_names) = reseal_text_column!(
        conn,
        keyring,
        tenant,
        key_id,
        size,
        files,
        id,
        name_enc,
        "file",
        crate::files::store::name_aad
    );
    let (holds, holds_failed, more_holds) = reseal_text_column!(
        conn,
        keyring,
        tenant,
        key_id,
        size,
        legal_holds,
        patient_id,
        reason_enc,
        "legal_hold",
        crate::files::store::hold_aad
    );
    Ok((
        names + holds,
        names_failed + holds_failed,
        more_names || more_holds,
    ))
}

/// Encrypt the sealed texts (reason, notes, cancellation reason; each
/// written once) of up to `size` appointments of the tenant with a text not
/// under `key_id` again under it: (texts moved, failed, whether a full
/// batch was found).
fn reencrypt_appointments(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    key_id: &str,
    size: i64,
) -> ApiResult<(usize, usize, bool)> {
    let p = format!("v1.{key_id}.%");
    type Texts = (String, String, Option<String>, Option<String>);
    let stale: Vec<Texts> = appointments::table
        .filter(appointments::tenant_id.eq(tenant))
        .filter(
            appointments::reason_enc
                .not_like(p.clone())
                .or(appointments::notes_enc.not_like(p.clone()))
                .or(appointments::cancel_reason_enc.not_like(p.clone())),
        )
        .order(appointments::id.asc())
        .limit(size)
        .select((
            appointments::id,
            appointments::reason_enc,
            appointments::notes_enc,
            appointments::cancel_reason_enc,
        ))
        .load(conn)?;
    let prefix = format!("v1.{key_id}.");
    let (moved, failed) = each_row(
        conn,
        tenant,
        "appointment",
        &stale,
        |r| &r.0,
        |c, (id, reason, notes, cancel)| {
            let again = |c: &mut DbConn, column: &str, stored: &str| -> ApiResult<String> {
                if stored.starts_with(&prefix) {
                    return Ok(stored.to_string());
                }
                let aad = crate::appointments::store::aad(tenant, column, id);
                keyring.reencrypt(c, tenant, stored, &aad)
            };
            let fresh_reason = again(c, "reason", reason)?;
            let fresh_notes = notes.as_deref().map(|n| again(c, "notes", n)).transpose()?;
            let fresh_cancel = cancel
                .as_deref()
                .map(|n| again(c, "cancel_reason", n))
                .transpose()?;
            let n = [
                Some(reason.as_str()) != Some(fresh_reason.as_str()),
                notes != &fresh_notes,
                cancel != &fresh_cancel,
            ]
            .iter()
            .filter(|changed| **changed)
            .count();
            // The batch runs under the audit head's lock, which every write
            // takes first: nothing changed the row since it was read.
            diesel::update(
                appointments::table
                    .filter(appointments::id.eq(id))
                    .filter(appointments::reason_enc.eq(reason)),
            )
            .set((
                appointments::reason_enc.eq(fresh_reason),
                appointments::notes_enc.eq(fresh_notes),
                appointments::cancel_reason_enc.eq(fresh_cancel),
            ))
            .execute(c)?;
            Ok(n)
        },
    );
    Ok((moved, failed, stale.len() as i64 >= size))
}

/// Encrypt the sealed texts of up to `size` clinical notes (the content)
/// and up to `size` amendments (reason, content) of the tenant not under
/// `key_id` again under it: (texts moved, failed, whether a full batch was
/// found). A signed note's content stays the same text (its hash holds);
/// only its ciphertext changes.
fn reencrypt_notes(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    key_id: &str,
    size: i64,
) -> ApiResult<(usize, usize, bool)> {
    use crate::notes::store::aad;
    let p = format!("v1.{key_id}.%");
    let prefix = format!("v1.{key_id}.");
    let notes: Vec<(String, String)> = clinical_notes::table
        .filter(clinical_notes::tenant_id.eq(tenant))
        .filter(clinical_notes::content_enc.not_like(p.clone()))
        .order(clinical_notes::id.asc())
        .limit(size)
        .select((clinical_notes::id, clinical_notes::content_enc))
        .load(conn)?;
    let (mut moved, mut failed) = each_row(
        conn,
        tenant,
        "note",
        &notes,
        |r| &r.0,
        |c, (id, stored)| {
            let fresh = keyring.reencrypt(
                c,
                tenant,
                stored,
                &aad(tenant, "clinical_notes", "content", id),
            )?;
            // Under the audit head's lock: a draft cannot be rewritten meanwhile.
            Ok(diesel::update(
                clinical_notes::table
                    .filter(clinical_notes::id.eq(id))
                    .filter(clinical_notes::content_enc.eq(stored)),
            )
            .set(clinical_notes::content_enc.eq(fresh))
            .execute(c)?)
        },
    );
    let amendments: Vec<(String, String, String)> = clinical_note_amendments::table
        .filter(clinical_note_amendments::tenant_id.eq(tenant))
        .filter(
            clinical_note_amendments::reason_enc
                .not_like(p.clone())
                .or(clinical_note_amendments::content_enc.not_like(p)),
        )
        .order(clinical_note_amendments::id.asc())
        .limit(size)
        .select((
            clinical_note_amendments::id,
            clinical_note_amendments::reason_enc,
            clinical_note_amendments::content_enc,
        ))
        .load(conn)?;
    let (m, f) = each_row(
        conn,
        tenant,
        "amendment",
        &amendments,
        |r| &r.0,
        |c, (id, reason, content)| {
            let table = "clinical_note_amendments";
            let again =
                |c: &mut DbConn, column: &str, stored: &str| -> ApiResult<(String, usize)> {
                    if stored.starts_with(&prefix) {
                        return Ok((stored.to_string(), 0));
                    }
                    Ok((
                        keyring.reencrypt(c, tenant, stored, &aad(tenant, table, column, id))?,
                        1,
                    ))
                };
            let (fresh_reason, a) = again(c, "reason", reason)?;
            let (fresh_content, b) = again(c, "content", content)?;
            diesel::update(
                clinical_note_amendments::table.filter(clinical_note_amendments::id.eq(id)),
            )
            .set((
                clinical_note_amendments::reason_enc.eq(fresh_reason),
                clinical_note_amendments::content_enc.eq(fresh_content),
            ))
            .execute(c)?;
            Ok(a + b)
        },
    );
    moved += m;
    failed += f;
    let full = notes.len() as i64 >= size || amendments.len() as i64 >= size;
    Ok((moved, failed, full))
}

/// Encrypt the sealed texts (details; a rejection's reason) of up to
/// `size` prescriptions of the tenant with a text not under `key_id` again
/// under it: (texts moved, failed, whether a full batch was found).
fn reencrypt_prescriptions(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    key_id: &str,
    size: i64,
) -> ApiResult<(usize, usize, bool)> {
    let p = format!("v1.{key_id}.%");
    let prefix = format!("v1.{key_id}.");
    let stale: Vec<(String, String, Option<String>)> = prescriptions::table
        .filter(prescriptions::tenant_id.eq(tenant))
        .filter(
            prescriptions::details_enc
                .not_like(p.clone())
                .or(prescriptions::reject_reason_enc.not_like(p)),
        )
        .order(prescriptions::id.asc())
        .limit(size)
        .select((
            prescriptions::id,
            prescriptions::details_enc,
            prescriptions::reject_reason_enc,
        ))
        .load(conn)?;
    let (moved, failed) = each_row(
        conn,
        tenant,
        "prescription",
        &stale,
        |r| &r.0,
        |c, (id, details, reason)| {
            let again =
                |c: &mut DbConn, column: &str, stored: &str| -> ApiResult<(String, usize)> {
                    if stored.starts_with(&prefix) {
                        return Ok((stored.to_string(), 0));
                    }
                    let aad = crate::prescriptions::store::aad(tenant, column, id);
                    Ok((keyring.reencrypt(c, tenant, stored, &aad)?, 1))
                };
            let (fresh_details, a) = again(c, "details", details)?;
            let (fresh_reason, b) = match reason {
                Some(r) => {
                    let (v, n) = again(c, "reject_reason", r)?;
                    (Some(v), n)
                }
                None => (None, 0),
            };
            // Under the audit head's lock: a rejection cannot land meanwhile.
            diesel::update(
                prescriptions::table
                    .filter(prescriptions::id.eq(id))
                    .filter(prescriptions::details_enc.eq(details)),
            )
            .set((
                prescriptions::details_enc.eq(fresh_details),
                prescriptions::reject_reason_enc.eq(fresh_reason),
            ))
            .execute(c)?;
            Ok(a + b)
        },
    );
    Ok((moved, failed, stale.len() as i64 >= size))
}

/// Encrypt the sealed texts of up to `size` lab orders (tests, notes,
/// results) and up to `size` amendments (reason, results) of the tenant not
/// under `key_id` again under it: (texts moved, failed, whether a full batch
/// was found). A finalized order's texts stay the same (only their
/// ciphertext changes, which its trigger allows).
fn reencrypt_labs(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    key_id: &str,
    size: i64,
) -> ApiResult<(usize, usize, bool)> {
    use crate::labs::store::aad;
    let p = format!("v1.{key_id}.%");
    let prefix = format!("v1.{key_id}.");
    let again = |c: &mut DbConn,
                 table: &str,
                 column: &str,
                 id: &str,
                 stored: &str|
     -> ApiResult<(String, usize)> {
        if stored.starts_with(&prefix) {
            return Ok((stored.to_string(), 0));
        }
        Ok((
            keyring.reencrypt(c, tenant, stored, &aad(tenant, table, column, id))?,
            1,
        ))
    };
    type OrderTexts = (String, String, Option<String>, Option<String>);
    let orders: Vec<OrderTexts> = lab_orders::table
        .filter(lab_orders::tenant_id.eq(tenant))
        .filter(
            lab_orders::tests_enc
                .not_like(p.clone())
                .or(lab_orders::notes_enc.not_like(p.clone()))
                .or(lab_orders::results_enc.not_like(p.clone())),
        )
        .order(lab_orders::id.asc())
        .limit(size)
        .select((
            lab_orders::id,
            lab_orders::tests_enc,
            lab_orders::notes_enc,
            lab_orders::results_enc,
        ))
        .load(conn)?;
    let (mut moved, mut failed) = each_row(
        conn,
        tenant,
        "lab_order",
        &orders,
        |r| &r.0,
        |c, (id, tests, notes, results)| {
            let table = "lab_orders";
            let (fresh_tests, a) = again(c, table, "tests", id, tests)?;
            let mut n = a;
            let mut opt = |c: &mut DbConn, column: &str, v: &Option<String>| {
                Ok::<_, ApiError>(match v {
                    Some(v) => {
                        let (fresh, k) = again(c, table, column, id, v)?;
                        n += k;
                        Some(fresh)
                    }
                    None => None,
                })
            };
            let fresh_notes = opt(c, "notes", notes)?;
            let fresh_results = opt(c, "results", results)?;
            // Under the audit head's lock: results cannot be entered meanwhile.
            diesel::update(
                lab_orders::table
                    .filter(lab_orders::id.eq(id))
                    .filter(lab_orders::tests_enc.eq(tests)),
            )
            .set((
                lab_orders::tests_enc.eq(fresh_tests),
                lab_orders::notes_enc.eq(fresh_notes),
                lab_orders::results_enc.eq(fresh_results),
            ))
            .execute(c)?;
            Ok(n)
        },
    );
    let amendments: Vec<(String, String, String)> = lab_result_amendments::table
        .filter(lab_result_amendments::tenant_id.eq(tenant))
        .filter(
            lab_result_amendments::reason_enc
                .not_like(p.clone())
                .or(lab_result_amendments::results_enc.not_like(p)),
        )
        .order(lab_result_amendments::id.asc())
        .limit(size)
        .select((
            lab_result_amendments::id,
            lab_result_amendments::reason_enc,
            lab_result_amendments::results_enc,
        ))
        .load(conn)?;
    let (m, f) = each_row(
        conn,
        tenant,
        "lab_amendment",
        &amendments,
        |r| &r.0,
        |c, (id, reason, results)| {
            let table = "lab_result_amendments";
            let (fresh_reason, a) = again(c, table, "reason", id, reason)?;
            let (fresh_results, b) = again(c, table, "results", id, results)?;
            diesel::update(lab_result_amendments::table.filter(lab_result_amendments::id.eq(id)))
                .set((
                    lab_result_amendments::reason_enc.eq(fresh_reason),
                    lab_result_amendments::results_enc.eq(fresh_results),
                ))
                .execute(c)?;
            Ok(a + b)
        },
    );
    moved += m;
    failed += f;
    let full = orders.len() as i64 >= size || amendments.len() as i64 >= size;
    Ok((moved, failed, full))
}

/// Re-seal each of `rows` in its own transaction with `one` (how many texts
/// it moved). A row that fails is logged by kind and id — never content —
/// and counted, and the others go on: (moved, failed).
fn each_row<R>(
    conn: &mut DbConn,
    tenant: &str,
    kind: &'static str,
    rows: &[R],
    id: impl Fn(&R) -> &str,
    mut one: impl FnMut(&mut DbConn, &R) -> ApiResult<usize>,
) -> (usize, usize) {
    let (mut moved, mut failed) = (0, 0);
    for row in rows {
        match conn.transaction::<usize, ApiError, _>(|c| one(c, row)) {
            Ok(n) => moved += n,
            Err(e) => {
                tracing::warn!(error = %e, tenant, kind, id = %id(row), "re-encryption: row left as it is");
                failed += 1;
            }
        }
    }
    (moved, failed)
}

fn save(conn: &mut DbConn, p: &Progress, exists: bool) -> ApiResult<()> {
    if exists {
        diesel::update(
            reencrypt_progress::table.filter(reencrypt_progress::tenant_id.eq(&p.tenant_id)),
        )
        .set(p)
        .execute(conn)?;
    } else {
        diesel::insert_into(reencrypt_progress::table)
            .values(p)
            .execute(conn)?;
    }
    Ok(())
}

/// Seal `row` again as its next version under the active key and current
/// index key. False if the row changed since it was read (left for the
/// next pass).
pub fn reseal_row(conn: &mut DbConn, keyring: &Keyring, row: &Row) -> ApiResult<bool> {
    let old = Sealer::new(keyring, &row.tenant_id, &row.id, row.version);
    let next = old.at_version(row.version + 1);
    let mrn = old.open(conn, "mrn", &row.mrn_enc)?;
    let first = old.open(conn, "first_name", &row.first_name_enc)?;
    let last = old.open(conn, "last_name", &row.last_name_enc)?;
    let dob = old.open(conn, "date_of_birth", &row.dob_enc)?;
    let ix = next.indexes(conn, &mrn, &first, &last, &dob)?;
    let json = |conn: &mut DbConn, column: &str, stored: &Option<String>| {
        old.reseal_opt(conn, &next, column, stored.as_deref())
    };
    // Not `updated_at`/`updated_by`: no one changed the record.
    let set = SealedColumns {
        mrn_enc: next.seal(conn, "mrn", &mrn)?,
        mrn_idx: ix.mrn,
        first_name_enc: next.seal(conn, "first_name", &first)?,
        first_name_idx: ix.first,
        last_name_enc: next.seal(conn, "last_name", &last)?,
        last_name_idx: ix.last,
        dob_enc: next.seal(conn, "date_of_birth", &dob)?,
        dob_idx: ix.dob,
        contact_enc: json(conn, "contact", &row.contact_enc)?,
        address_enc: json(conn, "address", &row.address_enc)?,
        emergency_contact_enc: json(conn, "emergency_contact", &row.emergency_contact_enc)?,
        insurance_enc: json(conn, "insurance", &row.insurance_enc)?,
        allergies_enc: json(conn, "allergies", &row.allergies_enc)?,
        blood_type_enc: json(conn, "blood_type", &row.blood_type_enc)?,
        version: row.version + 1,
        index_version: ix.version,
    };
    let changed = diesel::update(
        patients::table
            .filter(patients::id.eq(&row.id))
            .filter(patients::tenant_id.eq(&row.tenant_id))
            .filter(patients::version.eq(row.version)),
    )
    .set(&set)
    .execute(conn)?;
    Ok(changed == 1)
}
