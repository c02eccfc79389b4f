-- The fixed rows go (an ANALYZE's own rows for these indexes too: the
-- planner then guesses again, as before the migration).
DELETE FROM sqlite_stat1 WHERE tbl IN ('patients', 'care_team', 'break_glass',
                                       'clinical_notes', 'prescriptions', 'admissions');
ANALYZE sqlite_schema;
