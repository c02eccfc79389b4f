DROP TABLE prescription_dispenses;
DROP TABLE prescriptions;
