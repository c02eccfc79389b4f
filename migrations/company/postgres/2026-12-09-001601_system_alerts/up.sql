-- System administration on company (issue 14, item 5).
-- What each delivering server last reported about itself: its outbox
-- backlog (company cannot see other servers' outboxes) and when.
CREATE TABLE plane_sources (
    source_service TEXT NOT NULL,
    source_tenant TEXT NOT NULL DEFAULT '',
    backlog BIGINT,
    reported_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source_service, source_tenant)
);
CREATE INDEX security_events_source ON security_events (source_service, source_tenant, received_at);

-- Alert rules on security events: `threshold` matching events (kind
-- pattern, at least `min_severity`) within `window_minutes`, counted per
-- actor, per source server or overall, raise one alert per window.
CREATE TABLE alert_rules (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind_pattern TEXT NOT NULL,
    min_severity TEXT NOT NULL,
    threshold BIGINT NOT NULL,
    window_minutes BIGINT NOT NULL,
    per TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX alert_rules_name ON alert_rules (name);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY NOT NULL,
    rule_id TEXT NOT NULL,
    rule_name TEXT NOT NULL,
    group_key TEXT NOT NULL,
    first_event_seq BIGINT NOT NULL,
    last_event_seq BIGINT NOT NULL,
    event_count BIGINT NOT NULL,
    severity TEXT NOT NULL,
    window_start TIMESTAMP NOT NULL,
    window_end TIMESTAMP NOT NULL,
    raised_at TIMESTAMP NOT NULL,
    acknowledged_by TEXT,
    acknowledged_at TIMESTAMP
);
-- One alert per rule, group and window, whatever the delivery order.
CREATE UNIQUE INDEX alerts_once ON alerts (rule_id, group_key, window_start);
CREATE INDEX alerts_open ON alerts (acknowledged_at, raised_at);

-- The defaults (seeded once by this migration at start-up; an admin may
-- change or delete them, and they are not put back).
INSERT INTO alert_rules VALUES
 ('00000000-0000-4000-8000-000000000001', '5 failed logins for one account in 10 minutes',
  'auth.login_failed', 'info', 5, 10, 'actor', TRUE, (now() AT TIME ZONE 'UTC'), (now() AT TIME ZONE 'UTC')),
 ('00000000-0000-4000-8000-000000000002', 'Any critical event',
  '*', 'critical', 1, 1, 'source', TRUE, (now() AT TIME ZONE 'UTC'), (now() AT TIME ZONE 'UTC'));
