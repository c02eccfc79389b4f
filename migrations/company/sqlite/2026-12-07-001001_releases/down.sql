DROP TABLE releases;
DROP TABLE dev_signing_keys;
