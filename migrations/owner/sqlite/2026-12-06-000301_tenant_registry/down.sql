DROP TABLE tenant_staff;
DROP TABLE tenant_health;
DROP TABLE tenant_first_admins;
DROP INDEX tenants_db_name;
ALTER TABLE tenants DROP COLUMN plan_id;
ALTER TABLE tenants DROP COLUMN region;
ALTER TABLE tenants DROP COLUMN db_name;
DROP TABLE plans;
