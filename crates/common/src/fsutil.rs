//! Writing files that must never be seen half-written: keys, certificates,
//! CRLs and their registers. One helper, so every key file gets the same
//! care (created 0600, never widened afterwards; synced; renamed or linked
//! into place; the folder synced).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};

/// Who may read the file written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Mode 0600: private keys and other secrets.
    Private,
    /// Mode 0644: certificates, CRLs, registers.
    Public,
}

/// What to do when the target already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace it atomically (rotation).
    Replace,
    /// Refuse: an error, the old file untouched (a key that data depends on).
    Keep,
}

/// Write `contents` to `path` atomically: a new temporary file beside it,
/// created with the mode `access` asks for, synced, then renamed over
/// `path` ([`Existing::Replace`]) or linked to it only if `path` does not
/// exist ([`Existing::Keep`]). A reader sees the old file or the new one,
/// never part of one; no temporary file is left behind.
pub fn write_atomic(
    path: &Path,
    contents: &[u8],
    access: Access,
    existing: Existing,
) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("{} does not name a file", path.display()))?;
    if existing == Existing::Keep && path.exists() {
        bail!("refusing to replace the existing file {}", path.display());
    }
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = write_new(&tmp, contents, access).and_then(|()| match existing {
        Existing::Replace => {
            fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
        }
        Existing::Keep => link_no_clobber(&tmp, path),
    });
    // After a rename the temporary name is gone; after a link it is a second
    // name of the new file; after a failure it is debris. Remove it in every case.
    let _ = fs::remove_file(&tmp);
    result?;
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// [`write_atomic`] for a secret (mode 0600).
pub fn write_private_atomic(
    path: &Path,
    contents: &[u8],
    existing: Existing,
) -> anyhow::Result<()> {
    write_atomic(path, contents, Access::Private, existing)
}

fn write_new(path: &Path, data: &[u8], access: Access) -> anyhow::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(match access {
            Access::Private => 0o600,
            Access::Public => 0o644,
        });
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(data)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Give the file at `from` the name `to`, failing if `to` exists.
fn link_no_clobber(from: &Path, to: &Path) -> anyhow::Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("refusing to replace the existing file {}", to.display())
        }
        // A file system without hard links: rename (after checking again).
        Err(_) => {
            if to.exists() {
                bail!("refusing to replace the existing file {}", to.display());
            }
            fs::rename(from, to).with_context(|| format!("creating {}", to.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_files_are_0600_and_replace_or_keep_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.key");
        write_private_atomic(&key, b"one", Existing::Keep).unwrap();
        assert_eq!(mode(&key), 0o600);
        assert!(write_private_atomic(&key, b"two", Existing::Keep).is_err());
        assert_eq!(fs::read(&key).unwrap(), b"one");
        write_private_atomic(&key, b"three", Existing::Replace).unwrap();
        assert_eq!(fs::read(&key).unwrap(), b"three");
        assert_eq!(mode(&key), 0o600);
        let crt = dir.path().join("c.crt");
        write_atomic(&crt, b"x", Access::Public, Existing::Replace).unwrap();
        assert_eq!(mode(&crt), 0o644);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    }
}

/// How old a `.part` file must be before [`sweep_stale_parts`] takes it at a
/// server's start: a day (a transfer in progress is written continuously).
pub const STALE_PART_AGE: std::time::Duration = std::time::Duration::from_secs(86_400);

/// Remove the files in `dir` whose names end in `.part` and that were last
/// written more than `older_than` ago: downloads and uploads a crash
/// interrupted (one in progress is written to continuously, so it is never
/// that old). Returns how many went; a missing folder is none.
pub fn sweep_stale_parts(dir: &Path, older_than: std::time::Duration) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let stale = path.extension().is_some_and(|e| e == "part")
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > older_than);
        if stale && fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(dir = %dir.display(), removed, "removed interrupted partial files");
    }
    removed
}

#[cfg(test)]
mod sweep_tests {
    use super::*;

    #[test]
    fn only_old_part_files_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("a.part");
        let fresh = dir.path().join("b.part");
        let other = dir.path().join("c.bin");
        for p in [&old, &fresh, &other] {
            fs::write(p, b"x").unwrap();
        }
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 86_400);
        fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(past)
            .unwrap();
        fs::File::options()
            .write(true)
            .open(&other)
            .unwrap()
            .set_modified(past)
            .unwrap();
        let n = sweep_stale_parts(dir.path(), std::time::Duration::from_secs(86_400));
        assert_eq!(n, 1);
        assert!(!old.exists() && fresh.exists() && other.exists());
        assert_eq!(
            sweep_stale_parts(&dir.path().join("missing"), std::time::Duration::ZERO),
            0
        );
    }
}
