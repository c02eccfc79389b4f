-- Messages between users (issue 13 item 3): one row per recipient, so a
-- message to a patient's care team is stored once for each member it
-- reached. The body is sealed like PHI (field encryption, bound to its row).
CREATE TABLE messages (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    -- One send's rows share it (a care-team message has one per member).
    send_id TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    -- Set when sent to this patient's care team.
    patient_id TEXT,
    body_enc TEXT NOT NULL,
    sent_at TIMESTAMP NOT NULL
);
CREATE INDEX messages_inbox ON messages (tenant_id, recipient_id, sent_at);
