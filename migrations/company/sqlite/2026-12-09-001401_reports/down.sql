DROP TABLE report_cells;
DROP TABLE deid_reports;
