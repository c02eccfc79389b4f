DROP TABLE releases;
DROP TABLE signing_keys;
