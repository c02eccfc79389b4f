DROP INDEX patients_tenant_created;
