DROP TRIGGER lab_orders_finalized_fixed;
CREATE TRIGGER lab_orders_finalized_fixed BEFORE UPDATE ON lab_orders
WHEN OLD.status = 'finalized' AND (NEW.id IS NOT OLD.id OR NEW.tenant_id IS NOT OLD.tenant_id OR NEW.patient_id IS NOT OLD.patient_id OR NEW.ordered_by IS NOT OLD.ordered_by OR NEW.priority IS NOT OLD.priority OR NEW.status IS NOT OLD.status OR NEW.test_count IS NOT OLD.test_count OR NEW.resulted_count IS NOT OLD.resulted_count OR NEW.finalized_by IS NOT OLD.finalized_by OR NEW.finalized_at IS NOT OLD.finalized_at OR NEW.created_at IS NOT OLD.created_at OR NEW.updated_by IS NOT OLD.updated_by OR NEW.updated_at IS NOT OLD.updated_at)
BEGIN
    SELECT RAISE(ABORT, 'a finalized lab order is never changed; amend it');
END;
DROP INDEX lab_orders_kind_worklist;
ALTER TABLE lab_orders DROP COLUMN kind;
