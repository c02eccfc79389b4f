-- Accounts whose password someone else set (patient portal) must change it at first login.
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
