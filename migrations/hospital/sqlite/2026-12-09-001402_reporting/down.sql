DROP TABLE deid_reports;
