DROP TABLE admissions;
DROP TABLE beds;
DROP TABLE rooms;
