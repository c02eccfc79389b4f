//! Tables every server's database has (created by `migrations/common`).
//! Written by hand with only the types both backends share. The columns
//! are documented by the migrations that create them.
// diesel's `table!` generates an item per column; the migrations are their docs.
#![allow(missing_docs)]

diesel::table! {
    users (id) {
        id -> Text,
        tenant_id -> Text,
        username -> Text,
        email -> Nullable<Text>,
        full_name -> Nullable<Text>,
        password_hash -> Text,
        role -> Text,
        active -> Bool,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        last_login_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        must_change_password -> Bool,
        session_epoch -> Integer,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (seq) {
        seq -> BigInt,
        occurred_at -> Timestamp,
        actor -> Text,
        actor_role -> Text,
        tenant_id -> Nullable<Text>,
        action -> Text,
        resource -> Text,
        outcome -> Text,
        severity -> Text,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        correlation_id -> Nullable<Text>,
        details -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    enrolment_codes (code_hash) {
        code_hash -> Text,
        tenant_id -> Text,
        subject -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    user_mfa (user_id) {
        user_id -> Text,
        secret -> Text,
        enabled -> Bool,
        last_step -> BigInt,
        backup_codes -> Text,
        updated_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    revoked_tokens,
    audit_log,
    audit_head,
    enrolment_codes
);

diesel::table! {
    security_outbox (seq) {
        seq -> BigInt,
        id -> Text,
        kind -> Text,
        severity -> Text,
        actor -> Text,
        tenant_id -> Nullable<Text>,
        details -> Text,
        occurred_at -> Timestamp,
        attempts -> Integer,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    index_keys (key_id) {
        key_id -> Text,
        tenant_id -> Text,
        version -> Integer,
        wrapped -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    data_keys (key_id) {
        key_id -> Text,
        tenant_id -> Text,
        generation -> Integer,
        wrapped -> Text,
        active -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    web_sessions (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        jti -> Text,
        session_epoch -> Integer,
        csrf_token -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        auth_session_id -> Nullable<Text>,
    }
}

diesel::table! {
    auth_sessions (id) {
        id -> Text,
        user_id -> Text,
        tenant_id -> Nullable<Text>,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
        expires_at -> Timestamp,
        idle_timeout_secs -> BigInt,
        address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        ended_at -> Nullable<Timestamp>,
        ended_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        issued_at -> Timestamp,
        spent_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(refresh_tokens -> auth_sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(users, auth_sessions, refresh_tokens);
diesel::allow_tables_to_appear_in_same_query!(revoked_tokens, auth_sessions);
diesel::allow_tables_to_appear_in_same_query!(user_mfa, users);
diesel::allow_tables_to_appear_in_same_query!(user_mfa, revoked_tokens);
diesel::allow_tables_to_appear_in_same_query!(user_mfa, auth_sessions);
diesel::allow_tables_to_appear_in_same_query!(web_sessions, auth_sessions);

diesel::table! {
    update_state (id) {
        id -> Integer,
        status -> Text,
        current_version -> Text,
        version -> Nullable<Text>,
        release_id -> Nullable<Text>,
        sha256 -> Nullable<Text>,
        staged_path -> Nullable<Text>,
        detail -> Nullable<Text>,
        checked_at -> Timestamp,
    }
}

diesel::table! {
    rbac_roles (tenant_id, name) {
        tenant_id -> Text,
        name -> Text,
        permissions -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    rbac_versions (tenant_id) {
        tenant_id -> Text,
        version -> BigInt,
    }
}
