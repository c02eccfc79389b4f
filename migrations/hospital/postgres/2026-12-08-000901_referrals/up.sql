-- Referrals: a doctor on a patient's care team refers the patient to
-- another doctor or to a department, with a reason (AES-256-GCM ciphertext
-- bound to tenant, table, column and row). The receiver accepts (and joins
-- the care team) or declines with a reason (sealed); the referrer cancels
-- while pending. Every state change is a conditional update on
-- `status = 'pending'`.
CREATE TABLE referrals (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    referred_by TEXT NOT NULL,
    to_doctor_id TEXT,
    to_department_id TEXT REFERENCES departments (id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'cancelled')),
    reason_enc TEXT NOT NULL,
    decline_reason_enc TEXT,
    decided_by TEXT,
    decided_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((to_doctor_id IS NULL) <> (to_department_id IS NULL)),
    CHECK ((status = 'declined') = (decline_reason_enc IS NOT NULL)),
    CHECK ((status IN ('accepted', 'declined')) = (decided_by IS NOT NULL AND decided_at IS NOT NULL))
);
CREATE INDEX referrals_patient ON referrals (tenant_id, patient_id, created_at);
CREATE INDEX referrals_to_doctor ON referrals (tenant_id, to_doctor_id, status);
CREATE INDEX referrals_by ON referrals (tenant_id, referred_by, status);
