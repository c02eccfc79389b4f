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
    }
}
