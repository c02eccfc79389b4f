-- Imaging orders are lab orders of another kind: a doctor orders an X-ray
-- or a CT the way they order a blood count, and the radiologist works the
-- imaging worklist the way the lab works theirs (issue 11, item 9: a new
-- role is a permission set, not new code). Existing orders are lab orders.
ALTER TABLE lab_orders ADD COLUMN kind TEXT NOT NULL DEFAULT 'lab' CHECK (kind IN ('lab', 'imaging'));
CREATE INDEX lab_orders_kind_worklist ON lab_orders (tenant_id, kind, status, created_at);

-- A finalized order's kind is fixed too.
DROP TRIGGER lab_orders_finalized_fixed;
CREATE TRIGGER lab_orders_finalized_fixed BEFORE UPDATE ON lab_orders
WHEN OLD.status = 'finalized' AND (NEW.id IS NOT OLD.id OR NEW.tenant_id IS NOT OLD.tenant_id OR NEW.patient_id IS NOT OLD.patient_id OR NEW.ordered_by IS NOT OLD.ordered_by OR NEW.priority IS NOT OLD.priority OR NEW.status IS NOT OLD.status OR NEW.test_count IS NOT OLD.test_count OR NEW.resulted_count IS NOT OLD.resulted_count OR NEW.finalized_by IS NOT OLD.finalized_by OR NEW.finalized_at IS NOT OLD.finalized_at OR NEW.created_at IS NOT OLD.created_at OR NEW.updated_by IS NOT OLD.updated_by OR NEW.updated_at IS NOT OLD.updated_at OR NEW.kind IS NOT OLD.kind)
BEGIN
    SELECT RAISE(ABORT, 'a finalized lab order is never changed; amend it');
END;
