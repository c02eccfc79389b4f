//! Queries on `audit_anchors`.

use common::db::{now, DbConn};
use common::response::Page;
use common::ApiResult;
use contracts::AuditAnchor;
use diesel::prelude::*;

use crate::schema::audit_anchors;

/// Store an anchor unless that position is already held. Returns false if
/// it was held already with the same hash; an existing position with a
/// different hash is a conflict the caller reports.
pub fn insert(
    conn: &mut DbConn,
    service: &str,
    tenant: &str,
    seq: i64,
    hash: &str,
) -> ApiResult<Result<bool, String>> {
    let existing: Option<String> = audit_anchors::table
        .filter(audit_anchors::source_service.eq(service))
        .filter(audit_anchors::source_tenant.eq(tenant))
        .filter(audit_anchors::chain_seq.eq(seq))
        .select(audit_anchors::chain_hash)
        .first(conn)
        .optional()?;
    match existing {
        Some(h) if h == hash => Ok(Ok(false)),
        Some(h) => Ok(Err(h)),
        None => {
            diesel::insert_into(audit_anchors::table)
                .values((
                    audit_anchors::source_service.eq(service),
                    audit_anchors::source_tenant.eq(tenant),
                    audit_anchors::chain_seq.eq(seq),
                    audit_anchors::chain_hash.eq(hash),
                    audit_anchors::received_at.eq(now()),
                ))
                .execute(conn)?;
            Ok(Ok(true))
        }
    }
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
