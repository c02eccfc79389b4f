DROP TRIGGER lab_result_amendments_fixed ON lab_result_amendments;
DROP FUNCTION lab_result_amendments_fixed();
DROP TRIGGER lab_orders_finalized_fixed ON lab_orders;
DROP FUNCTION lab_orders_finalized_fixed();
DROP TABLE lab_result_amendments;
DROP TABLE lab_orders;
