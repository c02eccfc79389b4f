DROP TABLE tenant_standing;
