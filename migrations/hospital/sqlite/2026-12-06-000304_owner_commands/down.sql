DROP TABLE owner_commands;
