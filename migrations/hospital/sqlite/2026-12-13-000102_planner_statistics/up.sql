-- Planner statistics for the tables a patient's visibility and its lists
-- read, in the shape of a hospital: one tenant holds every row, a patient
-- has a few care-team members, notes and prescriptions, a blind index value
-- names a few patients. Without statistics SQLite guesses that `tenant_id
-- = ?` on an index selects about ten rows, so it walked every row of the
-- tenant for a search by name, a care-team reader's list or a clinical
-- list instead of using the narrower index (docs/benchmarks.md, session
-- 20). SQLite documents fixed statistics in `sqlite_stat1` for this
-- (https://sqlite.org/lang_analyze.html): it reads them when it loads the
-- schema. `ANALYZE sqlite_schema` creates the table without reading any
-- user table. Rows an operator's own ANALYZE wrote are left alone; a later
-- ANALYZE replaces these with measured ones. Every index of each table is
-- given a row: an index without one would keep the optimistic guess and
-- win against the others. An index key version is given as naming a few
-- rows (those not yet re-indexed): given as every row, SQLite scanned the
-- whole table for a search's check whether an old version is still in use.
ANALYZE sqlite_schema;
INSERT INTO sqlite_stat1 (tbl, idx, stat)
SELECT s.tbl, s.idx, s.stat FROM (
    SELECT 'patients' AS tbl, 'sqlite_autoindex_patients_1' AS idx, '100000 1' AS stat
    UNION ALL SELECT 'patients', 'patients_tenant_mrn', '100000 100000 1'
    UNION ALL SELECT 'patients', 'patients_tenant_first', '100000 100000 20'
    UNION ALL SELECT 'patients', 'patients_tenant_last', '100000 100000 20'
    UNION ALL SELECT 'patients', 'patients_tenant_dob', '100000 100000 5'
    UNION ALL SELECT 'patients', 'patients_portal_user', '100000 1'
    UNION ALL SELECT 'patients', 'patients_tenant_index_version', '100000 100000 1000'
    UNION ALL SELECT 'patients', 'patients_tenant_created', '100000 100000 1 1 1'
    UNION ALL SELECT 'care_team', 'sqlite_autoindex_care_team_1', '500000 1'
    UNION ALL SELECT 'care_team', 'care_team_user', '500000 500000 200'
    UNION ALL SELECT 'care_team', 'care_team_patient', '500000 500000 5'
    UNION ALL SELECT 'break_glass', 'sqlite_autoindex_break_glass_1', '10000 1'
    UNION ALL SELECT 'break_glass', 'break_glass_user', '10000 10000 20 1'
    UNION ALL SELECT 'break_glass', 'break_glass_review', '10000 10000 100'
    UNION ALL SELECT 'clinical_notes', 'sqlite_autoindex_clinical_notes_1', '1000000 1'
    UNION ALL SELECT 'clinical_notes', 'clinical_notes_patient', '1000000 1000000 10 1'
    UNION ALL SELECT 'prescriptions', 'sqlite_autoindex_prescriptions_1', '1000000 1'
    UNION ALL SELECT 'prescriptions', 'prescriptions_patient', '1000000 1000000 10 1'
    UNION ALL SELECT 'prescriptions', 'prescriptions_queue', '1000000 1000000 200000 1'
    UNION ALL SELECT 'admissions', 'sqlite_autoindex_admissions_1', '200000 1'
    UNION ALL SELECT 'admissions', 'admissions_patient', '200000 200000 2 1'
    UNION ALL SELECT 'admissions', 'admissions_one_per_patient', '200000 200000 1'
    UNION ALL SELECT 'admissions', 'admissions_one_per_bed', '200000 1'
) AS s
WHERE NOT EXISTS (SELECT 1 FROM sqlite_stat1 t WHERE t.tbl = s.tbl AND t.idx = s.idx);
-- Again: ANALYZE reloads the statistics on this connection (the one that
-- migrates, and then serves) and moves the schema cookie, so every other
-- open connection reloads them at its next statement. Only the rows of
-- sqlite_schema itself are measured; the rows above stay.
ANALYZE sqlite_schema;
