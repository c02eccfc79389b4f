DELETE FROM sqlite_stat1 WHERE tbl = 'audit_log' AND idx = 'audit_log_resource';
DROP INDEX audit_log_resource;
