//! The owner server's own tables.

diesel::table! {
    tenants (id) {
        id -> Text,
        name -> Text,
        slug -> Text,
        status -> Text,
        demo -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        db_name -> Nullable<Text>,
        region -> Text,
        plan_id -> Nullable<Text>,
    }
}

diesel::table! {
    plans (id) {
        id -> Text,
        name -> Text,
        max_staff -> Nullable<BigInt>,
        max_patients -> Nullable<BigInt>,
        max_storage_mb -> Nullable<BigInt>,
        modules -> Text,
        features -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    tenant_first_admins (tenant_id) {
        tenant_id -> Text,
        email -> Text,
        first_name -> Text,
        last_name -> Text,
        password_hash -> Text,
        provisioned_at -> Nullable<Timestamp>,
        provisioned_by -> Nullable<Text>,
    }
}

diesel::table! {
    tenant_health (tenant_id) {
        tenant_id -> Text,
        backend -> Text,
        db_size_bytes -> Nullable<BigInt>,
        migration_version -> Text,
        last_write_at -> Nullable<Timestamp>,
        audit_seq -> BigInt,
        audit_hash -> Text,
        pool_in_use -> BigInt,
        pool_size -> BigInt,
        disk_free_bytes -> Nullable<BigInt>,
        interval_secs -> BigInt,
        received_at -> Timestamp,
        files_backend -> Nullable<Text>,
        files_reachable -> Nullable<Bool>,
        files_stored_bytes -> Nullable<BigInt>,
        files_objects -> Nullable<BigInt>,
        files_quota_bytes -> Nullable<BigInt>,
        update_status -> Nullable<Text>,
        update_current_version -> Nullable<Text>,
        update_version -> Nullable<Text>,
        update_checked_at -> Nullable<Timestamp>,
        update_detail -> Nullable<Text>,
        sync_pending_changes -> Nullable<BigInt>,
        sync_oldest_pending_at -> Nullable<Timestamp>,
        sync_last_batch_no -> Nullable<BigInt>,
        sync_last_shipped_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    tenant_staff (tenant_id, username) {
        tenant_id -> Text,
        username -> Text,
        role -> Text,
        active -> Bool,
        last_login_at -> Nullable<Timestamp>,
        reported_at -> Timestamp,
    }
}

diesel::table! {
    tenant_commands (id) {
        id -> Text,
        tenant_id -> Text,
        kind -> Text,
        payload -> Text,
        status -> Text,
        result -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        completed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    tenant_backups (tenant_id, batch_no) {
        tenant_id -> Text,
        batch_no -> BigInt,
        first_seq -> BigInt,
        last_seq -> BigInt,
        rows -> BigInt,
        bytes -> BigInt,
        sha256 -> Text,
        created_at -> Timestamp,
        received_at -> Timestamp,
        body -> Binary,
    }
}

diesel::joinable!(tenants -> plans (plan_id));
diesel::joinable!(tenant_health -> tenants (tenant_id));
diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    plans,
    tenant_first_admins,
    tenant_health,
    tenant_staff,
    tenant_commands,
    tenant_backups
);
