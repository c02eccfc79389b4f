DROP TABLE sync_outbox;
DROP TABLE sync_state;
DROP TABLE change_log_tables;
DROP TABLE change_log;
