//! The append-only, hash-chained audit log every server keeps.
//!
//! Each row's hash is SHA-256 over its own fields and the previous row's
//! hash, so changing, removing or inserting a row breaks the chain from that
//! point on. Rows are written inside the same transaction as the change they
//! record (callers use [`crate::db::Db::write`], whose group commit makes
//! the row durable before the caller answers; an audited read calls
//! [`record`] before its data leaves); database triggers refuse
//! UPDATE and DELETE on both backends. The head (last seq and hash) is kept
//! in `audit_head`, so cutting rows off the end is caught too; anchors sent
//! to the company server catch a rewrite of the whole chain.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::db::{now, Db, DbBackend, DbConn, Page};
use crate::error::{ApiError, ApiResult};
use crate::schema::{audit_head, audit_log};

/// The `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How serious an audited event is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Routine.
    Info,
    /// Worth a look (failed logins, refusals).
    Warning,
    /// Must be reviewed (break-the-glass, lockouts, tampering).
    Critical,
}

impl Severity {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// Who did it and from where: filled from the request.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// Client IP.
    pub ip: Option<String>,
    /// Client user agent (truncated).
    pub user_agent: Option<String>,
    /// The request's correlation id.
    pub correlation_id: Option<String>,
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct Event {
    /// User id, username for anonymous attempts, or `system`/`cli`.
    pub actor: String,
    /// The actor's role (`anonymous`, `system`, …).
    pub actor_role: String,
    /// The tenant concerned, if any.
    pub tenant_id: Option<String>,
    /// Dotted verb, e.g. `auth.login`, `user.create`.
    pub action: String,
    /// What was acted on, e.g. `user:<id>`.
    pub resource: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Severity.
    pub severity: Severity,
    /// Extra facts (never PHI, never secrets).
    pub details: Value,
}

impl Event {
    /// A successful action by `actor`.
    pub fn new(actor: &str, actor_role: &str, action: &str, resource: &str) -> Self {
        Self {
            actor: actor.to_string(),
            actor_role: actor_role.to_string(),
            tenant_id: None,
            action: action.to_string(),
            resource: resource.to_string(),
            outcome: "success".into(),
            severity: Severity::Info,
            details: Value::Null,
        }
    }

    /// Set the outcome.
    pub fn outcome(mut self, outcome: &str) -> Self {
        self.outcome = outcome.to_string();
        self
    }

    /// Set the severity.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Set the tenant.
    pub fn tenant(mut self, tenant_id: Option<&str>) -> Self {
        self.tenant_id = tenant_id.filter(|t| !t.is_empty()).map(str::to_string);
        self
    }

    /// Set the details.
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// A stored row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When (UTC).
    pub occurred_at: NaiveDateTime,
    /// Who.
    pub actor: String,
    /// Their role.
    pub actor_role: String,
    /// Tenant.
    pub tenant_id: Option<String>,
    /// What.
    pub action: String,
    /// On what.
    pub resource: String,
    /// Result.
    pub outcome: String,
    /// Severity.
    pub severity: String,
    /// Client IP.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Correlation id.
    pub correlation_id: Option<String>,
    /// JSON details (stored as text, answered as JSON).
    #[serde(serialize_with = "details_as_json")]
    #[schema(value_type = serde_json::Value)]
    pub details: String,
    /// Hash of the previous row.
    pub prev_hash: String,
    /// Hash of this row.
    pub hash: String,
}

impl AuditRow {
    /// SHA-256 over every field but `hash`, as a JSON array (fixed order).
    ///
    /// Serialized straight from the fields (a tuple is a JSON array), not
    /// through a `serde_json::Value` that cloned each string first: the
    /// same bytes, so the same hash (test below).
    pub fn compute_hash(&self) -> String {
        let at = crate::db::stamp::iso_micros(&self.occurred_at);
        let canonical = (
            self.seq,
            at,
            &self.actor,
            &self.actor_role,
            &self.tenant_id,
            &self.action,
            &self.resource,
            &self.outcome,
            &self.severity,
            &self.ip,
            &self.user_agent,
            &self.correlation_id,
            &self.details,
            &self.prev_hash,
        );
        let text = serde_json::to_vec(&canonical).unwrap_or_default();
        hex::encode(Sha256::digest(&text))
    }
}

fn details_as_json<S: serde::Serializer>(details: &str, s: S) -> Result<S::Ok, S::Error> {
    let value: Value = serde_json::from_str(details).unwrap_or(Value::String(details.to_string()));
    value.serialize(s)
}

/// Take the audit head's row lock: the first statement of every write
/// transaction ([`crate::db::Db::write`]'s batches and
/// [`crate::db::write_tx`]), so writers — threads or processes sharing a
/// PostgreSQL database — append to the chain in one order, and SQLite never
/// has to upgrade a read snapshot to a write lock.
///
/// Returns the head it locked (one statement, not a lock and a read; on
/// the backend's own connection, so the prepared statement is reused).
pub fn lock_head(conn: &mut DbConn) -> diesel::QueryResult<contracts::AuditHead> {
    let (seq, hash): (i64, String) =
        crate::on_backend!(conn, |c| HeadStatement::Lock.get_result(c))?;
    Ok(contracts::AuditHead { seq, hash })
}

/// The writer's two statements on `audit_head`, prepared once per
/// connection: diesel never caches an `UPDATE` (a changeset's columns may
/// vary), so its own would be parsed and planned again for every batch.
#[derive(Clone, Copy)]
enum HeadStatement<'a> {
    /// Take the row lock and read the head.
    Lock,
    /// Set the head.
    Set(&'a contracts::AuditHead),
}

impl diesel::query_builder::QueryId for HeadStatement<'_> {
    // Two SQL texts behind one type: not cached by type, so by its text
    // (both are safe to cache: only their binds vary).
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for HeadStatement<'_> {
    type SqlType = (diesel::sql_types::BigInt, diesel::sql_types::Text);
}

impl<DB> diesel::query_builder::QueryFragment<DB> for HeadStatement<'_>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<diesel::sql_types::BigInt>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Text>,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
    String: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        match self {
            Self::Lock => {
                out.push_sql("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash");
            }
            Self::Set(head) => {
                out.push_sql("UPDATE audit_head SET seq = ");
                out.push_bind_param::<diesel::sql_types::BigInt, _>(&head.seq)?;
                out.push_sql(", hash = ");
                out.push_bind_param::<diesel::sql_types::Text, _>(&head.hash)?;
                out.push_sql(" WHERE id = 1");
            }
        }
        Ok(())
    }
}

impl<C: Connection> RunQueryDsl<C> for HeadStatement<'_> {}

/// The chain's head: the last seq and its hash (`0` and the genesis hash
/// for an empty chain).
pub fn head(conn: &mut DbConn) -> ApiResult<contracts::AuditHead> {
    if let Some(held) = BATCH_HEAD.with(|b| b.borrow().clone()) {
        return Ok(held);
    }
    let (seq, hash): (i64, String) = audit_head::table
        .filter(audit_head::id.eq(1))
        .select((audit_head::seq, audit_head::hash))
        .first(conn)?;
    Ok(contracts::AuditHead { seq, hash })
}

/// Record `events` (e.g. the access-log rows of a read) and wait until
/// they are durably committed. Call it after reading and before answering:
/// if it fails, the data must not leave.
pub async fn record(db: &Db, events: Vec<Event>, origin: Origin) -> ApiResult<()> {
    db.record(events, origin).await
}

thread_local! {
    /// Set when this thread appends a critical row; the writer thread reads
    /// and clears it after each commit to anchor the head at once.
    static CRITICAL_APPENDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The head while the writer thread runs a batch: read once after the
    /// lock, moved by every append, written to `audit_head` once before
    /// the commit (two statements fewer per audited write).
    static BATCH_HEAD: std::cell::RefCell<Option<contracts::AuditHead>> =
        const { std::cell::RefCell::new(None) };
}

/// Start holding `held`, the head [`lock_head`] returned, for a batch (the writer).
pub(crate) fn begin_batch(held: contracts::AuditHead) {
    BATCH_HEAD.with(|b| *b.borrow_mut() = Some(held));
}

/// The head held for the batch (to restore when a job rolls back).
pub(crate) fn batch_head() -> Option<contracts::AuditHead> {
    BATCH_HEAD.with(|b| b.borrow().clone())
}

/// Put back the head a job saw before it rolled back to its savepoint.
pub(crate) fn restore_batch_head(held: Option<contracts::AuditHead>) {
    BATCH_HEAD.with(|b| *b.borrow_mut() = held);
}

/// Write the batch's head to `audit_head` (inside the batch transaction,
/// before its commit) and stop holding it; returns the head written.
pub(crate) fn finish_batch(conn: &mut DbConn) -> ApiResult<Option<contracts::AuditHead>> {
    let held = BATCH_HEAD.with(|b| b.borrow_mut().take());
    if let Some(held) = &held {
        crate::on_backend!(conn, |c| HeadStatement::Set(held).execute(c))?;
    }
    Ok(held)
}

/// Stop holding the head without writing it (the batch rolled back).
pub(crate) fn abandon_batch() {
    BATCH_HEAD.with(|b| *b.borrow_mut() = None);
}

/// Whether this thread appended a critical row since the last call (and
/// clear the mark). Used by the writer after a commit.
pub(crate) fn take_critical_mark() -> bool {
    CRITICAL_APPENDED.with(|c| c.replace(false))
}

/// The values of an audit row's `INSERT`, every column bound (`NULL` for
/// an absent one), so the statement has one shape: diesel then finds it
/// in its statement cache by its type. The derived `Insertable` leaves an
/// absent column out, so diesel writes the statement's SQL again at every
/// row to look it up by its text (a quarter of the row's insert in `perf`).
macro_rules! row_values {
    ($row:expr) => {{
        let row: &AuditRow = $row;
        (
            audit_log::seq.eq(row.seq),
            audit_log::occurred_at.eq(row.occurred_at),
            audit_log::actor.eq(row.actor.as_str()),
            audit_log::actor_role.eq(row.actor_role.as_str()),
            audit_log::tenant_id.eq(row.tenant_id.as_deref()),
            audit_log::action.eq(row.action.as_str()),
            audit_log::resource.eq(row.resource.as_str()),
            audit_log::outcome.eq(row.outcome.as_str()),
            audit_log::severity.eq(row.severity.as_str()),
            audit_log::ip.eq(row.ip.as_deref()),
            audit_log::user_agent.eq(row.user_agent.as_deref()),
            audit_log::correlation_id.eq(row.correlation_id.as_deref()),
            audit_log::details.eq(row.details.as_str()),
            audit_log::prev_hash.eq(row.prev_hash.as_str()),
            audit_log::hash.eq(row.hash.as_str()),
        )
    }};
}

/// Append `event` to the chain. Call inside a write transaction.
pub fn append(conn: &mut DbConn, event: &Event, origin: &Origin) -> ApiResult<i64> {
    let row = next_row(&head(conn)?, event, origin);
    // On the backend's own connection: the multi-connection would write
    // this statement's SQL again for every audit row (see find_for_request).
    crate::on_backend!(conn, |c| diesel::insert_into(audit_log::table)
        .values(row_values!(&row))
        .execute(c))?;
    if !hold_in_batch(&row) {
        let head = contracts::AuditHead {
            seq: row.seq,
            hash: row.hash.clone(),
        };
        crate::on_backend!(conn, |c| HeadStatement::Set(&head).execute(c))?;
    }
    Ok(row.seq)
}

/// Append the events of several reads, in order, inside the writer's batch
/// (which holds the head): the rows are chained here and inserted together
/// — on PostgreSQL as one prepared `INSERT … SELECT FROM unnest(…)` of
/// column arrays ([`PgRows`]), one round trip for the whole group; on
/// SQLite, in process, row by row on the one cached statement.
pub(crate) fn append_all<'a>(
    conn: &mut DbConn,
    reads: impl Iterator<Item = (&'a [Event], &'a Origin)>,
) -> ApiResult<()> {
    if batch_head().is_none() {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "append_all outside the writer's batch"
        )));
    }
    let rows = chain(&head(conn)?, reads);
    match conn {
        DbConn::Pg(c) => {
            PgRows::<false>::of(&rows, None).execute(c)?;
        }
        DbConn::Sqlite(c) => {
            for row in &rows {
                diesel::insert_into(audit_log::table)
                    .values(row_values!(row))
                    .execute(c)?;
            }
        }
    }
    if let Some(last) = rows.last() {
        hold_in_batch(last);
    }
    Ok(())
}

/// Append the events of several reads after `at` in one autocommitted
/// PostgreSQL statement — if `at` is still the chain's head. The statement
/// moves `audit_head` from `at` to the last new row and inserts the rows
/// only when that move matched (a data-modifying `WITH`), so it needs no
/// transaction, no lock statement and no savepoint: one round trip and one
/// commit instead of seven round trips. The head row's lock still orders it
/// against every other writer, threads or processes: one that moved the
/// head first makes the guard miss, and nothing is written.
///
/// `Ok(Some(head))`: committed, `head` is the new head. `Ok(None)`: the head
/// was not `at` (another writer appended); nothing was written.
pub(crate) fn append_at_head<'a>(
    conn: &mut diesel::PgConnection,
    at: &contracts::AuditHead,
    reads: impl Iterator<Item = (&'a [Event], &'a Origin)>,
) -> ApiResult<Option<contracts::AuditHead>> {
    let rows = chain(at, reads);
    let Some(last) = rows.last() else {
        return Ok(Some(at.clone()));
    };
    let written = PgRows::<true>::of(&rows, Some(at)).execute(conn)?;
    if written == 0 {
        return Ok(None);
    }
    if written != rows.len() {
        // An autocommitted statement is all or nothing; this cannot be.
        return Err(ApiError::Internal(anyhow::anyhow!(
            "{written} of {} audit rows appended",
            rows.len()
        )));
    }
    Ok(Some(contracts::AuditHead {
        seq: last.seq,
        hash: last.hash.clone(),
    }))
}

/// The rows for the events of `reads`, chained after `at`.
fn chain<'a>(
    at: &contracts::AuditHead,
    reads: impl Iterator<Item = (&'a [Event], &'a Origin)>,
) -> Vec<AuditRow> {
    let mut at = at.clone();
    let mut rows = Vec::new();
    for (events, origin) in reads {
        for event in events {
            let row = next_row(&at, event, origin);
            at = contracts::AuditHead {
                seq: row.seq,
                hash: row.hash.clone(),
            };
            rows.push(row);
        }
    }
    rows
}

/// Audit rows as one PostgreSQL statement: fifteen column arrays
/// `unnest`ed into rows, so one prepared (cached) statement serves any
/// number of rows — diesel does not cache a multi-row `VALUES` insert,
/// whose text changes with the row count, so PostgreSQL would parse and
/// plan each one. `GUARDED`: the statement also moves `audit_head` from
/// the expected head to the last row, and inserts only if that matched
/// ([`append_at_head`]).
struct PgRows<'a, const GUARDED: bool> {
    guard: Option<(&'a contracts::AuditHead, &'a AuditRow)>,
    seq: Vec<i64>,
    occurred_at: Vec<NaiveDateTime>,
    text: [Vec<&'a str>; 9],
    optional: [Vec<Option<&'a str>>; 4],
}

/// The statement-cache identity of [`PgRows`] (one per SQL text).
struct PgRowsId<const GUARDED: bool>;

impl<'a, const GUARDED: bool> PgRows<'a, GUARDED> {
    fn of(rows: &'a [AuditRow], expected: Option<&'a contracts::AuditHead>) -> Self {
        let text = |f: fn(&AuditRow) -> &str| rows.iter().map(f).collect::<Vec<_>>();
        let optional = |f: fn(&AuditRow) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
        Self {
            guard: expected.zip(rows.last()),
            seq: rows.iter().map(|r| r.seq).collect(),
            occurred_at: rows.iter().map(|r| r.occurred_at).collect(),
            text: [
                text(|r| &r.actor),
                text(|r| &r.actor_role),
                text(|r| &r.action),
                text(|r| &r.resource),
                text(|r| &r.outcome),
                text(|r| &r.severity),
                text(|r| &r.details),
                text(|r| &r.prev_hash),
                text(|r| &r.hash),
            ],
            optional: [
                optional(|r| r.tenant_id.as_deref()),
                optional(|r| r.ip.as_deref()),
                optional(|r| r.user_agent.as_deref()),
                optional(|r| r.correlation_id.as_deref()),
            ],
        }
    }
}

impl<const GUARDED: bool> diesel::query_builder::QueryId for PgRows<'_, GUARDED> {
    type QueryId = PgRowsId<GUARDED>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const GUARDED: bool> diesel::query_builder::QueryFragment<diesel::pg::Pg>
    for PgRows<'_, GUARDED>
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp};
        if GUARDED {
            let Some((expected, last)) = self.guard else {
                return Err(diesel::result::Error::QueryBuilderError(
                    "a guarded append needs the expected head".into(),
                ));
            };
            out.push_sql("WITH head AS (UPDATE audit_head SET seq = ");
            out.push_bind_param::<BigInt, _>(&last.seq)?;
            out.push_sql(", hash = ");
            out.push_bind_param::<Text, _>(&last.hash)?;
            out.push_sql(" WHERE id = 1 AND seq = ");
            out.push_bind_param::<BigInt, _>(&expected.seq)?;
            out.push_sql(" AND hash = ");
            out.push_bind_param::<Text, _>(&expected.hash)?;
            out.push_sql(" RETURNING id) ");
        }
        // The column order of `text` and `optional` above.
        out.push_sql(
            "INSERT INTO audit_log (seq, occurred_at, actor, actor_role, action, resource, \
             outcome, severity, details, prev_hash, hash, tenant_id, ip, user_agent, \
             correlation_id) SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&self.seq)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.occurred_at)?;
        for column in &self.text {
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(column)?;
        }
        for column in &self.optional {
            out.push_sql(", ");
            out.push_bind_param::<Array<Nullable<Text>>, _>(column)?;
        }
        out.push_sql(")");
        if GUARDED {
            out.push_sql(" WHERE EXISTS (SELECT 1 FROM head)");
        }
        Ok(())
    }
}

impl<const GUARDED: bool> RunQueryDsl<diesel::PgConnection> for PgRows<'_, GUARDED> {}

/// The row that follows `head` for `event`, hashed.
fn next_row(head: &contracts::AuditHead, event: &Event, origin: &Origin) -> AuditRow {
    if event.severity == Severity::Critical {
        CRITICAL_APPENDED.with(|c| c.set(true));
    }
    let mut row = AuditRow {
        seq: head.seq + 1,
        occurred_at: now(),
        actor: event.actor.clone(),
        actor_role: event.actor_role.clone(),
        tenant_id: event.tenant_id.clone(),
        action: event.action.clone(),
        resource: event.resource.clone(),
        outcome: event.outcome.clone(),
        severity: event.severity.as_str().to_string(),
        ip: origin.ip.clone(),
        user_agent: origin.user_agent.clone(),
        correlation_id: origin.correlation_id.clone(),
        details: event.details.to_string(),
        prev_hash: head.hash.clone(),
        hash: String::new(),
    };
    row.hash = row.compute_hash();
    row
}

/// Move the head the writer holds for its batch to `row`; false when no
/// batch is held (the caller writes `audit_head` itself).
fn hold_in_batch(row: &AuditRow) -> bool {
    BATCH_HEAD.with(|b| {
        let mut b = b.borrow_mut();
        if let Some(held) = b.as_mut() {
            held.seq = row.seq;
            held.hash.clone_from(&row.hash);
            true
        } else {
            false
        }
    })
}

/// What `verify` found.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Verification {
    /// Rows checked.
    pub rows: i64,
    /// The last good seq and hash (the head if intact).
    pub head_seq: i64,
    /// Hash of the last good row.
    pub head_hash: String,
    /// The first problem found, if any.
    pub problem: Option<Problem>,
}

/// A break in the chain.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// The seq of the first bad row (or where a row is missing).
    pub seq: i64,
    /// What is wrong.
    pub reason: String,
}

impl Verification {
    /// True when no problem was found.
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// Walk the whole chain in order and report the first break.
pub fn verify(conn: &mut DbConn) -> ApiResult<Verification> {
    const BATCH: i64 = 1000;
    let mut expected_seq = 1_i64;
    let mut prev_hash = GENESIS_HASH.to_string();
    let mut rows = 0_i64;
    let fail = |seq: i64, reason: String, rows: i64, head_seq: i64, head_hash: &str| Verification {
        rows,
        head_seq,
        head_hash: head_hash.to_string(),
        problem: Some(Problem { seq, reason }),
    };
    loop {
        let batch: Vec<AuditRow> = audit_log::table
            .filter(audit_log::seq.ge(expected_seq))
            .order(audit_log::seq.asc())
            .limit(BATCH)
            .select(AuditRow::as_select())
            .load(conn)?;
        if batch.is_empty() {
            break;
        }
        for row in &batch {
            if row.seq != expected_seq {
                return Ok(fail(
                    expected_seq,
                    format!("row {expected_seq} is missing"),
                    rows,
                    expected_seq - 1,
                    &prev_hash,
                ));
            }
            if row.prev_hash != prev_hash {
                return Ok(fail(
                    row.seq,
                    "prev_hash does not match the previous row".into(),
                    rows,
                    expected_seq - 1,
                    &prev_hash,
                ));
            }
            if row.compute_hash() != row.hash {
                return Ok(fail(
                    row.seq,
                    "row content does not match its hash".into(),
                    rows,
                    expected_seq - 1,
                    &prev_hash,
                ));
            }
            prev_hash = row.hash.clone();
            expected_seq += 1;
            rows += 1;
        }
    }
    // Rows before seq 1 (or with a negative seq) would be insertions too.
    let stray: i64 = audit_log::table
        .filter(audit_log::seq.lt(1))
        .count()
        .get_result(conn)?;
    if stray > 0 {
        return Ok(fail(
            0,
            "rows with seq below 1 were inserted".into(),
            rows,
            rows,
            &prev_hash,
        ));
    }
    let contracts::AuditHead {
        seq: head_seq,
        hash: head_hash,
    } = head(conn)?;
    if head_seq != rows || head_hash != prev_hash {
        // The first bad row: the first one past the recorded head (rows were
        // appended), the first one cut off the end, or the last one (it was
        // rewritten with a fresh hash).
        let first_bad = match head_seq.cmp(&rows) {
            std::cmp::Ordering::Less => head_seq + 1,
            std::cmp::Ordering::Greater => rows + 1,
            std::cmp::Ordering::Equal => rows,
        };
        return Ok(fail(
            first_bad,
            format!("chain ends at seq {rows} but the recorded head is seq {head_seq}"),
            rows,
            rows,
            &prev_hash,
        ));
    }
    Ok(Verification {
        rows,
        head_seq: rows,
        head_hash: prev_hash,
        problem: None,
    })
}

/// The hash of the row at `seq`, if there is one.
pub fn hash_at(conn: &mut DbConn, seq: i64) -> ApiResult<Option<String>> {
    Ok(audit_log::table
        .filter(audit_log::seq.eq(seq))
        .select(audit_log::hash)
        .first(conn)
        .optional()?)
}

/// Compare the local chain with anchors held elsewhere: the first anchor
/// whose position is missing or whose hash differs.
pub fn check_anchors(conn: &mut DbConn, anchors: &[(i64, String)]) -> ApiResult<Option<Problem>> {
    for (seq, hash) in anchors {
        match hash_at(conn, *seq)? {
            None => {
                return Ok(Some(Problem {
                    seq: *seq,
                    reason: format!("row {seq} is anchored on company but missing here"),
                }))
            }
            Some(h) if &h != hash => {
                return Ok(Some(Problem {
                    seq: *seq,
                    reason: format!("row {seq} differs from the hash anchored on company"),
                }))
            }
            Some(_) => {}
        }
    }
    Ok(None)
}

/// Filters for listing the audit log.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `.` (e.g. `auth.`).
    pub action: Option<String>,
    /// Exact resource (`patient:<id>`).
    pub resource: Option<String>,
    /// `success`, `failure`, `denied`.
    pub outcome: Option<String>,
    /// `info`, `warning`, `critical`.
    pub severity: Option<String>,
    /// Only this tenant (forced for tenant-scoped callers).
    pub tenant_id: Option<String>,
    /// From this time (inclusive, RFC 3339 or `YYYY-MM-DDTHH:MM:SS`).
    pub since: Option<NaiveDateTime>,
    /// Until this time (exclusive).
    pub until: Option<NaiveDateTime>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

/// The audit rows `filter` selects, as a boxed query for backend `$db`
/// (the API's multi-backend; a plan test's SQLite).
macro_rules! filtered_for {
    ($filter:expr, $db:ty) => {{
        let filter: &Filter = $filter;
        let mut q = audit_log::table.into_boxed::<$db>();
        if let Some(v) = &filter.actor {
            q = q.filter(audit_log::actor.eq(v.clone()));
        }
        if let Some(v) = &filter.action {
            if let Some(prefix) = v.strip_suffix('.') {
                q = q.filter(
                    audit_log::action
                        .like(format!("{}.%", escape_like(prefix)))
                        .escape('\\'),
                );
            } else {
                q = q.filter(audit_log::action.eq(v.clone()));
            }
        }
        if let Some(v) = &filter.outcome {
            q = q.filter(audit_log::outcome.eq(v.clone()));
        }
        if let Some(v) = &filter.resource {
            q = q.filter(audit_log::resource.eq(v.clone()));
        }
        if let Some(v) = &filter.severity {
            q = q.filter(audit_log::severity.eq(v.clone()));
        }
        if let Some(v) = &filter.tenant_id {
            q = q.filter(audit_log::tenant_id.eq(v.clone()));
        }
        if let Some(v) = filter.since {
            q = q.filter(audit_log::occurred_at.ge(v));
        }
        if let Some(v) = filter.until {
            q = q.filter(audit_log::occurred_at.lt(v));
        }
        q
    }};
}

/// The audit rows `filter` selects, as a boxed query (for both the count
/// and the page).
fn filtered(filter: &Filter) -> audit_log::BoxedQuery<'static, DbBackend> {
    filtered_for!(filter, DbBackend)
}

/// One resource's page of the audit log (a patient's access log), for
/// backend `$db`: the page's `seq`s, newest first, which
/// `audit_log_resource` holds (`list` then reads their rows by key). Asked
/// for the rows at once, PostgreSQL's planner may walk the whole log newest
/// first by its key and filter, expecting the resource's rows to be spread
/// evenly over it — for a patient whose reads are all long past that reads
/// every row since (tested:
/// `on_postgres_a_resources_access_log_reads_its_own_rows_not_the_tenants`);
/// for the `seq`s alone the index is the cheaper path by far.
macro_rules! resource_page_for {
    ($filter:expr, $page:expr, $db:ty) => {{
        let page: &Page = $page;
        filtered_for!($filter, $db)
            .order(audit_log::seq.desc())
            .limit(page.page_size)
            .offset(page.offset())
            .select(audit_log::seq)
    }};
}

/// The rows of `$seqs`, newest first, by key (the second half of a
/// resource's page, [`resource_page_for`]).
macro_rules! rows_by_seq_for {
    ($seqs:expr, $db:ty) => {
        audit_log::table
            .into_boxed::<$db>()
            .filter(audit_log::seq.eq_any($seqs))
            .order(audit_log::seq.desc())
            .select(AuditRow::as_select())
    };
}

/// A page of the audit log, newest first, and the total matching.
pub fn list(conn: &mut DbConn, filter: &Filter, page: &Page) -> ApiResult<(Vec<AuditRow>, i64)> {
    let total: i64 = filtered(filter).count().get_result(conn)?;
    let rows = if filter.resource.is_some() {
        let seqs: Vec<i64> = resource_page_for!(filter, page, DbBackend).load(conn)?;
        if seqs.is_empty() {
            Vec::new()
        } else {
            rows_by_seq_for!(seqs, DbBackend).load(conn)?
        }
    } else {
        filtered(filter)
            .order(audit_log::seq.desc())
            .limit(page.page_size)
            .offset(page.offset())
            .select(AuditRow::as_select())
            .load(conn)?
    };
    Ok((rows, total))
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash input is byte for byte what it was when it was built as a
    /// `json!` array (rows already stored must still verify).
    #[test]
    fn the_hash_input_is_unchanged() {
        let row = AuditRow {
            seq: 42,
            occurred_at: chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
                .and_then(|d| d.and_hms_micro_opt(6, 5, 4, 3))
                .unwrap_or_default(),
            actor: "dr \"quote\" \\ ü".into(),
            actor_role: "doctor".into(),
            tenant_id: None,
            action: "patient.read".into(),
            resource: "patient:1\n2".into(),
            outcome: "success".into(),
            severity: "info".into(),
            ip: Some("127.0.0.1".into()),
            user_agent: None,
            correlation_id: Some("c\u{1}".into()),
            details: r#"{"a":1}"#.into(),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        };
        let before = serde_json::json!([
            row.seq,
            row.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
            row.actor,
            row.actor_role,
            row.tenant_id,
            row.action,
            row.resource,
            row.outcome,
            row.severity,
            row.ip,
            row.user_agent,
            row.correlation_id,
            row.details,
            row.prev_hash,
        ]);
        assert_eq!(
            row.compute_hash(),
            hex::encode(Sha256::digest(before.to_string().as_bytes()))
        );
    }

    /// A patient's access log (the audit list filtered by tenant and
    /// resource) finds that resource's page and count in
    /// `audit_log_resource` alone, newest first without a sort, then reads
    /// the page's rows by key — not every row of the tenant through
    /// `audit_log_tenant`, as it did before that index and its statistics.
    #[test]
    fn a_resources_access_log_reads_its_own_rows_not_the_tenants() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/a.db", dir.path().display());
        let db = Db::open(
            &url,
            2,
            std::time::Duration::from_secs(5),
            crate::db::KERNEL_MIGRATIONS,
        )
        .expect("db");
        let mut conn = db.conn().expect("a connection");
        let filter = Filter {
            tenant_id: Some("tenant-1".into()),
            resource: Some("patient:p-1".into()),
            ..Default::default()
        };
        // The API's queries (`list`), built for SQLite to print their SQL.
        type Lite = diesel::sqlite::Sqlite;
        let page = Page::of(Some(1), Some(20)).expect("page");
        let seqs = resource_page_for!(&filter, &page, Lite);
        let count = filtered_for!(&filter, Lite).count();
        let rows = rows_by_seq_for!(vec![3_i64, 2, 1], Lite);
        let by_index = "USING COVERING INDEX audit_log_resource (resource=? AND tenant_id=?)";
        for (what, sql, by) in [
            (
                "page",
                diesel::debug_query::<Lite, _>(&seqs).to_string(),
                by_index,
            ),
            (
                "count",
                diesel::debug_query::<Lite, _>(&count).to_string(),
                by_index,
            ),
            (
                "rows",
                diesel::debug_query::<Lite, _>(&rows).to_string(),
                "USING INTEGER PRIMARY KEY (rowid=?)",
            ),
        ] {
            let steps = crate::db::sqlite_plan(&mut conn, &sql).expect("a plan");
            assert!(steps.iter().any(|s| s.contains(by)), "{what}: {steps:?}");
            assert!(
                !steps.iter().any(|s| s.starts_with("SCAN")
                    || s.contains("TEMP B-TREE")
                    || s.contains("audit_log_tenant")),
                "{what}: {steps:?}"
            );
        }
    }

    /// The same on PostgreSQL, with its planner's own statistics: 40,000
    /// rows of two tenants; one patient's 1,000 reads all long past (the
    /// oldest rows), 4,000 others' spread over the rest; analysed. Asked
    /// for the page's rows at once, the planner walked the whole log
    /// newest first by its key ("Index Scan Backward using audit_log_pkey",
    /// 38,000 rows read for 20); `list` asks `audit_log_resource` for the
    /// page's `seq`s (an index-only scan), and counts from it alone.
    #[test]
    #[ignore = "needs PostgreSQL (BULKHEAD_TEST_PG_URL; make test-pg)"]
    fn on_postgres_a_resources_access_log_reads_its_own_rows_not_the_tenants() {
        use diesel::connection::SimpleConnection;
        let pg = testdb::PgDatabase::create(&testdb::require_pg(), "bh_access_plan").expect("db");
        let db = Db::open(
            &pg.url(),
            1,
            std::time::Duration::from_secs(5),
            crate::db::KERNEL_MIGRATIONS,
        )
        .expect("db");
        let mut conn = db.conn().expect("a connection");
        conn.batch_execute(
            "INSERT INTO audit_log (seq, occurred_at, actor, actor_role, tenant_id, action, \
               resource, outcome, severity, details, prev_hash, hash) \
             SELECT g, now(), 'user-' || (g % 50), 'doctor', 'tenant-' || (g % 2), 'patient.read', \
               CASE WHEN g < 3000 THEN 'patient:past' ELSE 'patient:p-' || (g % 4000) END, \
               'success', 'info', '{}', '', '' \
             FROM generate_series(1000, 40999) AS g",
        )
        .expect("rows");
        // Statistics, and the visibility map an index-only scan relies on.
        conn.batch_execute("VACUUM ANALYZE audit_log")
            .expect("vacuum");
        type Pg = diesel::pg::Pg;
        let page = Page::of(Some(1), Some(20)).expect("page");
        for (patient, many) in [("patient:past", true), ("patient:p-2", false)] {
            let filter = Filter {
                tenant_id: Some("tenant-0".into()),
                resource: Some(patient.into()),
                ..Default::default()
            };
            let seqs =
                diesel::debug_query::<Pg, _>(&resource_page_for!(&filter, &page, Pg)).to_string();
            let count =
                diesel::debug_query::<Pg, _>(&filtered_for!(&filter, Pg).count()).to_string();
            // `filtered_for!` binds the resource before the tenant.
            let (resource, tenant) = (format!("'{patient}'"), "'tenant-0'".to_string());
            for (what, sql, params) in [
                (
                    "page",
                    seqs,
                    vec![resource.as_str(), tenant.as_str(), "20", "0"],
                ),
                ("count", count, vec![resource.as_str(), tenant.as_str()]),
            ] {
                let steps = crate::db::pg_plan(&mut conn, &sql, &params).expect("a plan");
                let by = match (many, what) {
                    (true, "page") => "Index Only Scan Backward using audit_log_resource",
                    (true, _) => "Index Only Scan using audit_log_resource",
                    (false, _) => "audit_log_resource",
                };
                assert!(
                    steps.iter().any(|s| s.contains(by)),
                    "{patient} {what}: {steps:?}"
                );
                assert!(
                    !steps.iter().any(|s| s.contains("Seq Scan")
                        || s.contains("audit_log_pkey")
                        || (many && s.contains("Sort"))
                        || s.contains("audit_log_tenant")),
                    "{patient} {what}: {steps:?}"
                );
            }
        }
        let rows =
            diesel::debug_query::<Pg, _>(&rows_by_seq_for!(vec![3_i64, 2, 1], Pg)).to_string();
        let steps =
            crate::db::pg_plan(&mut conn, &rows, &["ARRAY[3, 2, 1]::bigint[]"]).expect("a plan");
        assert!(
            steps.iter().any(|s| s.contains("using audit_log_pkey"))
                && !steps.iter().any(|s| s.contains("Seq Scan")),
            "rows: {steps:?}"
        );
    }

    /// Whether diesel finds `_query` in its statement cache by its type.
    fn cached_by_type<Q: diesel::query_builder::QueryId>(_query: &Q) -> bool {
        Q::HAS_STATIC_QUERY_ID
    }

    /// An audit row's insert has one shape whatever its absent columns, so
    /// diesel looks it up by type instead of writing its SQL at every row;
    /// the derived `Insertable` (absent columns left out) could not be.
    #[test]
    fn an_audit_rows_insert_is_cached_by_its_type() {
        let mut row = AuditRow {
            seq: 1,
            occurred_at: now(),
            actor: "a".into(),
            actor_role: "doctor".into(),
            tenant_id: None,
            action: "patient.read".into(),
            resource: "patient:1".into(),
            outcome: "success".into(),
            severity: "info".into(),
            ip: None,
            user_agent: None,
            correlation_id: None,
            details: "{}".into(),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        };
        assert!(cached_by_type(
            &diesel::insert_into(audit_log::table).values(row_values!(&row))
        ));
        row.ip = Some("127.0.0.1".into());
        assert!(cached_by_type(
            &diesel::insert_into(audit_log::table).values(row_values!(&row))
        ));
        assert!(
            !cached_by_type(&diesel::insert_into(audit_log::table).values(&row)),
            "the derived Insertable is not cacheable by type (else this test proves nothing)"
        );
    }
}
