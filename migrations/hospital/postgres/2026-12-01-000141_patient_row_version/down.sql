ALTER TABLE patients DROP COLUMN version;
