DROP TRIGGER lab_result_amendments_kept;
DROP TRIGGER lab_result_amendments_fixed;
DROP TRIGGER lab_orders_finalized_kept;
DROP TRIGGER lab_orders_finalized_fixed;
DROP TABLE lab_result_amendments;
DROP TABLE lab_orders;
