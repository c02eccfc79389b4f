//! One-time enrolment codes: staff open an account for someone (a patient's
//! portal account) without ever knowing its password. Staff get a short
//! code to print; the person redeems it once, before it expires, and sets
//! their own password.
//!
//! Only a SHA-256 of the code is stored: the code has 50 random bits and a
//! short life, and redeeming is paced per address, so a slow hash would add
//! nothing but cost.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::db::{now, DbConn};
use crate::error::ApiResult;
use crate::schema::enrolment_codes;

/// Crockford's base-32 alphabet: no I, L, O or U to misread when typing.
const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters in a code (10 × 5 bits = 50 bits).
const CODE_LEN: usize = 10;

/// A newly issued code, to hand to the person once.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The code, as `XXXXX-XXXXX`.
    pub code: String,
    /// When it stops working.
    pub expires_at: NaiveDateTime,
}

/// A redeemed code: what it was issued for.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = enrolment_codes)]
pub struct Redeemed {
    /// Tenant of the subject.
    pub tenant_id: String,
    /// What the code enrols (a patient id).
    pub subject: String,
    /// Who issued it.
    pub created_by: String,
}

fn random_code() -> String {
    let mut rng = rand::thread_rng();
    let chars: String = (0..CODE_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    format!("{}-{}", &chars[..CODE_LEN / 2], &chars[CODE_LEN / 2..])
}

/// A username that says nothing about the person: `p-` and 10 random
/// lowercase letters and digits (for accounts opened by enrolment when the
/// person chooses none).
pub fn random_username() -> String {
    const CHARS: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..10)
        .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
        .collect();
    format!("p-{tail}")
}

/// The stored form of a code as typed: case, spaces and dashes ignored,
/// and the letters people confuse with digits read as those digits.
pub fn code_hash(typed: &str) -> String {
    let normal: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            other => other,
        })
        .collect();
    hex::encode(Sha256::digest(normal.as_bytes()))
}

/// Issue a code for `subject` in `tenant`, valid `minutes`; any earlier
/// unused code for the same subject stops working (one outstanding code).
pub fn issue(
    conn: &mut DbConn,
    tenant: &str,
    subject: &str,
    created_by: &str,
    minutes: i64,
) -> ApiResult<Issued> {
    let t = now();
    diesel::update(
        enrolment_codes::table
            .filter(enrolment_codes::tenant_id.eq(tenant))
            .filter(enrolment_codes::subject.eq(subject))
            .filter(enrolment_codes::used_at.is_null()),
    )
    .set(enrolment_codes::expires_at.eq(t))
    .execute(conn)?;
    let code = random_code();
    let expires_at = t + chrono::TimeDelta::minutes(minutes);
    diesel::insert_into(enrolment_codes::table)
        .values((
            enrolment_codes::code_hash.eq(code_hash(&code)),
            enrolment_codes::tenant_id.eq(tenant),
            enrolment_codes::subject.eq(subject),
            enrolment_codes::created_by.eq(created_by),
            enrolment_codes::created_at.eq(t),
            enrolment_codes::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(Issued { code, expires_at })
}

/// Use up `typed` if it is an unused, unexpired code (of `tenant`, when the
/// server is pinned to one). One conditional UPDATE, so two concurrent
/// redemptions cannot both succeed. None for every kind of bad code.
pub fn redeem(conn: &mut DbConn, typed: &str, tenant: Option<&str>) -> ApiResult<Option<Redeemed>> {
    let hash = code_hash(typed);
    let t = now();
    let mut target = enrolment_codes::table
        .filter(enrolment_codes::code_hash.eq(hash.clone()))
        .filter(enrolment_codes::used_at.is_null())
        .filter(enrolment_codes::expires_at.gt(t))
        .into_boxed();
    if let Some(tenant) = tenant {
        target = target.filter(enrolment_codes::tenant_id.eq(tenant.to_string()));
    }
    let found: Option<String> = target
        .select(enrolment_codes::code_hash)
        .first(conn)
        .optional()?;
    if found.is_none() {
        return Ok(None);
    }
    let used = diesel::update(
        enrolment_codes::table
            .filter(enrolment_codes::code_hash.eq(&hash))
            .filter(enrolment_codes::used_at.is_null()),
    )
    .set(enrolment_codes::used_at.eq(Some(t)))
    .execute(conn)?;
    if used != 1 {
        return Ok(None);
    }
    Ok(enrolment_codes::table
        .filter(enrolment_codes::code_hash.eq(&hash))
        .select(Redeemed::as_select())
        .first(conn)
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_random_and_typed_forms_hash_alike() {
        let a = random_code();
        assert_eq!(a.len(), CODE_LEN + 1);
        assert_ne!(a, random_code());
        assert_eq!(code_hash("abcde-fghjk"), code_hash("ABCDE FGHJK"));
        assert_eq!(code_hash("0O1IL"), code_hash("00111"));
    }
}
