-- The row version bound into the associated data of every sealed patient
-- field, so a ciphertext cannot be swapped for an older one of the same
-- field and row. Rows from before this migration keep version 0 (sealed
-- without it) until their next change re-seals them.
ALTER TABLE patients ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
