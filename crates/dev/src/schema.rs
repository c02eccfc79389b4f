//! The dev server's own tables.

diesel::table! {
    signing_keys (id) {
        id -> Text,
        name -> Text,
        public_key -> Text,
        owner_id -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
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
        uploaded_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(releases -> signing_keys (signing_key_id));
diesel::allow_tables_to_appear_in_same_query!(signing_keys, releases);
