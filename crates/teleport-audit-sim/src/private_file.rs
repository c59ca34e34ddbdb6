//! Writing a file only its owner can read, replacing any old one atomically: how the sim hands
//! an identity file (which holds a private key) to a client in another process.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::SimError;

/// Writes `contents` to `path` with mode 0600 (on Unix): into a new temporary file in the same
/// directory, flushed to disk, then renamed over `path`, so a reader sees the old file or the
/// new one, never a part, and never a moment where the file is readable by others. `what`
/// names the file in errors.
///
/// # Errors
/// [`SimError::Write`] when `path` is a directory, its directory does not exist or is not
/// writable, or the disk fails.
pub(crate) fn write_private(
    path: &Path,
    contents: &[u8],
    what: &'static str,
) -> Result<(), SimError> {
    let fail = |source: io::Error| SimError::Write {
        what,
        path: path.to_path_buf(),
        source,
    };
    if path.is_dir() {
        return Err(fail(io::Error::new(
            io::ErrorKind::IsADirectory,
            "it is a directory",
        )));
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| fail(io::Error::new(io::ErrorKind::InvalidInput, "no file name")))?;
    // tempfile creates the file with mode 0600 and removes it if anything below fails.
    let mut temp = tempfile::Builder::new()
        .prefix(&{
            let mut prefix = std::ffi::OsString::from(".");
            prefix.push(name);
            prefix.push(".");
            prefix
        })
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(fail)?;
    temp.write_all(contents).map_err(fail)?;
    temp.as_file().sync_all().map_err(fail)?;
    temp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn writes_new_files_and_replaces_old_ones_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity");
        write_private(&path, b"first", "identity file").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        // An old file readable by everyone is replaced, not rewritten in place.
        std::fs::write(&path, "old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        write_private(&path, b"second", "identity file").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["identity"]);
    }

    #[test]
    fn directories_and_missing_parents_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_private(dir.path(), b"x", "identity file").unwrap_err();
        assert!(
            matches!(&err, SimError::Write { source, .. } if source.kind() == io::ErrorKind::IsADirectory),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "could not write the identity file to {}",
                dir.path().display()
            )
        );
        let missing = dir.path().join("no-such-dir").join("identity");
        let err = write_private(&missing, b"x", "identity file").unwrap_err();
        assert!(
            matches!(&err, SimError::Write { source, .. } if source.kind() == io::ErrorKind::NotFound),
            "{err:?}"
        );
        assert_eq!(err.code(), "write");
    }
}
