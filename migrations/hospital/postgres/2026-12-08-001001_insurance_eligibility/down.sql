ALTER TABLE appointments DROP COLUMN insurance_checked_at;
ALTER TABLE appointments DROP COLUMN insurance_eligibility;
ALTER TABLE patients DROP COLUMN insurance_checked_at;
ALTER TABLE patients DROP COLUMN insurance_eligibility;
