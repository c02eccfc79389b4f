-- The online copy (issue 12, item 3). Every row written to any other table
-- is recorded here by triggers, inside the writing transaction
-- (common::db::changelog installs them after the migrations; `row_data` is
-- the row as JSON: the new row for I and U, the old one for D). The
-- shipper moves rows from here into sealed batches (`sync_outbox`) in one
-- transaction, so a change is in exactly one of the two places until
-- owner acknowledges its batch.
CREATE TABLE change_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tbl TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('I', 'U', 'D')),
    row_data TEXT NOT NULL,
    logged_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);

-- Which tables carry the change-log triggers, and the column list they
-- were made for: a table whose columns change is logged whole again.
CREATE TABLE change_log_tables (
    tbl TEXT PRIMARY KEY NOT NULL,
    signature TEXT NOT NULL,
    installed_at TIMESTAMP NOT NULL
);

-- The chain of batches: the next batch's number and the tag it follows.
CREATE TABLE sync_state (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    next_batch_no BIGINT NOT NULL,
    prev_tag TEXT NOT NULL,
    acked_batch_no BIGINT NOT NULL DEFAULT 0,
    acked_at TIMESTAMP,
    shipped_rows BIGINT NOT NULL DEFAULT 0,
    restored_from_batch BIGINT
);
INSERT INTO sync_state (id, next_batch_no, prev_tag) VALUES (1, 1, '00000000000000000000000000000000');

-- Sealed batches not yet acknowledged by owner, byte for byte (a retry
-- sends the same bytes; owner is idempotent on the number).
CREATE TABLE sync_outbox (
    batch_no BIGINT PRIMARY KEY NOT NULL,
    body TEXT NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    rows BIGINT NOT NULL,
    oldest_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT
);
