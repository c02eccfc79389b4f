-- A signed clinical note is fixed by the database too: once signed, only
-- its ciphertext may be rewritten (re-encryption under a new key, the same
-- text), and it is never deleted; amendments and dispenses are only ever
-- inserted (an amendment's ciphertexts may be re-encrypted).
CREATE TRIGGER clinical_notes_signed_fixed BEFORE UPDATE ON clinical_notes
WHEN OLD.status = 'signed' AND (NEW.id IS NOT OLD.id OR NEW.tenant_id IS NOT OLD.tenant_id OR NEW.patient_id IS NOT OLD.patient_id OR NEW.author_id IS NOT OLD.author_id OR NEW.kind IS NOT OLD.kind OR NEW.status IS NOT OLD.status OR NEW.content_hash IS NOT OLD.content_hash OR NEW.signed_at IS NOT OLD.signed_at OR NEW.created_at IS NOT OLD.created_at OR NEW.updated_at IS NOT OLD.updated_at)
BEGIN
    SELECT RAISE(ABORT, 'a signed note is never changed; amend it');
END;
CREATE TRIGGER clinical_notes_signed_kept BEFORE DELETE ON clinical_notes
WHEN OLD.status = 'signed'
BEGIN
    SELECT RAISE(ABORT, 'a signed note is never deleted');
END;
CREATE TRIGGER clinical_note_amendments_fixed BEFORE UPDATE ON clinical_note_amendments
WHEN NEW.id IS NOT OLD.id OR NEW.tenant_id IS NOT OLD.tenant_id OR NEW.note_id IS NOT OLD.note_id OR NEW.author_id IS NOT OLD.author_id OR NEW.content_hash IS NOT OLD.content_hash OR NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'an amendment is never changed');
END;
CREATE TRIGGER clinical_note_amendments_kept BEFORE DELETE ON clinical_note_amendments
BEGIN
    SELECT RAISE(ABORT, 'an amendment is never deleted');
END;
CREATE TRIGGER prescription_dispenses_fixed BEFORE UPDATE ON prescription_dispenses
BEGIN
    SELECT RAISE(ABORT, 'a dispense is never changed');
END;
CREATE TRIGGER prescription_dispenses_kept BEFORE DELETE ON prescription_dispenses
BEGIN
    SELECT RAISE(ABORT, 'a dispense is never deleted');
END;
