//! A release's manifest, its canonical form and its Ed25519 signature,
//! shared by the server (verification) and `bulkhead release` (signing).
//!
//! The signature covers the manifest's canonical JSON: the six fields in
//! lexicographic key order, no whitespace, strings escaped as serde_json
//! does (the RFC 8785 escaping for these field types), integers in decimal.
//! The manifest carries the artifact's sha256 and size, so the signature
//! binds the bytes too.

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
}
