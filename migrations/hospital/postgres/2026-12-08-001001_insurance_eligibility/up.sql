-- Insurance eligibility as the insurer last answered it at registration
-- (patients) and at booking (appointments): an enumerated outcome and its
-- time, no identifier (the member id and payer stay sealed in the
-- patient's `insurance_enc`). Rows from before: `not_checked`.
ALTER TABLE patients ADD COLUMN insurance_eligibility TEXT NOT NULL DEFAULT 'not_checked'
    CHECK (insurance_eligibility IN ('eligible', 'ineligible', 'unverified', 'not_checked'));
ALTER TABLE patients ADD COLUMN insurance_checked_at TIMESTAMP;
ALTER TABLE appointments ADD COLUMN insurance_eligibility TEXT NOT NULL DEFAULT 'not_checked'
    CHECK (insurance_eligibility IN ('eligible', 'ineligible', 'unverified', 'not_checked'));
ALTER TABLE appointments ADD COLUMN insurance_checked_at TIMESTAMP;
