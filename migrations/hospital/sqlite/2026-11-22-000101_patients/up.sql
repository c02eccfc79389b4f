-- Departments of each tenant, seeded on first start (clinical modules included).
CREATE TABLE departments (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    clinical_module BOOLEAN NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX departments_tenant_code ON departments (tenant_id, code);

-- Patients. Every identifying or clinical value is AES-256-GCM ciphertext
-- (`*_enc`, key id inside); `*_idx` are blind indexes (keyed HMAC of the
-- normalized value) for exact search without decrypting.
CREATE TABLE patients (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    mrn_enc TEXT NOT NULL,
    mrn_idx TEXT NOT NULL,
    first_name_enc TEXT NOT NULL,
    first_name_idx TEXT NOT NULL,
    last_name_enc TEXT NOT NULL,
    last_name_idx TEXT NOT NULL,
    dob_enc TEXT NOT NULL,
    dob_idx TEXT NOT NULL,
    sex TEXT NOT NULL,
    contact_enc TEXT,
    address_enc TEXT,
    emergency_contact_enc TEXT,
    insurance_enc TEXT,
    allergies_enc TEXT,
    blood_type_enc TEXT,
    portal_user_id TEXT,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL,
    deleted_at TIMESTAMP,
    deleted_by TEXT
);
CREATE UNIQUE INDEX patients_tenant_mrn ON patients (tenant_id, mrn_idx);
CREATE INDEX patients_tenant_first ON patients (tenant_id, first_name_idx);
CREATE INDEX patients_tenant_last ON patients (tenant_id, last_name_idx);
CREATE INDEX patients_tenant_dob ON patients (tenant_id, dob_idx);
CREATE UNIQUE INDEX patients_portal_user ON patients (portal_user_id);

-- The next MRN number of each tenant.
CREATE TABLE mrn_counters (
    tenant_id TEXT PRIMARY KEY NOT NULL,
    next_value BIGINT NOT NULL
);

-- Clinicians on a patient's care team (removed rows kept for history).
CREATE TABLE care_team (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    user_id TEXT NOT NULL,
    member_role TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at TIMESTAMP NOT NULL,
    removed_by TEXT,
    removed_at TIMESTAMP
);
CREATE INDEX care_team_user ON care_team (tenant_id, user_id);
CREATE INDEX care_team_patient ON care_team (tenant_id, patient_id);

-- Break-the-glass grants: time-limited access outside the care team.
CREATE TABLE break_glass (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    user_id TEXT NOT NULL,
    reason_enc TEXT NOT NULL,
    granted_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    acknowledged_by TEXT,
    acknowledged_at TIMESTAMP
);
CREATE INDEX break_glass_user ON break_glass (tenant_id, user_id, patient_id);
CREATE INDEX break_glass_review ON break_glass (tenant_id, acknowledged_at);
