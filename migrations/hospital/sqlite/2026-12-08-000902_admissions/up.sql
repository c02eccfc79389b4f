-- Rooms and beds of a tenant's departments (no PHI), and admissions of
-- patients to beds. The admission reason is AES-256-GCM ciphertext bound
-- to tenant, table, column and row. Never two patients in one bed and
-- never one patient in two beds: the database enforces both with partial
-- unique indexes over the active admissions.
CREATE TABLE rooms (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    department_id TEXT NOT NULL REFERENCES departments (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('ward', 'icu', 'private')),
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX rooms_department ON rooms (tenant_id, department_id);

CREATE TABLE beds (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    room_id TEXT NOT NULL REFERENCES rooms (id),
    label TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, room_id, label)
);

CREATE TABLE admissions (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    bed_id TEXT NOT NULL REFERENCES beds (id),
    status TEXT NOT NULL CHECK (status IN ('active', 'discharged')),
    reason_enc TEXT NOT NULL,
    admitted_by TEXT NOT NULL,
    admitted_at TIMESTAMP NOT NULL,
    transfers INTEGER NOT NULL DEFAULT 0,
    discharged_by TEXT,
    discharged_at TIMESTAMP,
    discharge_note_id TEXT REFERENCES clinical_notes (id),
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((status = 'discharged') = (discharged_by IS NOT NULL AND discharged_at IS NOT NULL AND discharge_note_id IS NOT NULL))
);
CREATE UNIQUE INDEX admissions_one_per_bed ON admissions (bed_id) WHERE status = 'active';
CREATE UNIQUE INDEX admissions_one_per_patient ON admissions (tenant_id, patient_id) WHERE status = 'active';
CREATE INDEX admissions_patient ON admissions (tenant_id, patient_id, admitted_at);
