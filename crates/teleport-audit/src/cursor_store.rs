//! [`FileCursorStore`]: keep a cursor in a file, replaced atomically.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Cursor, Error};

/// Stores a [`Cursor`] in one file. Each save writes a temporary file next to it, flushes it to
/// disk, renames it over the old one and flushes the directory: after a crash the file holds
/// either the old cursor or the new one, never a mix.
#[derive(Clone, Debug)]
pub struct FileCursorStore {
    path: PathBuf,
}

impl FileCursorStore {
    /// A store at `path` (the file need not exist yet; its directory must).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored cursor, or `None` if the file does not exist.
    ///
    /// # Errors
    ///
    /// [`Error::CursorFile`] if the file cannot be read, [`Error::InvalidCursor`] (naming the
    /// file) if it does not hold a cursor.
    pub fn load(&self) -> Result<Option<Cursor>, Error> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::CursorFile {
                    path: self.path.clone(),
                    action: "read",
                    source,
                });
            }
        };
        Cursor::from_json(&text)
            .map(Some)
            .map_err(|error| match error {
                Error::InvalidCursor { reason, source } => Error::InvalidCursor {
                    reason: format!("{}: {reason}", self.path.display()),
                    source,
                },
                other => other,
            })
    }

    /// Replaces the stored cursor.
    ///
    /// # Errors
    ///
    /// [`Error::CursorFile`] naming the step that failed (create, write, sync, rename).
    pub fn save(&self, cursor: &Cursor) -> Result<(), Error> {
        let failed = |action: &'static str| {
            let path = self.path.clone();
            move |source| Error::CursorFile {
                path,
                action,
                source,
            }
        };
        let mut temp_name = self
            .path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "cursor".into());
        // Unique per save, so that concurrent saves (the store is `Clone`) never share a file.
        static SAVES: AtomicU64 = AtomicU64::new(0);
        let save = SAVES.fetch_add(1, Ordering::Relaxed);
        temp_name.push(format!(".tmp-{}-{save}", std::process::id()));
        let temp = self.path.with_file_name(temp_name);
        let mut file = fs::File::create(&temp).map_err(failed("create the temporary file for"))?;
        let written = file
            .write_all(cursor.to_json().as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .map_err(failed("write"))
            .and_then(|()| file.sync_all().map_err(failed("flush to disk")));
        if let Err(error) = written {
            let _ = fs::remove_file(&temp);
            return Err(error);
        }
        drop(file);
        if let Err(error) = fs::rename(&temp, &self.path) {
            let _ = fs::remove_file(&temp);
            return Err(failed("rename into place")(error));
        }
        // Make the rename itself durable.
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(handle) = fs::File::open(dir) {
                let _ = handle.sync_all();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn concurrent_saves_each_leave_a_whole_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCursorStore::new(dir.path().join("cursor.json"));
        let cursors: Vec<Cursor> = (0..8)
            .map(|i| {
                Cursor::starting_at(time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(i))
            })
            .collect();
        std::thread::scope(|scope| {
            for cursor in &cursors {
                let store = store.clone();
                scope.spawn(move || {
                    for _ in 0..50 {
                        store.save(cursor).unwrap();
                    }
                });
            }
        });
        let last = store.load().unwrap().unwrap();
        assert!(cursors.contains(&last));
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "temporary files left behind");
    }

    #[test]
    fn save_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCursorStore::new(dir.path().join("cursor.json"));
        assert!(store.load().unwrap().is_none());
        let cursor = Cursor::starting_at(datetime!(2025-12-02 07:14:36 UTC));
        store.save(&cursor).unwrap();
        assert_eq!(store.load().unwrap(), Some(cursor.clone()));
        let later = Cursor::starting_at(datetime!(2025-12-03 00:00 UTC));
        store.save(&later).unwrap();
        assert_eq!(store.load().unwrap(), Some(later));
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("cursor.json")]);
    }

    #[test]
    fn a_corrupt_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor.json");
        fs::write(&path, "{\"v\":1,\"watermark\":").unwrap();
        let error = FileCursorStore::new(&path).load().unwrap_err();
        assert!(matches!(error, Error::InvalidCursor { .. }));
        assert!(error.to_string().contains("cursor.json"), "{error}");
    }

    #[test]
    fn an_unwritable_place_is_a_cursor_file_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCursorStore::new(dir.path().join("missing-dir").join("cursor.json"));
        let error = store
            .save(&Cursor::starting_at(datetime!(2025-01-01 0:00 UTC)))
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::CursorFile {
                    action: "create the temporary file for",
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
