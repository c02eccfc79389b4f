-- Patient files (issue 16). The folder hierarchy of the original design is
-- kept here, in the database: a doctor's workspace in a medical module, and
-- in it one folder per patient the doctor takes on. The bytes are objects in
-- the object store (local disk or S3), encrypted in chunks before they leave
-- the process and stored once per tenant and content (`file_blobs`, keyed
-- content hash); `files` are the references users see. File names are
-- sealed like other PHI (AES-256-GCM, bound to tenant, table, column, row).

CREATE TABLE file_workspaces (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    module TEXT NOT NULL,
    doctor_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, module, doctor_id)
);
CREATE INDEX file_workspaces_doctor ON file_workspaces (tenant_id, doctor_id);

CREATE TABLE file_folders (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES file_workspaces (id),
    patient_id TEXT NOT NULL REFERENCES patients (id),
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (workspace_id, patient_id)
);
CREATE INDEX file_folders_patient ON file_folders (tenant_id, patient_id);

-- One stored object per tenant and content. `refs` counts the files that
-- use it; at 0 the object is deleted. `area` is where the object lives:
-- `live` or `archive`.
CREATE TABLE file_blobs (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    key_id TEXT NOT NULL,
    plain_size BIGINT NOT NULL CHECK (plain_size >= 0),
    stored_size BIGINT NOT NULL CHECK (stored_size >= 0),
    compressed BOOLEAN NOT NULL,
    refs BIGINT NOT NULL CHECK (refs >= 0),
    area TEXT NOT NULL CHECK (area IN ('live', 'archive')),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, content_hash)
);

CREATE TABLE files (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES file_workspaces (id),
    folder_id TEXT REFERENCES file_folders (id),
    patient_id TEXT REFERENCES patients (id),
    module TEXT NOT NULL,
    category TEXT NOT NULL,
    name_enc TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL CHECK (size >= 0),
    -- NULL once purged (the object may be gone with its last reference).
    blob_id TEXT REFERENCES file_blobs (id),
    uploaded_by TEXT NOT NULL,
    uploaded_at TIMESTAMP NOT NULL,
    retain_until TIMESTAMP NOT NULL,
    archived_at TIMESTAMP,
    deleted_at TIMESTAMP,
    deleted_by TEXT,
    purged_at TIMESTAMP,
    CHECK ((folder_id IS NULL) = (patient_id IS NULL)),
    CHECK (blob_id IS NOT NULL OR purged_at IS NOT NULL)
);
CREATE INDEX files_folder ON files (tenant_id, folder_id, uploaded_at);
CREATE INDEX files_workspace ON files (tenant_id, workspace_id, uploaded_at);
CREATE INDEX files_patient ON files (tenant_id, patient_id);
CREATE INDEX files_blob ON files (blob_id);

-- A legal hold on a patient stops every deletion of their files.
CREATE TABLE legal_holds (
    tenant_id TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    reason_enc TEXT NOT NULL,
    placed_by TEXT NOT NULL,
    placed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, patient_id)
);
