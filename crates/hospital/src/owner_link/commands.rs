//! Owner's commands, applied once per id (`owner_commands`), and their
//! results, reported in heartbeats until owner has them.

use common::accounts::create::{self, Creator};
use common::accounts::store::NewUser;
use common::accounts::validate::{validate_email, validate_full_name, validate_username};
use common::audit::Origin;
use common::auth::TenantGate;
use common::db::{now, DbConn};
use common::{ApiError, ApiResult};
use contracts::{CommandResult, CreateUserCommand, OwnerCommand};
use diesel::prelude::*;

use super::standing::GATE;
use crate::schema::owner_commands;

/// Results owner has not acknowledged yet.
pub fn unacked(conn: &mut DbConn, tenant: &str) -> ApiResult<Vec<CommandResult>> {
    type Row = (String, bool, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Row> = owner_commands::table
        .filter(owner_commands::tenant_id.eq(tenant))
        .filter(owner_commands::acked_at.is_null())
        .order(owner_commands::applied_at.asc())
        .limit(200)
        .select((
            owner_commands::id,
            owner_commands::ok,
            owner_commands::user_id,
            owner_commands::code,
            owner_commands::message,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, ok, user_id, code, message)| CommandResult {
            id,
            ok,
            user_id,
            code,
            message,
        })
        .collect())
}

/// Owner has these results.
pub fn mark_acked(conn: &mut DbConn, ids: &[String]) -> ApiResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(owner_commands::table.filter(owner_commands::id.eq_any(ids)))
        .set(owner_commands::acked_at.eq(Some(now())))
        .execute(conn)?;
    Ok(())
}

/// Apply `cmd` for `tenant` unless it was applied already. Returns whether
/// it was new.
pub fn apply(conn: &mut DbConn, tenant: &str, cmd: &OwnerCommand) -> ApiResult<bool> {
    if cmd.id.is_empty() || cmd.id.len() > 64 {
        return Ok(false);
    }
    let seen = owner_commands::table
        .filter(owner_commands::id.eq(&cmd.id))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if seen {
        return Ok(false);
    }
    // The command's own writes in a savepoint: a refused one leaves nothing
    // but its result row.
    let outcome =
        conn.transaction::<_, ApiError, _>(|c| match (cmd.kind.as_str(), &cmd.create_user) {
            ("create_user", Some(u)) => create_user(c, tenant, &cmd.id, u).map(Some),
            ("sync_now", None) => {
                // The shipper wakes and queues its first writer job behind
                // this one: the batch follows the command's commit.
                crate::backup::ship::request_now();
                Ok(None)
            }
            _ => Err(ApiError::validation(format!(
                "unknown command `{}`",
                cmd.kind
            ))),
        });
    let (ok, user_id, code, message) = match outcome {
        Ok(id) => (true, id, None, None),
        Err(ApiError::Internal(e)) => return Err(ApiError::Internal(e)),
        Err(e) => (false, None, Some(e.code().to_string()), Some(e.to_string())),
    };
    diesel::insert_into(owner_commands::table)
        .values((
            owner_commands::id.eq(&cmd.id),
            owner_commands::tenant_id.eq(tenant),
            owner_commands::kind.eq(&cmd.kind),
            owner_commands::ok.eq(ok),
            owner_commands::user_id.eq(user_id),
            owner_commands::code.eq(code),
            owner_commands::message.eq(message),
            owner_commands::applied_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(true)
}

fn create_user(
    conn: &mut DbConn,
    tenant: &str,
    command: &str,
    u: &CreateUserCommand,
) -> ApiResult<String> {
    validate_username(&u.username)?;
    if u.role == "patient" || !crate::SPEC.roles().contains(&u.role.as_str()) {
        return Err(ApiError::field(
            "role",
            format!("`{}` is not a staff role here", u.role),
        ));
    }
    if let Some(e) = &u.email {
        validate_email(e)?;
    }
    if let Some(n) = &u.full_name {
        validate_full_name(n)?;
    }
    if !u.password_hash.starts_with("$2") || u.password_hash.len() != 60 {
        return Err(ApiError::field("password_hash", "must be a bcrypt hash"));
    }
    GATE.check_new_account(conn, tenant, &u.role)?;
    let mut user = NewUser::new(tenant, &u.username, u.password_hash.clone(), &u.role);
    user.email = u.email.clone();
    user.full_name = u.full_name.clone();
    // The password was chosen by the owner operator: the user replaces it.
    user.must_change_password = true;
    let by = Creator {
        actor: "owner",
        role: "system",
    };
    let origin = Origin {
        correlation_id: Some(format!("owner-command:{command}")),
        ..Origin::default()
    };
    create::insert(conn, &user, by, &origin)?;
    Ok(user.id)
}
