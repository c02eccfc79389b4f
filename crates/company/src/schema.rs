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
