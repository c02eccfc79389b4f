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

diesel::table! {
    sandbox_state (id) {
        id -> Integer,
        seed -> BigInt,
        hospitals -> BigInt,
        staff -> BigInt,
        patients -> BigInt,
        records -> BigInt,
        generated_by -> Text,
        generated_at -> Timestamp,
    }
}

diesel::table! {
    sandbox_hospitals (id) {
        id -> Text,
        name -> Text,
        city -> Text,
    }
}

diesel::table! {
    sandbox_staff (id) {
        id -> Text,
        hospital_id -> Text,
        name -> Text,
        role -> Text,
        department -> Text,
    }
}

diesel::table! {
    sandbox_patients (id) {
        id -> Text,
        hospital_id -> Text,
        mrn -> Text,
        given_name -> Text,
        family_name -> Text,
        sex -> Text,
        birth_date -> Text,
        department -> Text,
        doctor_id -> Text,
    }
}

diesel::table! {
    sandbox_records (id) {
        id -> Text,
        patient_id -> Text,
        kind -> Text,
        recorded_on -> Text,
        code -> Text,
        summary -> Text,
    }
}

diesel::joinable!(sandbox_staff -> sandbox_hospitals (hospital_id));
diesel::joinable!(sandbox_patients -> sandbox_hospitals (hospital_id));
diesel::joinable!(sandbox_records -> sandbox_patients (patient_id));
diesel::allow_tables_to_appear_in_same_query!(
    sandbox_hospitals,
    sandbox_staff,
    sandbox_patients,
    sandbox_records
);

diesel::table! {
    config_versions (id) {
        id -> Text,
        kind -> Text,
        version -> BigInt,
        document -> Text,
        sha256 -> Text,
        reason -> Text,
        author_id -> Text,
        rolled_back_to -> Nullable<BigInt>,
        created_at -> Timestamp,
        published_release_id -> Nullable<Text>,
        published_by -> Nullable<Text>,
        published_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(config_versions -> releases (published_release_id));
diesel::allow_tables_to_appear_in_same_query!(config_versions, releases);
