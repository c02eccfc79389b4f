DROP TABLE tenant_commands;
