//! What a file is, by its first bytes (the `infer` crate's magic-number
//! matchers), not by its name or a request header: a name declares a type,
//! and the content must be that type.

use super::rules::FileType;

/// The `infer` extension that matches `t`'s magic bytes (None: a text type).
fn magic_of(t: &FileType) -> Option<&'static str> {
    match t.name {
        "pdf" => Some("pdf"),
        "png" => Some("png"),
        "jpeg" => Some("jpg"),
        "tiff" => Some("tif"),
        "dicom" => Some("dcm"),
        "docx" => Some("docx"),
        _ => None,
    }
}

/// Whether `first` (the first bytes of the content, up to a chunk) is text:
/// UTF-8 (a character cut at the end of the chunk is allowed), no NUL and no
/// known binary signature.
fn is_text(first: &[u8], whole: bool) -> bool {
    if first.contains(&0) || infer::get(first).is_some() {
        return false;
    }
    match std::str::from_utf8(first) {
        Ok(_) => true,
        Err(e) => !whole && e.error_len().is_none(),
    }
}

/// Refuse content that is not of the declared type. `whole` is true when
/// `first` is the entire file.
pub fn check(first: &[u8], declared: &FileType, whole: bool) -> Result<(), String> {
    let ok = match magic_of(declared) {
        Some(ext) => infer::is(first, ext),
        None => is_text(first, whole),
    };
    if ok {
        Ok(())
    } else {
        let seen = infer::get(first).map_or("unrecognised content", |k| k.mime_type());
        Err(format!(
            "the content is not {} ({seen}); the file name's extension must match what the file is",
            declared.name
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::rules::type_named;

    fn t(name: &str) -> &'static FileType {
        type_named(name).unwrap_or_else(|| panic!("{name}"))
    }

    #[test]
    fn magic_bytes_decide_not_the_name() {
        assert!(check(b"%PDF-1.7\n...", t("pdf"), true).is_ok());
        assert!(check(b"\x89PNG\r\n\x1a\n....", t("png"), true).is_ok());
        assert!(check(b"\x89PNG\r\n\x1a\n....", t("pdf"), true).is_err());
        assert!(check(b"hello, doctor\n", t("txt"), true).is_ok());
        assert!(check(b"%PDF-1.7\n", t("txt"), true).is_err());
        assert!(check(b"MZ\x90\x00\x03\x00", t("txt"), true).is_err());
        assert!(check(b"plain words", t("png"), true).is_err());
    }

    #[test]
    fn dicom_is_found_after_its_preamble() {
        let mut d = vec![0u8; 128];
        d.extend_from_slice(b"DICM\x02\x00");
        assert!(check(&d, t("dicom"), true).is_ok());
        assert!(check(&d[..100], t("dicom"), true).is_err());
    }

    #[test]
    fn text_may_end_inside_a_character_only_when_more_follows() {
        let cut = "caf\u{e9}".as_bytes();
        let cut = &cut[..cut.len() - 1];
        assert!(check(cut, t("txt"), false).is_ok());
        assert!(check(cut, t("txt"), true).is_err());
    }
}
