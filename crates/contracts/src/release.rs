//! A release as it travels dev → company → hospitals: its manifest, the
//! developer's Ed25519 signature of it, and company's countersigned
//! approval. Dev verifies the signature on upload, company again when it
//! pulls and before it approves, hospitals once more against the keys they
//! pin — so every hop uses these functions and no other encoding.
//!
//! A signature covers the canonical JSON of what it signs: the fields in
//! lexicographic key order (the order they are declared in here), no
//! whitespace, strings escaped as serde_json does (RFC 8785's escaping for
//! these field types), integers in decimal. The manifest carries the
//! artifact's sha256 and size, so the developer's signature binds the
//! bytes; the approval carries the manifest and that signature, so
//! company's countersignature binds both and the two people who approved.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::signature::{Ed25519KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

/// What a release declares. The fields are declared in lexicographic
/// order: that is the canonical order the signature covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The lowest database schema version the release runs against.
    pub min_schema_version: i64,
    /// Release notes (up to 4000 characters).
    pub notes: String,
    /// The product (`hospital-server`, `bulkhead`, …).
    pub product: String,
    /// The artifact's SHA-256, lower-case hex.
    pub sha256: String,
    /// The artifact's size in bytes.
    pub size: i64,
    /// The version (`1.4.0`, `2026.12.1-rc1`).
    pub version: String,
}

/// Longest release notes.
pub const MAX_NOTES: usize = 4000;

impl Manifest {
    /// The bytes the signature covers.
    pub fn canonical(&self) -> Vec<u8> {
        // A struct of strings and integers always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Check every field; `Err((field, problem))` names the first bad one.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let name_ok = |s: &str, extra: &str| {
            (1..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || extra.as_bytes().contains(&b))
                && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        };
        if !name_ok(&self.product, "-_.") {
            return Err((
                "product",
                "1 to 64 of a-z, A-Z, 0-9, '-', '_', '.', starting with a letter or digit".into(),
            ));
        }
        if !name_ok(&self.version, "-_.+") {
            return Err((
                "version",
                "1 to 64 of a-z, A-Z, 0-9, '-', '_', '.', '+', starting with a letter or digit"
                    .into(),
            ));
        }
        if self.sha256.len() != 64
            || !self
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(("sha256", "64 lower-case hexadecimal digits".into()));
        }
        if self.size < 1 {
            return Err(("size", "at least 1 byte".into()));
        }
        if self.notes.chars().count() > MAX_NOTES
            || self
                .notes
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            return Err((
                "notes",
                format!("up to {MAX_NOTES} characters, without control characters"),
            ));
        }
        if !(0..=1_000_000).contains(&self.min_schema_version) {
            return Err(("min_schema_version", "between 0 and 1000000".into()));
        }
        Ok(())
    }
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// SHA-256 (lower-case hex) and size of the file at `path`, read in blocks.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1024 * 1024];
    let mut size: u64 = 0;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        digest.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(digest.finish().as_ref()), size))
}

/// A new key pair: (PKCS#8 document, raw 32-byte public key).
pub fn generate() -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    use ring::signature::KeyPair;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| anyhow::anyhow!("could not generate an Ed25519 key pair"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| anyhow::anyhow!("the generated key pair does not parse"))?;
    Ok((pkcs8.as_ref().to_vec(), pair.public_key().as_ref().to_vec()))
}

/// Sign `manifest` with a PKCS#8 Ed25519 key; base64 of the 64-byte signature.
pub fn sign(pkcs8: &[u8], manifest: &Manifest) -> anyhow::Result<String> {
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
        .map_err(|_| anyhow::anyhow!("the key is not a PKCS#8 Ed25519 private key"))?;
    Ok(B64.encode(pair.sign(&manifest.canonical()).as_ref()))
}

/// Decode a base64 raw Ed25519 public key (32 bytes).
pub fn decode_public_key(b64: &str) -> Option<Vec<u8>> {
    B64.decode(b64.trim())
        .ok()
        .filter(|k| k.len() == ring::signature::ED25519_PUBLIC_KEY_LEN)
}

/// Whether `signature_b64` is `public_key_b64`'s signature of `manifest`.
pub fn verify(public_key_b64: &str, manifest: &Manifest, signature_b64: &str) -> bool {
    let (Some(key), Ok(sig)) = (
        decode_public_key(public_key_b64),
        B64.decode(signature_b64.trim()),
    ) else {
        return false;
    };
    UnparsedPublicKey::new(&ED25519, key)
        .verify(&manifest.canonical(), &sig)
        .is_ok()
}

/// Base64 (standard, padded), as keys and signatures travel.
pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Company's approval of a release for production: what its approval key
/// countersigns. Two people: the production user who promoted it and the
/// team lead who approved it (never the same, never the signer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// When the team lead approved it (RFC 3339, UTC).
    pub approved_at: String,
    /// The team lead's username on company.
    pub approved_by: String,
    /// The manifest the developer signed.
    pub manifest: Manifest,
    /// The production user's username on company.
    pub promoted_by: String,
    /// The release's id (dev's).
    pub release_id: String,
    /// The developer's signature of the manifest (base64).
    pub signature: String,
    /// The dev signing key that made it.
    pub signing_key_id: String,
    /// That key's public half (base64): company vouches for it, so a
    /// hospital that pins only company's approval key can check the
    /// developer's signature too.
    pub signing_public_key: String,
}

impl Approval {
    /// The bytes company's countersignature covers.
    pub fn canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Countersign `approval` with company's PKCS#8 Ed25519 key (base64).
pub fn countersign(pkcs8: &[u8], approval: &Approval) -> anyhow::Result<String> {
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
        .map_err(|_| anyhow::anyhow!("the approval key is not a PKCS#8 Ed25519 private key"))?;
    Ok(B64.encode(pair.sign(&approval.canonical()).as_ref()))
}

/// The raw public key (base64) of a PKCS#8 Ed25519 key.
pub fn public_key_of(pkcs8: &[u8]) -> anyhow::Result<String> {
    use ring::signature::KeyPair;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
        .map_err(|_| anyhow::anyhow!("not a PKCS#8 Ed25519 private key"))?;
    Ok(B64.encode(pair.public_key().as_ref()))
}

/// Whether `countersignature_b64` is `public_key_b64`'s signature of `approval`.
pub fn verify_approval(
    public_key_b64: &str,
    approval: &Approval,
    countersignature_b64: &str,
) -> bool {
    let (Some(key), Ok(sig)) = (
        decode_public_key(public_key_b64),
        B64.decode(countersignature_b64.trim()),
    ) else {
        return false;
    };
    UnparsedPublicKey::new(&ED25519, key)
        .verify(&approval.canonical(), &sig)
        .is_ok()
}

/// The release company approved for a product, as hospitals and owner
/// receive it (`GET` [`crate::paths::APPROVED_RELEASE`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApprovedRelease {
    /// What company countersigned.
    pub approval: Approval,
    /// Company's countersignature of it (base64).
    pub countersignature: String,
}

/// Why an approved release is not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untrusted {
    /// Company's countersignature does not verify against the pinned key.
    ApprovalInvalid,
    /// The developer's signature does not verify against the key company vouches for.
    SignatureInvalid,
    /// The manifest is out of bounds.
    ManifestInvalid,
}

impl Untrusted {
    /// Its code in errors, health reports and security events.
    pub fn code(self) -> &'static str {
        match self {
            Self::ApprovalInvalid => "APPROVAL_INVALID",
            Self::SignatureInvalid => "SIGNATURE_INVALID",
            Self::ManifestInvalid => "MANIFEST_INVALID",
        }
    }
}

impl ApprovedRelease {
    /// Check both signatures: company's countersignature against the key
    /// the caller pins, then the developer's signature against the key
    /// company vouches for in the approval.
    pub fn check(&self, pinned_approval_key: &str) -> Result<(), Untrusted> {
        if !verify_approval(pinned_approval_key, &self.approval, &self.countersignature) {
            return Err(Untrusted::ApprovalInvalid);
        }
        let a = &self.approval;
        if a.manifest.check().is_err() {
            return Err(Untrusted::ManifestInvalid);
        }
        if !verify(&a.signing_public_key, &a.manifest, &a.signature) {
            return Err(Untrusted::SignatureInvalid);
        }
        Ok(())
    }
}

/// A release as dev offers it to company (`GET` [`crate::paths::DEV_RELEASES`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReleaseOffer {
    /// Dev's id of the release.
    pub id: String,
    /// What the developer signed.
    pub manifest: Manifest,
    /// The developer's signature (base64).
    pub signature: String,
    /// The key that made it.
    pub signing_key_id: String,
    /// When dev stored it (UTC).
    pub created_at: chrono::NaiveDateTime,
}

/// A developer's signing key as dev publishes it to company
/// (`GET` [`crate::paths::DEV_SIGNING_KEYS`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyOffer {
    /// Key id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Raw Ed25519 public key, base64.
    pub public_key: String,
    /// The developer's username on dev.
    pub owner_username: String,
    /// When registered (UTC).
    pub created_at: chrono::NaiveDateTime,
    /// When revoked, if it was (UTC).
    pub revoked_at: Option<chrono::NaiveDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            min_schema_version: 3,
            notes: "fixes \"quotes\"\nand lines".into(),
            product: "hospital-server".into(),
            sha256: sha256_hex(b"artifact"),
            size: 8,
            version: "1.2.3".into(),
        }
    }

    #[test]
    fn canonical_form_is_sorted_and_compact() {
        let text = String::from_utf8(manifest().canonical()).unwrap();
        assert!(text.starts_with("{\"min_schema_version\":3,\"notes\":"));
        assert!(text.contains("\"size\":8,\"version\":\"1.2.3\"}"));
        assert!(!text.contains(": "));
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let (pkcs8, public) = generate().unwrap();
        let m = manifest();
        let sig = sign(&pkcs8, &m).unwrap();
        assert!(verify(&b64(&public), &m, &sig));
        let mut other = m.clone();
        other.size = 9;
        assert!(!verify(&b64(&public), &other, &sig));
        let (_, stranger) = generate().unwrap();
        assert!(!verify(&b64(&stranger), &m, &sig));
        assert!(!verify(&b64(&public), &m, "not base64!"));
    }

    #[test]
    fn checks_fields() {
        assert!(manifest().check().is_ok());
        let mut m = manifest();
        m.sha256 = "ABC".into();
        assert_eq!(m.check().unwrap_err().0, "sha256");
        let mut m = manifest();
        m.product = "../x".into();
        assert_eq!(m.check().unwrap_err().0, "product");
    }

    #[test]
    fn an_approved_release_checks_both_signatures() {
        let (dev_key, dev_pub) = generate().unwrap();
        let (company_key, company_pub) = generate().unwrap();
        let m = manifest();
        let approval = Approval {
            approved_at: "2026-12-06T10:00:00Z".into(),
            approved_by: "teamlead".into(),
            signature: sign(&dev_key, &m).unwrap(),
            manifest: m,
            promoted_by: "production".into(),
            release_id: "r1".into(),
            signing_key_id: "k1".into(),
            signing_public_key: b64(&dev_pub),
        };
        let good = ApprovedRelease {
            countersignature: countersign(&company_key, &approval).unwrap(),
            approval,
        };
        assert_eq!(good.check(&b64(&company_pub)), Ok(()));
        assert_eq!(good.check(&b64(&dev_pub)), Err(Untrusted::ApprovalInvalid));
        // A developer signature company countersigned but that does not verify.
        let mut bad = good.approval.clone();
        bad.signature = sign(&company_key, &bad.manifest).unwrap();
        let bad = ApprovedRelease {
            countersignature: countersign(&company_key, &bad).unwrap(),
            approval: bad,
        };
        assert_eq!(
            bad.check(&b64(&company_pub)),
            Err(Untrusted::SignatureInvalid)
        );
    }

    #[test]
    fn approval_countersignature_binds_manifest_signature_and_people() {
        let (dev_key, dev_pub) = generate().unwrap();
        let (company_key, company_pub) = generate().unwrap();
        let m = manifest();
        let a = Approval {
            approved_at: "2026-12-06T10:00:00Z".into(),
            approved_by: "teamlead".into(),
            signature: sign(&dev_key, &m).unwrap(),
            manifest: m,
            promoted_by: "production".into(),
            release_id: "r1".into(),
            signing_key_id: "k1".into(),
            signing_public_key: b64(&dev_pub),
        };
        assert_eq!(public_key_of(&company_key).unwrap(), b64(&company_pub));
        let cs = countersign(&company_key, &a).unwrap();
        assert!(verify_approval(&b64(&company_pub), &a, &cs));
        assert!(!verify_approval(&b64(&dev_pub), &a, &cs));
        assert!(verify(&a.signing_public_key, &a.manifest, &a.signature));
        let text = String::from_utf8(a.canonical()).unwrap();
        assert!(text.starts_with("{\"approved_at\":"), "{text}");
        for change in [
            |a: &mut Approval| a.approved_by = "production".into(),
            |a: &mut Approval| a.manifest.size += 1,
            |a: &mut Approval| a.signature = "AAAA".into(),
            |a: &mut Approval| a.promoted_by = "teamlead".into(),
            |a: &mut Approval| a.signing_public_key = "AAAA".into(),
        ] {
            let mut other = a.clone();
            change(&mut other);
            assert!(!verify_approval(&b64(&company_pub), &other, &cs));
        }
    }
}
