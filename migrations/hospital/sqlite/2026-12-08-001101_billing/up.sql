-- Billing. An accountant invoices a patient for a period: the billable
-- events of that period (completed appointments, the tests of finalized lab
-- orders, dispenses) are priced from the configured price list (`[billing]`)
-- and become the invoice's lines. Amounts are integers in minor units of
-- the invoice's currency. A line carries only price-list vocabulary (its
-- item code and description), never clinical text, so nothing here is
-- sealed; the patient's name is read from the patient record when shown.
CREATE TABLE invoices (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    period_from TEXT NOT NULL,
    period_to TEXT NOT NULL,
    currency TEXT NOT NULL,
    total BIGINT NOT NULL CHECK (total > 0),
    paid BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('issued', 'partially_paid', 'paid', 'void')),
    void_reason TEXT,
    voided_by TEXT,
    voided_at TIMESTAMP,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (period_from <= period_to),
    -- Never paid beyond the total: the database refuses an overpayment
    -- even if two payments race.
    CHECK (paid >= 0 AND paid <= total),
    CHECK ((status = 'void') = (voided_at IS NOT NULL)),
    CHECK (status <> 'void' OR paid = 0)
);
CREATE INDEX invoices_patient ON invoices (tenant_id, patient_id, created_at);
CREATE INDEX invoices_status ON invoices (tenant_id, status, created_at);

-- An invoice's lines: one billable event each (`source_kind` appointment,
-- lab_test, dispense; admission is reserved for bed days). `live` is true
-- until the invoice is voided, which releases its events for a new invoice.
CREATE TABLE invoice_lines (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    position BIGINT NOT NULL,
    source_kind TEXT NOT NULL CHECK (source_kind IN ('appointment', 'lab_test', 'dispense', 'admission')),
    source_id TEXT NOT NULL,
    service_at TIMESTAMP NOT NULL,
    item_code TEXT NOT NULL,
    description TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    unit_price BIGINT NOT NULL CHECK (unit_price >= 0),
    amount BIGINT NOT NULL CHECK (amount = quantity * unit_price),
    live BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX invoice_lines_invoice ON invoice_lines (tenant_id, invoice_id, position);
-- Each event is billed at most once (on invoices not voided), whatever
-- races: the database refuses the second line.
CREATE UNIQUE INDEX invoice_lines_billed_once ON invoice_lines (tenant_id, source_kind, source_id) WHERE live;

-- Payments recorded against an invoice; only ever inserted.
CREATE TABLE invoice_payments (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    method TEXT NOT NULL CHECK (method IN ('cash', 'card', 'bank_transfer', 'insurance', 'other')),
    reference TEXT,
    recorded_by TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX invoice_payments_invoice ON invoice_payments (tenant_id, invoice_id, recorded_at);
