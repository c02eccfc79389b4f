//! The company server's own tables.

diesel::table! {
    security_events (seq) {
        seq -> BigInt,
        source_service -> Text,
        source_tenant -> Text,
        event_id -> Text,
        kind -> Text,
        severity -> Text,
        actor -> Text,
        details -> Text,
        occurred_at -> Timestamp,
        received_at -> Timestamp,
    }
}

diesel::table! {
    audit_anchors (seq) {
        seq -> BigInt,
        source_service -> Text,
        source_tenant -> Text,
        chain_seq -> BigInt,
        chain_hash -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    pull_cursors (source) {
        source -> Text,
        position -> BigInt,
    }
}

diesel::table! {
    dev_signing_keys (id) {
        id -> Text,
        name -> Text,
        public_key -> Text,
        owner_username -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    releases (id) {
        id -> Text,
        product -> Text,
        version -> Text,
        sha256 -> Text,
        size -> BigInt,
        notes -> Text,
        min_schema_version -> BigInt,
        signature -> Text,
        signing_key_id -> Text,
        signer_username -> Text,
        dev_created_at -> Timestamp,
        received_at -> Timestamp,
        status -> Text,
        promoted_by -> Nullable<Text>,
        promoted_by_username -> Nullable<Text>,
        promoted_at -> Nullable<Timestamp>,
        approved_by -> Nullable<Text>,
        approved_by_username -> Nullable<Text>,
        approved_at -> Nullable<Timestamp>,
        approval -> Nullable<Text>,
        countersignature -> Nullable<Text>,
        rejected_by -> Nullable<Text>,
        rejected_at -> Nullable<Timestamp>,
        reject_reason -> Nullable<Text>,
    }
}

diesel::table! {
    plane_sources (source_service, source_tenant) {
        source_service -> Text,
        source_tenant -> Text,
        backlog -> Nullable<BigInt>,
        reported_at -> Timestamp,
    }
}

diesel::table! {
    deid_reports (seq) {
        seq -> BigInt,
        tenant_id -> Text,
        report_id -> Text,
        period_from -> Text,
        period_to -> Text,
        suppress_below -> BigInt,
        body -> Text,
        sha256 -> Text,
        cells -> BigInt,
        suppressed -> BigInt,
        received_at -> Timestamp,
    }
}

diesel::table! {
    alert_rules (id) {
        id -> Text,
        name -> Text,
        kind_pattern -> Text,
        min_severity -> Text,
        threshold -> BigInt,
        window_minutes -> BigInt,
        per -> Text,
        enabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    alerts (id) {
        id -> Text,
        rule_id -> Text,
        rule_name -> Text,
        group_key -> Text,
        first_event_seq -> BigInt,
        last_event_seq -> BigInt,
        event_count -> BigInt,
        severity -> Text,
        window_start -> Timestamp,
        window_end -> Timestamp,
        raised_at -> Timestamp,
        acknowledged_by -> Nullable<Text>,
        acknowledged_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    report_cells (tenant_id, week, measure, department, age_band, sex) {
        tenant_id -> Text,
        week -> Text,
        measure -> Text,
        department -> Text,
        age_band -> Text,
        sex -> Text,
        value -> Nullable<BigInt>,
        report_seq -> BigInt,
    }
}

diesel::table! {
    teams (id) {
        id -> Text,
        name -> Text,
        lead_user_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    team_members (team_id, user_id) {
        team_id -> Text,
        user_id -> Text,
        added_at -> Timestamp,
    }
}

diesel::joinable!(team_members -> teams (team_id));
diesel::allow_tables_to_appear_in_same_query!(teams, team_members);
