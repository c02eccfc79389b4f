DROP TABLE enrolment_codes;
ALTER TABLE users DROP COLUMN session_epoch;
