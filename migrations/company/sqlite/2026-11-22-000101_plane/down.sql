DROP TABLE pull_cursors;
DROP TABLE audit_anchors;
DROP TABLE security_events;
