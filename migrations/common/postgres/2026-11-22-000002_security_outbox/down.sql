DROP TABLE security_outbox;
