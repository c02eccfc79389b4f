DROP TABLE reencrypt_progress;
DROP INDEX patients_tenant_index_version;
ALTER TABLE patients DROP COLUMN index_version;
DROP TABLE index_keys;
