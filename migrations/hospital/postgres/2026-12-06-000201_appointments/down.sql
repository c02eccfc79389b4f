DROP TABLE appointment_granules;
DROP TABLE appointments;
DROP TABLE doctor_time_off;
DROP TABLE doctor_schedules;
