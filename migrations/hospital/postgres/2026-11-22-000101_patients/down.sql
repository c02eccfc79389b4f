DROP TABLE break_glass;
DROP TABLE care_team;
DROP TABLE mrn_counters;
DROP TABLE patients;
DROP TABLE departments;
