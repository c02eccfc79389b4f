-- Lab orders. A doctor on the patient's care team orders tests; the lab
-- enters results and finalizes; a finalized order is never changed again:
-- corrections are amendments. What is ordered (the tests as JSON), the
-- order's notes, the results (JSON: per test value, unit, reference range,
-- abnormal flag) and an amendment's reason and corrected results are
-- AES-256-GCM ciphertext bound to tenant, table, column and row. Counts,
-- priority and status are in clear (the worklist sorts on them).
CREATE TABLE lab_orders (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    ordered_by TEXT NOT NULL,
    priority TEXT NOT NULL CHECK (priority IN ('routine', 'urgent', 'stat')),
    status TEXT NOT NULL CHECK (status IN ('ordered', 'in_progress', 'finalized', 'cancelled')),
    test_count INTEGER NOT NULL CHECK (test_count >= 1 AND test_count <= 20),
    resulted_count INTEGER NOT NULL DEFAULT 0,
    tests_enc TEXT NOT NULL,
    notes_enc TEXT,
    results_enc TEXT,
    finalized_by TEXT,
    finalized_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (resulted_count >= 0 AND resulted_count <= test_count),
    CHECK ((status = 'finalized') = (finalized_by IS NOT NULL AND finalized_at IS NOT NULL)),
    CHECK (status <> 'finalized' OR (results_enc IS NOT NULL AND resulted_count = test_count))
);
CREATE INDEX lab_orders_patient ON lab_orders (tenant_id, patient_id, created_at);
CREATE INDEX lab_orders_worklist ON lab_orders (tenant_id, status, created_at);

-- Amendments of a finalized order's results: who corrected them, why
-- (sealed), when, and the whole corrected results (sealed). Only ever
-- inserted; the finalized results stay as they were.
CREATE TABLE lab_result_amendments (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    order_id TEXT NOT NULL REFERENCES lab_orders (id),
    amended_by TEXT NOT NULL,
    reason_enc TEXT NOT NULL,
    results_enc TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX lab_result_amendments_order ON lab_result_amendments (tenant_id, order_id, created_at);

-- A finalized order is fixed by the database too: only its ciphertexts may
-- be rewritten (re-encryption under a new key, the same texts), and it is
-- never deleted; amendments are only ever inserted (their ciphertexts may
-- be re-encrypted).
CREATE TRIGGER lab_orders_finalized_fixed BEFORE UPDATE ON lab_orders
WHEN OLD.status = 'finalized' AND (NEW.id IS NOT OLD.id OR NEW.tenant_id IS NOT OLD.tenant_id OR NEW.patient_id IS NOT OLD.patient_id OR NEW.ordered_by IS NOT OLD.ordered_by OR NEW.priority IS NOT OLD.priority OR NEW.status IS NOT OLD.status OR NEW.test_count IS NOT OLD.test_count OR NEW.resulted_count IS NOT OLD.resulted_count OR NEW.finalized_by IS NOT OLD.finalized_by OR NEW.finalized_at IS NOT OLD.finalized_at OR NEW.created_at IS NOT OLD.created_at OR NEW.updated_by IS NOT OLD.updated_by OR NEW.updated_at IS NOT OLD.updated_at)
BEGIN
    SELECT RAISE(ABORT, 'a finalized lab order is never changed; amend it');
END;
CREATE TRIGGER lab_orders_finalized_kept BEFORE DELETE ON lab_orders
WHEN OLD.status = 'finalized'
BEGIN
    SELECT RAISE(ABORT, 'a finalized lab order is never deleted');
END;
CREATE TRIGGER lab_result_amendments_fixed BEFORE UPDATE ON lab_result_amendments
WHEN NEW.id IS NOT OLD.id OR NEW.tenant_id IS NOT OLD.tenant_id OR NEW.order_id IS NOT OLD.order_id OR NEW.amended_by IS NOT OLD.amended_by OR NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'an amendment is never changed');
END;
CREATE TRIGGER lab_result_amendments_kept BEFORE DELETE ON lab_result_amendments
BEGIN
    SELECT RAISE(ABORT, 'an amendment is never deleted');
END;
