DROP TRIGGER prescription_dispenses_fixed ON prescription_dispenses;
DROP FUNCTION prescription_dispenses_fixed();
DROP TRIGGER clinical_note_amendments_fixed ON clinical_note_amendments;
DROP FUNCTION clinical_note_amendments_fixed();
DROP TRIGGER clinical_notes_signed_fixed ON clinical_notes;
DROP FUNCTION clinical_notes_signed_fixed();
