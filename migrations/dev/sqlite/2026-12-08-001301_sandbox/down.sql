DROP TABLE sandbox_records;
DROP TABLE sandbox_patients;
DROP TABLE sandbox_staff;
DROP TABLE sandbox_hospitals;
DROP TABLE sandbox_state;
