//! Queries on `audit_anchors`.

use common::db::Page;
use common::db::{now, DbConn};
use common::ApiResult;
use contracts::AuditAnchor;
use diesel::prelude::*;

use crate::schema::audit_anchors;

/// What storing a reported head did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchored {
    /// A new position, stored.
    New,
    /// Already held with the same hash (a redelivery).
    Known,
    /// The position is held with another hash: the chain was rewritten.
    Conflict {
        /// The hash held for that position.
        held: String,
    },
    /// The position is below the highest one held and not itself held: an
    /// honest chain only grows, so the sender's chain was cut and rewritten.
    Regressed {
        /// The highest position held.
        highest: i64,
    },
}

/// Store an anchor unless that position is already held or lies behind
/// the highest one held (see [`Anchored`]).
pub fn insert(
    conn: &mut DbConn,
    service: &str,
    tenant: &str,
    seq: i64,
    hash: &str,
) -> ApiResult<Anchored> {
    let source = audit_anchors::table
        .filter(audit_anchors::source_service.eq(service))
        .filter(audit_anchors::source_tenant.eq(tenant));
    let existing: Option<String> = source
        .filter(audit_anchors::chain_seq.eq(seq))
        .select(audit_anchors::chain_hash)
        .first(conn)
        .optional()?;
    match existing {
        Some(h) if h == hash => return Ok(Anchored::Known),
        Some(held) => return Ok(Anchored::Conflict { held }),
        None => {}
    }
    let highest: Option<i64> = source
        .select(diesel::dsl::max(audit_anchors::chain_seq))
        .first(conn)?;
    if let Some(highest) = highest.filter(|h| *h > seq) {
        return Ok(Anchored::Regressed { highest });
    }
    diesel::insert_into(audit_anchors::table)
        .values((
            audit_anchors::source_service.eq(service),
            audit_anchors::source_tenant.eq(tenant),
            audit_anchors::chain_seq.eq(seq),
            audit_anchors::chain_hash.eq(hash),
            audit_anchors::received_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(Anchored::New)
}

/// A page of one source's anchors, by chain position, and the total.
pub fn list(
    conn: &mut DbConn,
    service: &str,
    tenant: &str,
    page: &Page,
) -> ApiResult<(Vec<AuditAnchor>, i64)> {
    let base = audit_anchors::table
        .filter(audit_anchors::source_service.eq(service))
        .filter(audit_anchors::source_tenant.eq(tenant));
    let total = base.count().get_result(conn)?;
    let rows: Vec<(String, String, i64, String, chrono::NaiveDateTime)> = base
        .order(audit_anchors::chain_seq.asc())
        .limit(page.page_size)
        .offset(page.offset())
        .select((
            audit_anchors::source_service,
            audit_anchors::source_tenant,
            audit_anchors::chain_seq,
            audit_anchors::chain_hash,
            audit_anchors::received_at,
        ))
        .load(conn)?;
    let anchors = rows
        .into_iter()
        .map(
            |(source_service, source_tenant, seq, hash, received_at)| AuditAnchor {
                source_service,
                source_tenant,
                seq,
                hash,
                received_at,
            },
        )
        .collect();
    Ok((anchors, total))
}
