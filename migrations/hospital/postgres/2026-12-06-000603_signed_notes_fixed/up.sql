-- A signed clinical note is fixed by the database too: once signed, only
-- its ciphertext may be rewritten (re-encryption under a new key, the same
-- text), and it is never deleted; amendments and dispenses are only ever
-- inserted (an amendment's ciphertexts may be re-encrypted).
CREATE FUNCTION clinical_notes_signed_fixed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status = 'signed' THEN
            RAISE EXCEPTION 'a signed note is never deleted';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status = 'signed' AND (NEW.id IS DISTINCT FROM OLD.id OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.patient_id IS DISTINCT FROM OLD.patient_id OR NEW.author_id IS DISTINCT FROM OLD.author_id OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.status IS DISTINCT FROM OLD.status OR NEW.content_hash IS DISTINCT FROM OLD.content_hash OR NEW.signed_at IS DISTINCT FROM OLD.signed_at OR NEW.created_at IS DISTINCT FROM OLD.created_at OR NEW.updated_at IS DISTINCT FROM OLD.updated_at) THEN
        RAISE EXCEPTION 'a signed note is never changed; amend it';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER clinical_notes_signed_fixed BEFORE UPDATE OR DELETE ON clinical_notes
    FOR EACH ROW EXECUTE FUNCTION clinical_notes_signed_fixed();

CREATE FUNCTION clinical_note_amendments_fixed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'an amendment is never deleted';
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.note_id IS DISTINCT FROM OLD.note_id OR NEW.author_id IS DISTINCT FROM OLD.author_id OR NEW.content_hash IS DISTINCT FROM OLD.content_hash OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'an amendment is never changed';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER clinical_note_amendments_fixed BEFORE UPDATE OR DELETE ON clinical_note_amendments
    FOR EACH ROW EXECUTE FUNCTION clinical_note_amendments_fixed();

CREATE FUNCTION prescription_dispenses_fixed() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'a dispense is never changed or deleted';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER prescription_dispenses_fixed BEFORE UPDATE OR DELETE ON prescription_dispenses
    FOR EACH ROW EXECUTE FUNCTION prescription_dispenses_fixed();
