DROP TABLE alerts;
DROP TABLE alert_rules;
DROP INDEX security_events_source;
DROP TABLE plane_sources;
