DROP TABLE legal_holds;
DROP TABLE files;
DROP TABLE file_blobs;
DROP TABLE file_folders;
DROP TABLE file_workspaces;
