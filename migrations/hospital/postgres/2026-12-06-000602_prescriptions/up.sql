-- Prescriptions. What is prescribed (medication, dose, route, frequency,
-- duration, notes) is one sealed JSON (AES-256-GCM, bound to tenant,
-- table, column and row), as is a rejection's reason. Quantities are in
-- clear: `total_quantity` = quantity x (1 + refills) is what may ever be
-- dispensed, and the database refuses dispensing more than that, also
-- between concurrent dispenses.
CREATE TABLE prescriptions (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    prescriber_id TEXT NOT NULL,
    details_enc TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    refills BIGINT NOT NULL CHECK (refills >= 0),
    total_quantity BIGINT NOT NULL,
    dispensed_quantity BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('pending', 'partially_dispensed', 'dispensed', 'rejected')),
    allergy_acknowledged BOOLEAN NOT NULL,
    reject_reason_enc TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (total_quantity = quantity * (refills + 1)),
    CHECK (dispensed_quantity >= 0 AND dispensed_quantity <= total_quantity)
);
CREATE INDEX prescriptions_patient ON prescriptions (tenant_id, patient_id, created_at);
CREATE INDEX prescriptions_queue ON prescriptions (tenant_id, status, created_at);

-- Each dispense: who handed out how many, when. Only ever inserted.
CREATE TABLE prescription_dispenses (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    prescription_id TEXT NOT NULL REFERENCES prescriptions (id),
    pharmacist_id TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX prescription_dispenses_prescription ON prescription_dispenses (tenant_id, prescription_id, created_at);
