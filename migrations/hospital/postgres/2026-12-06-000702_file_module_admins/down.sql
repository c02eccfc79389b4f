DROP TABLE file_module_admins;
