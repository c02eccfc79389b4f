CREATE OR REPLACE FUNCTION lab_orders_finalized_fixed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status = 'finalized' THEN
            RAISE EXCEPTION 'a finalized lab order is never deleted';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status = 'finalized' AND (NEW.id IS DISTINCT FROM OLD.id OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.patient_id IS DISTINCT FROM OLD.patient_id OR NEW.ordered_by IS DISTINCT FROM OLD.ordered_by OR NEW.priority IS DISTINCT FROM OLD.priority OR NEW.status IS DISTINCT FROM OLD.status OR NEW.test_count IS DISTINCT FROM OLD.test_count OR NEW.resulted_count IS DISTINCT FROM OLD.resulted_count OR NEW.finalized_by IS DISTINCT FROM OLD.finalized_by OR NEW.finalized_at IS DISTINCT FROM OLD.finalized_at OR NEW.created_at IS DISTINCT FROM OLD.created_at OR NEW.updated_by IS DISTINCT FROM OLD.updated_by OR NEW.updated_at IS DISTINCT FROM OLD.updated_at) THEN
        RAISE EXCEPTION 'a finalized lab order is never changed; amend it';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP INDEX lab_orders_kind_worklist;
ALTER TABLE lab_orders DROP COLUMN kind;
