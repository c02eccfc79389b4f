//! The hospital server's own tables.

diesel::table! {
    departments (id) {
        id -> Text,
        tenant_id -> Text,
        code -> Text,
        name -> Text,
        clinical_module -> Bool,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    patients (id) {
        id -> Text,
        tenant_id -> Text,
        mrn_enc -> Text,
        mrn_idx -> Text,
        first_name_enc -> Text,
        first_name_idx -> Text,
        last_name_enc -> Text,
        last_name_idx -> Text,
        dob_enc -> Text,
        dob_idx -> Text,
        sex -> Text,
        contact_enc -> Nullable<Text>,
        address_enc -> Nullable<Text>,
        emergency_contact_enc -> Nullable<Text>,
        insurance_enc -> Nullable<Text>,
        allergies_enc -> Nullable<Text>,
        blood_type_enc -> Nullable<Text>,
        portal_user_id -> Nullable<Text>,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
        deleted_at -> Nullable<Timestamp>,
        deleted_by -> Nullable<Text>,
        version -> BigInt,
        index_version -> Integer,
        insurance_eligibility -> Text,
        insurance_checked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    reencrypt_progress (tenant_id) {
        tenant_id -> Text,
        key_id -> Text,
        index_version -> Integer,
        cursor -> Text,
        resealed -> BigInt,
        done -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    mrn_counters (tenant_id) {
        tenant_id -> Text,
        next_value -> BigInt,
    }
}

diesel::table! {
    care_team (id) {
        id -> Text,
        tenant_id -> Text,
        patient_id -> Text,
        user_id -> Text,
        member_role -> Text,
        added_by -> Text,
        added_at -> Timestamp,
        removed_by -> Nullable<Text>,
        removed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    break_glass (id) {
        id -> Text,
        tenant_id -> Text,
        patient_id -> Text,
        user_id -> Text,
        reason_enc -> Text,
        granted_at -> Timestamp,
        expires_at -> Timestamp,
        acknowledged_by -> Nullable<Text>,
        acknowledged_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    doctor_schedules (tenant_id, doctor_id, weekday) {
        tenant_id -> Text,
        doctor_id -> Text,
        weekday -> Integer,
        start_minute -> Integer,
        end_minute -> Integer,
        slot_minutes -> Integer,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    doctor_time_off (id) {
        id -> Text,
        tenant_id -> Text,
        doctor_id -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        reason -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    appointments (id) {
        id -> Text,
        tenant_id -> Text,
        patient_id -> Text,
        doctor_id -> Text,
        department_id -> Text,
        kind -> Text,
        status -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        reason_enc -> Text,
        notes_enc -> Nullable<Text>,
        cancel_reason_enc -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_by -> Text,
        updated_at -> Timestamp,
        insurance_eligibility -> Text,
        insurance_checked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    appointment_granules (tenant_id, holder, granule_start) {
        tenant_id -> Text,
        holder -> Text,
        granule_start -> Timestamp,
        appointment_id -> Text,
    }
}

diesel::table! {
    messages (id) {
        id -> Text,
        tenant_id -> Text,
        send_id -> Text,
        sender_id -> Text,
        recipient_id -> Text,
        patient_id -> Nullable<Text>,
        body_enc -> Text,
        sent_at -> Timestamp,
    }
}

diesel::joinable!(care_team -> patients (patient_id));
diesel::joinable!(break_glass -> patients (patient_id));
diesel::joinable!(appointments -> patients (patient_id));
diesel::joinable!(appointment_granules -> appointments (appointment_id));
diesel::table! {
    tenant_standing (tenant_id) {
        tenant_id -> Text,
        status -> Text,
        plan_name -> Nullable<Text>,
        max_staff -> Nullable<BigInt>,
        max_patients -> Nullable<BigInt>,
        max_storage_mb -> Nullable<BigInt>,
        modules -> Text,
        features -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    owner_commands (id) {
        id -> Text,
        tenant_id -> Text,
        kind -> Text,
        ok -> Bool,
        user_id -> Nullable<Text>,
        code -> Nullable<Text>,
        message -> Nullable<Text>,
        applied_at -> Timestamp,
        acked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    provisioning (tenant_id) {
        tenant_id -> Text,
        admin_user_id -> Nullable<Text>,
        provisioned_at -> Timestamp,
    }
}

diesel::table! {
    clinical_notes (id) {
        id -> Text,
        tenant_id -> Text,
        patient_id -> Text,
        author_id -> Text,
        kind -> Text,
        status -> Text,
        content_enc -> Text,
        content_hash -> Nullable<Text>,
        signed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    clinical_note_amendments (id) {
        id -> Text,
        tenant_id -> Text,
        note_id -> Text,
        author_id -> Text,
        reason_enc -> Text,
        content_enc -> Text,
        content_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(clinical_note_amendments -> clinical_notes (note_id));

diesel::table! {
    prescriptions (id) {
        id -> Text,
        tenant_id -> Text,
        patient_id -> Text,
        prescriber_id -> Text,
        details_enc -> Text,
        quantity -> BigInt,
        refills -> BigInt,
        total_quantity -> BigInt,
        dispensed_quantity -> BigInt,
        status -> Text,
        allergy_acknowledged -> Bool,
        reject_reason_enc -> Nullable<Text>,
        created_at -> Timestamp,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    prescription_dispenses (id) {
        id -> Text,
        tenant_id -> Text,
        prescription_id -> Text,
        pharmacist_id -> Text,
        quantity -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::joinable!(prescription_dispenses -> prescriptions (prescription_id));

diesel::table! {
    file_workspaces (id) {
        id -> Text,
        tenant_id -> Text,
        module -> Text,
        doctor_id -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    file_folders (id) {
        id -> Text,
        tenant_id -> Text,
        workspace_id -> Text,
        patient_id -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    file_blobs (id) {
        id -> Text,
        tenant_id -> Text,
        content_hash -> Text,
        key_id -> Text,
        plain_size -> BigInt,
        stored_size -> BigInt,
        compressed -> Bool,
        refs -> BigInt,
        area -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    files (id) {
        id -> Text,
        tenant_id -> Text,
        workspace_id -> Text,
        folder_id -> Nullable<Text>,
        patient_id -> Nullable<Text>,
        module -> Text,
        category -> Text,
        name_enc -> Text,
        media_type -> Text,
        size -> BigInt,
        blob_id -> Nullable<Text>,
        uploaded_by -> Text,
        uploaded_at -> Timestamp,
        retain_until -> Timestamp,
        archived_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
        deleted_by -> Nullable<Text>,
        purged_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    legal_holds (tenant_id, patient_id) {
        tenant_id -> Text,
        patient_id -> Text,
        reason_enc -> Text,
        placed_by -> Text,
        placed_at -> Timestamp,
    }
}

diesel::table! {
    file_module_admins (tenant_id, user_id, module) {
        tenant_id -> Text,
        user_id -> Text,
        module -> Text,
        assigned_by -> Text,
        assigned_at -> Timestamp,
    }
}

diesel::table! {
    lab_orders (id) {
        id -> Text,
        tenant_id -> Text,
        patient_id -> Text,
        ordered_by -> Text,
        priority -> Text,
        status -> Text,
        test_count -> BigInt,
        resulted_count -> BigInt,
        tests_enc -> Text,
        notes_enc -> Nullable<Text>,
        results_enc -> Nullable<Text>,
        finalized_by -> Nullable<Text>,
        finalized_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_by -> Text,
        updated_at -> Timestamp,
        kind -> Text,
    }
}

diesel::table! {
    lab_result_amendments (id) {
        id -> Text,
        tenant_id -> Text,
        order_id -> Text,
        amended_by -> Text,
        reason_enc -> Text,
        results_enc -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(lab_result_amendments -> lab_orders (order_id));

diesel::table! {
    referrals (id) {
        id -> Text,
        tenant_id -> Text,
        patient_id -> Text,
        referred_by -> Text,
        to_doctor_id -> Nullable<Text>,
        to_department_id -> Nullable<Text>,
        status -> Text,
        reason_enc -> Text,
        decline_reason_enc -> Nullable<Text>,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    rooms (id) {
        id -> Text,
        tenant_id -> Text,
        department_id -> Text,
        name -> Text,
        kind -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    beds (id) {
        id -> Text,
        tenant_id -> Text,
        room_id -> Text,
        label -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    admissions (id) {
        id -> Text,
        tenant_id -> Text,
        patient_id -> Text,
        bed_id -> Text,
        status -> Text,
        reason_enc -> Text,
        admitted_by -> Text,
        admitted_at -> Timestamp,
        transfers -> BigInt,
        discharged_by -> Nullable<Text>,
        discharged_at -> Nullable<Timestamp>,
        discharge_note_id -> Nullable<Text>,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(referrals -> patients (patient_id));
diesel::joinable!(rooms -> departments (department_id));
diesel::joinable!(beds -> rooms (room_id));
diesel::joinable!(admissions -> beds (bed_id));
diesel::joinable!(admissions -> patients (patient_id));

diesel::table! {
    invoices (id) {
        id -> Text,
        tenant_id -> Text,
        patient_id -> Text,
        period_from -> Text,
        period_to -> Text,
        currency -> Text,
        total -> BigInt,
        paid -> BigInt,
        status -> Text,
        void_reason -> Nullable<Text>,
        voided_by -> Nullable<Text>,
        voided_at -> Nullable<Timestamp>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    invoice_lines (id) {
        id -> Text,
        tenant_id -> Text,
        invoice_id -> Text,
        position -> BigInt,
        source_kind -> Text,
        source_id -> Text,
        service_at -> Timestamp,
        item_code -> Text,
        description -> Text,
        quantity -> BigInt,
        unit_price -> BigInt,
        amount -> BigInt,
        live -> Bool,
    }
}

diesel::table! {
    invoice_payments (id) {
        id -> Text,
        tenant_id -> Text,
        invoice_id -> Text,
        amount -> BigInt,
        method -> Text,
        reference -> Nullable<Text>,
        recorded_by -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::joinable!(invoices -> patients (patient_id));
diesel::joinable!(invoice_lines -> invoices (invoice_id));
diesel::joinable!(invoice_payments -> invoices (invoice_id));

diesel::joinable!(file_folders -> file_workspaces (workspace_id));
diesel::joinable!(files -> file_blobs (blob_id));

diesel::allow_tables_to_appear_in_same_query!(
    departments,
    patients,
    mrn_counters,
    care_team,
    break_glass,
    doctor_schedules,
    doctor_time_off,
    appointments,
    appointment_granules,
    clinical_notes,
    clinical_note_amendments,
    prescriptions,
    prescription_dispenses,
    file_workspaces,
    file_folders,
    file_blobs,
    files,
    legal_holds,
    file_module_admins,
    lab_orders,
    lab_result_amendments,
    referrals,
    rooms,
    beds,
    admissions,
    invoices,
    invoice_lines,
    invoice_payments,
);

diesel::table! {
    change_log (seq) {
        seq -> BigInt,
        tbl -> Text,
        op -> Text,
        row_data -> Text,
        logged_at -> Timestamp,
    }
}

diesel::table! {
    sync_state (id) {
        id -> Integer,
        next_batch_no -> BigInt,
        prev_tag -> Text,
        acked_batch_no -> BigInt,
        acked_at -> Nullable<Timestamp>,
        shipped_rows -> BigInt,
        restored_from_batch -> Nullable<BigInt>,
        audit_shipped -> BigInt,
    }
}

diesel::table! {
    sync_outbox (batch_no) {
        batch_no -> BigInt,
        body -> Text,
        first_seq -> BigInt,
        last_seq -> BigInt,
        rows -> BigInt,
        oldest_at -> Timestamp,
        created_at -> Timestamp,
        attempts -> BigInt,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    deid_reports (id) {
        id -> Text,
        tenant_id -> Text,
        period_from -> Text,
        period_to -> Text,
        body -> Text,
        sha256 -> Text,
        cells -> BigInt,
        suppressed -> BigInt,
        origin -> Text,
        status -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        attempts -> BigInt,
        last_error -> Nullable<Text>,
    }
}
