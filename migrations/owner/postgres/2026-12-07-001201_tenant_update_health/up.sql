-- Where each hospital stands with the release company approved (issue 15,
-- item 4), from its heartbeat: unchecked, current, available, staged,
-- verified, refused or unreachable, the versions, and why (a code).
ALTER TABLE tenant_health ADD COLUMN update_status TEXT;
ALTER TABLE tenant_health ADD COLUMN update_current_version TEXT;
ALTER TABLE tenant_health ADD COLUMN update_version TEXT;
ALTER TABLE tenant_health ADD COLUMN update_checked_at TIMESTAMP;
ALTER TABLE tenant_health ADD COLUMN update_detail TEXT;
