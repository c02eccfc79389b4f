//! Queries on `tenant_backups`: owner's copy of each hospital's sealed
//! change-log batches. Only the header columns are ever read for lists and
//! health; `body` (the batch as posted) only to hand it back.

use chrono::NaiveDateTime;
use common::db::{DbConn, Page};
use common::ApiResult;
use contracts::backup::BackupBatchInfo;
use diesel::prelude::*;

use crate::schema::tenant_backups;

/// A batch's header as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tenant_backups)]
struct Header {
    batch_no: i64,
    first_seq: i64,
    last_seq: i64,
    rows: i64,
    bytes: i64,
    created_at: NaiveDateTime,
    received_at: NaiveDateTime,
}

impl From<Header> for BackupBatchInfo {
    fn from(h: Header) -> Self {
        Self {
            batch_no: h.batch_no,
            first_seq: h.first_seq,
            last_seq: h.last_seq,
            rows: h.rows,
            bytes: h.bytes,
            created_at: h.created_at,
            received_at: h.received_at,
        }
    }
}

/// A batch to store.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tenant_backups)]
pub struct NewBatch {
    /// The certificate's tenant.
    pub tenant_id: String,
    /// Its number.
    pub batch_no: i64,
    /// Lowest change sequence number.
    pub first_seq: i64,
    /// Highest change sequence number.
    pub last_seq: i64,
    /// Changes.
    pub rows: i64,
    /// `body.len()`.
    pub bytes: i64,
    /// SHA-256 of `body`, hex.
    pub sha256: String,
    /// When the hospital sealed it.
    pub created_at: NaiveDateTime,
    /// When owner received it.
    pub received_at: NaiveDateTime,
    /// The request's bytes, as posted.
    pub body: Vec<u8>,
}

/// The highest batch number stored for `tenant` (0: none).
pub fn highest(conn: &mut DbConn, tenant: &str) -> ApiResult<i64> {
    Ok(tenant_backups::table
        .filter(tenant_backups::tenant_id.eq(tenant))
        .select(diesel::dsl::max(tenant_backups::batch_no))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// The SHA-256 (hex) of batch `batch_no` of `tenant`, if stored.
pub fn digest(conn: &mut DbConn, tenant: &str, batch_no: i64) -> ApiResult<Option<String>> {
    Ok(tenant_backups::table
        .filter(tenant_backups::tenant_id.eq(tenant))
        .filter(tenant_backups::batch_no.eq(batch_no))
        .select(tenant_backups::sha256)
        .first(conn)
        .optional()?)
}

/// Insert `b` in its own savepoint, so that losing a race for its primary
/// key leaves the caller's transaction usable (PostgreSQL aborts a
/// transaction on a failed statement otherwise). `Ok(false)`: the number
/// was taken meanwhile.
pub fn insert(conn: &mut DbConn, b: &NewBatch) -> ApiResult<bool> {
    use diesel::result::{DatabaseErrorKind, Error};
    let inserted = conn.transaction::<_, Error, _>(|c| {
        diesel::insert_into(tenant_backups::table)
            .values(b)
            .execute(c)
    });
    match inserted {
        Ok(_) => Ok(true),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Batches of `tenant` numbered above `after`, in order, at most `limit`.
pub fn after(
    conn: &mut DbConn,
    tenant: &str,
    after: i64,
    limit: i64,
) -> ApiResult<Vec<BackupBatchInfo>> {
    let rows: Vec<Header> = tenant_backups::table
        .filter(tenant_backups::tenant_id.eq(tenant))
        .filter(tenant_backups::batch_no.gt(after))
        .order(tenant_backups::batch_no.asc())
        .limit(limit)
        .select(Header::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// A page of `tenant`'s batches, newest first, and how many there are.
pub fn page(
    conn: &mut DbConn,
    tenant: &str,
    page: &Page,
) -> ApiResult<(Vec<BackupBatchInfo>, i64)> {
    let base = tenant_backups::table.filter(tenant_backups::tenant_id.eq(tenant));
    let total: i64 = base.count().get_result(conn)?;
    let rows: Vec<Header> = base
        .order(tenant_backups::batch_no.desc())
        .limit(page.page_size)
        .offset(page.offset())
        .select(Header::as_select())
        .load(conn)?;
    Ok((rows.into_iter().map(Into::into).collect(), total))
}

/// The stored bytes of batch `batch_no` of `tenant`.
pub fn body(conn: &mut DbConn, tenant: &str, batch_no: i64) -> ApiResult<Option<Vec<u8>>> {
    Ok(tenant_backups::table
        .filter(tenant_backups::tenant_id.eq(tenant))
        .filter(tenant_backups::batch_no.eq(batch_no))
        .select(tenant_backups::body)
        .first(conn)
        .optional()?)
}

/// What owner holds of a tenant's online copy.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Batches stored.
    pub batches: i64,
    /// Their bytes.
    pub bytes: i64,
    /// The newest.
    pub last: Option<BackupBatchInfo>,
}

/// Count and size of `tenant`'s batches, and its newest.
pub fn totals(conn: &mut DbConn, tenant: &str) -> ApiResult<Totals> {
    use diesel::dsl::sql;
    use diesel::sql_types::BigInt;
    // SUM of a BIGINT is NUMERIC on PostgreSQL: cast back.
    let (batches, bytes): (i64, i64) = tenant_backups::table
        .filter(tenant_backups::tenant_id.eq(tenant))
        .select((
            diesel::dsl::count_star(),
            sql::<BigInt>("CAST(COALESCE(SUM(bytes), 0) AS BIGINT)"),
        ))
        .first(conn)?;
    let last = tenant_backups::table
        .filter(tenant_backups::tenant_id.eq(tenant))
        .order(tenant_backups::batch_no.desc())
        .select(Header::as_select())
        .first(conn)
        .optional()?
        .map(Into::into);
    Ok(Totals {
        batches,
        bytes,
        last,
    })
}
