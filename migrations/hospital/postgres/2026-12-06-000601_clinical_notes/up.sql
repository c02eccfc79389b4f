-- Clinical notes and medical reports. The content (SOAP fields, or a
-- report's title and body, as JSON) is AES-256-GCM ciphertext bound to
-- tenant, table, column and row. A draft is rewritten by its author; once
-- signed (`status = 'signed'`, `content_hash` the SHA-256 of the signed
-- content) the row is never changed again: corrections are amendments.
CREATE TABLE clinical_notes (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    author_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'signed')),
    content_enc TEXT NOT NULL,
    content_hash TEXT,
    signed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((status = 'draft') = (content_hash IS NULL AND signed_at IS NULL))
);
CREATE INDEX clinical_notes_patient ON clinical_notes (tenant_id, patient_id, created_at);

-- Amendments of a signed note: who corrected what (the whole corrected
-- content, sealed), why (sealed) and when. Only ever inserted.
CREATE TABLE clinical_note_amendments (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    note_id TEXT NOT NULL REFERENCES clinical_notes (id),
    author_id TEXT NOT NULL,
    reason_enc TEXT NOT NULL,
    content_enc TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX clinical_note_amendments_note ON clinical_note_amendments (tenant_id, note_id, created_at);
