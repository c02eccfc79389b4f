DROP TABLE rbac_versions;
DROP TABLE rbac_roles;
