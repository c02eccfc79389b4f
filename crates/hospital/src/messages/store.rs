//! Queries on `messages`.

use chrono::NaiveDateTime;
use common::crypto::{Aad, Keyring};
use common::db::{DbConn, Page};
use common::ApiResult;
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::messages;

/// A stored message (one recipient's copy).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = messages)]
pub struct Message {
    /// Row id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// One send's rows share it.
    pub send_id: String,
    /// Who wrote it.
    pub sender_id: String,
    /// Whose copy this is.
    pub recipient_id: String,
    /// The patient whose care team it was sent to, if so.
    pub patient_id: Option<String>,
    /// Sealed body.
    pub body_enc: String,
    /// When.
    pub sent_at: NaiveDateTime,
}

/// A message as its recipient sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    /// Message id.
    pub id: String,
    /// One send's copies share it.
    pub send_id: String,
    /// Sender's user id.
    pub from: String,
    /// Recipient's user id (the caller).
    pub to: String,
    /// The patient whose care team it was sent to, if so.
    pub patient_id: Option<String>,
    /// The text.
    pub body: String,
    /// When it was sent.
    pub sent_at: NaiveDateTime,
}

/// The associated data of message `id`'s body.
pub fn aad(tenant: &str, id: &str) -> Aad {
    Aad::new(tenant, "messages", "body", id)
}

/// Insert one recipient's copy.
pub fn insert(conn: &mut DbConn, m: &Message) -> ApiResult<()> {
    diesel::insert_into(messages::table)
        .values(m)
        .execute(conn)?;
    Ok(())
}

/// Decrypt for its recipient.
pub fn to_view(conn: &mut DbConn, keyring: &Keyring, m: &Message) -> ApiResult<MessageView> {
    Ok(MessageView {
        id: m.id.clone(),
        send_id: m.send_id.clone(),
        from: m.sender_id.clone(),
        to: m.recipient_id.clone(),
        patient_id: m.patient_id.clone(),
        body: keyring.decrypt(conn, &m.tenant_id, &m.body_enc, &aad(&m.tenant_id, &m.id))?,
        sent_at: m.sent_at,
    })
}

/// A page of `user`'s inbox, newest first, and its total.
pub fn inbox(
    conn: &mut DbConn,
    tenant: &str,
    user: &str,
    page: &Page,
) -> ApiResult<(Vec<Message>, i64)> {
    let total: i64 = messages::table
        .filter(messages::tenant_id.eq(tenant))
        .filter(messages::recipient_id.eq(user))
        .count()
        .get_result(conn)?;
    let rows = messages::table
        .filter(messages::tenant_id.eq(tenant))
        .filter(messages::recipient_id.eq(user))
        .order((messages::sent_at.desc(), messages::id.asc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(Message::as_select())
        .load(conn)?;
    Ok((rows, total))
}
