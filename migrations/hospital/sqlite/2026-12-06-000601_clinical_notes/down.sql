DROP TABLE clinical_note_amendments;
DROP TABLE clinical_notes;
