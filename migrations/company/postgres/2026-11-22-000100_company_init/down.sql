DROP TABLE service_meta;
