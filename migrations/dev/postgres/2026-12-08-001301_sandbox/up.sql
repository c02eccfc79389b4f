-- The synthetic sandbox (issue 15, item 6): generated hospitals, staff,
-- patients and clinical records for development and load tests. Every row
-- is made by the seeded generator in crates/dev/src/sandbox/generate.rs and
-- marked synthetic (ids and MRNs start with SYN-); nothing here ever comes
-- from a hospital. Dates are ISO text (YYYY-MM-DD), compared as text.
CREATE TABLE sandbox_state (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seed BIGINT NOT NULL,
    hospitals BIGINT NOT NULL,
    staff BIGINT NOT NULL,
    patients BIGINT NOT NULL,
    records BIGINT NOT NULL,
    generated_by TEXT NOT NULL,
    generated_at TIMESTAMP NOT NULL
);

CREATE TABLE sandbox_hospitals (
    id TEXT PRIMARY KEY NOT NULL CHECK (id LIKE 'SYN-%'),
    name TEXT NOT NULL,
    city TEXT NOT NULL
);

CREATE TABLE sandbox_staff (
    id TEXT PRIMARY KEY NOT NULL CHECK (id LIKE 'SYN-%'),
    hospital_id TEXT NOT NULL REFERENCES sandbox_hospitals (id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    department TEXT NOT NULL
);
CREATE INDEX sandbox_staff_hospital ON sandbox_staff (hospital_id, id);

CREATE TABLE sandbox_patients (
    id TEXT PRIMARY KEY NOT NULL CHECK (id LIKE 'SYN-%'),
    hospital_id TEXT NOT NULL REFERENCES sandbox_hospitals (id),
    mrn TEXT NOT NULL UNIQUE CHECK (mrn LIKE 'SYN-%'),
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    sex TEXT NOT NULL CHECK (sex IN ('female', 'male')),
    birth_date TEXT NOT NULL,
    department TEXT NOT NULL,
    doctor_id TEXT NOT NULL REFERENCES sandbox_staff (id)
);
CREATE INDEX sandbox_patients_hospital ON sandbox_patients (hospital_id, id);
CREATE INDEX sandbox_patients_family ON sandbox_patients (family_name, id);
CREATE INDEX sandbox_patients_birth ON sandbox_patients (birth_date, id);

CREATE TABLE sandbox_records (
    id TEXT PRIMARY KEY NOT NULL CHECK (id LIKE 'SYN-%'),
    patient_id TEXT NOT NULL REFERENCES sandbox_patients (id),
    kind TEXT NOT NULL CHECK (kind IN ('encounter', 'diagnosis', 'lab_result', 'prescription')),
    recorded_on TEXT NOT NULL,
    code TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX sandbox_records_patient ON sandbox_records (patient_id, recorded_on, id);
CREATE INDEX sandbox_records_kind ON sandbox_records (kind, recorded_on, id);
