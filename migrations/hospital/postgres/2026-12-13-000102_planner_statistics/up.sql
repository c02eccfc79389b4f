-- SQLite only (fixed planner statistics in sqlite_stat1): PostgreSQL's
-- autovacuum analyzes its tables as they fill. Kept so both engines hold
-- the same migrations.
SELECT 1;
