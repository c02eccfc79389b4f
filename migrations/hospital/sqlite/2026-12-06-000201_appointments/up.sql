-- A doctor's working week: one row per weekday worked (ISO: 1 = Monday …
-- 7 = Sunday), hours as minutes after midnight in the hospital's time zone
-- (`[clinical] time_zone`). A doctor without any row works the default
-- week (Monday to Friday, 09:00-17:00, 30-minute slots).
CREATE TABLE doctor_schedules (
    tenant_id TEXT NOT NULL,
    doctor_id TEXT NOT NULL,
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_minute INTEGER NOT NULL,
    end_minute INTEGER NOT NULL,
    slot_minutes INTEGER NOT NULL CHECK (slot_minutes BETWEEN 5 AND 240 AND slot_minutes % 5 = 0),
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, doctor_id, weekday),
    CHECK (start_minute >= 0 AND end_minute <= 1440 AND start_minute < end_minute)
);

-- A doctor's time off (UTC, end exclusive). The reason is about staff, not patients.
CREATE TABLE doctor_time_off (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    doctor_id TEXT NOT NULL,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    CHECK (starts_at < ends_at)
);
CREATE INDEX doctor_time_off_doctor ON doctor_time_off (tenant_id, doctor_id, starts_at);

-- Appointments. The reason, the doctor's notes and a cancellation's reason
-- are clinical text: AES-256-GCM ciphertext bound to tenant, table, column
-- and row; each is written once (`notes_enc`, `cancel_reason_enc` stay
-- NULL until then).
CREATE TABLE appointments (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    doctor_id TEXT NOT NULL,
    department_id TEXT NOT NULL REFERENCES departments (id),
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    reason_enc TEXT NOT NULL,
    notes_enc TEXT,
    cancel_reason_enc TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (starts_at < ends_at)
);
CREATE INDEX appointments_doctor ON appointments (tenant_id, doctor_id, starts_at);
CREATE INDEX appointments_patient ON appointments (tenant_id, patient_id, starts_at);
CREATE INDEX appointments_department ON appointments (tenant_id, department_id, starts_at);

-- The database's guarantee that appointments never overlap: each active
-- appointment (booked, checked in, completed) holds one row per 5-minute
-- granule it covers for its doctor (`doctor:<id>`) and one for its patient
-- (`patient:<id>`); the primary key lets one appointment hold a granule.
-- Cancelling or a no-show deletes the rows; a reschedule moves them.
CREATE TABLE appointment_granules (
    tenant_id TEXT NOT NULL,
    holder TEXT NOT NULL,
    granule_start TIMESTAMP NOT NULL,
    appointment_id TEXT NOT NULL REFERENCES appointments (id),
    PRIMARY KEY (tenant_id, holder, granule_start)
);
CREATE INDEX appointment_granules_appointment ON appointment_granules (appointment_id);
