//! [`FileCursorStore`]: keep a cursor in a file the way a database keeps its files.
//!
//! - **One process at a time.** [`FileCursorStore::open`] takes an advisory lock on
//!   `<cursor file>.lock` beside it, held for the store's life (all clones share it): a second
//!   process on the same cursor, the usual mistake with two replicas, is refused with
//!   [`CursorError::Locked`] instead of both writing and skipping each other's events.
//! - **Regular files only.** A symbolic link is followed to its target, and saves replace the
//!   target in its own directory (the link stays a link). A dangling link, a directory, a FIFO,
//!   a device or a socket is refused with [`CursorError::FileUnusable`].
//! - **Bounded reads.** A file larger than [`MAX_CURSOR_FILE_BYTES`] is refused without reading
//!   it whole.
//! - **Atomic, durable saves.** Each save writes a uniquely named temporary file beside the
//!   target, flushes it to disk, renames it over the target and flushes the directory: after a
//!   crash the file holds either the old cursor or the new one. Temporary files left behind by a
//!   killed process are removed when the store is opened.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use teleport_identity::secret_text::{looks_like_secret, shown_path};

use crate::cursor::Cursor;
use crate::error::{CursorError, Error, NOT_A_CURSOR};

/// The largest cursor file [`FileCursorStore::load`] reads. The format's own bound is far below
/// it (see `docs/cursor.md`: about 150 KB at 1,000 events/s); a larger file is not a cursor.
pub const MAX_CURSOR_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The key under which [`crate::FileSink`] records its output file in the cursor file.
const OUTPUT_KEY: &str = "output";

/// Stores a [`Cursor`] in one file, locked for the store's life: one process at a time, regular
/// files only (a symbolic link is followed), reads bounded by [`MAX_CURSOR_FILE_BYTES`], atomic
/// and durable saves, stale temporary files removed on open.
///
/// Cheap to clone; clones share the lock, which is released when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct FileCursorStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The path as given (for messages).
    path: PathBuf,
    /// The file saves replace: `path` with symbolic links resolved.
    target: PathBuf,
    /// The lock file, locked while this is open.
    _lock: File,
}

/// What a [`crate::FileSink`] had durably written to its output file when a cursor was saved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OutputMark {
    /// The output file (absolute, symbolic links resolved).
    pub(crate) path: PathBuf,
    /// Its length in bytes.
    pub(crate) len: u64,
}

impl FileCursorStore {
    /// Opens the store at `path` (the file need not exist yet; its directory must), locks it
    /// against other processes, and removes temporary files that a killed save left behind.
    ///
    /// # Errors
    ///
    /// [`CursorError::Locked`] if another process holds the store open;
    /// [`CursorError::FileUnusable`] if `path` is a directory, FIFO, device, socket or dangling
    /// symbolic link, or its directory does not exist, or it
    /// [looks like key material](teleport_identity::secret_text::looks_like_secret) (then only
    /// its length is shown); [`CursorError::File`] if the lock file cannot be created.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, Error> {
        let path = path.into();
        if looks_like_secret(&path.as_os_str().to_string_lossy()) {
            // An identity file's text given as the path: never named in a message, nor used to
            // name a file.
            return Err(Error::Cursor(CursorError::FileUnusable {
                path: shown_path(&path),
                reason: KEY_MATERIAL.to_owned(),
            }));
        }
        let target = resolve(&path)?;
        let lock_path = sibling(&target, ".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| {
                Error::Cursor(CursorError::File {
                    path: path.clone(),
                    action: "create its lock file",
                    source: Arc::new(source),
                })
            })?;
        lock_or_refuse(
            &lock,
            &path,
            |path| CursorError::Locked { path }.into(),
            |source| {
                Error::Cursor(CursorError::File {
                    path: path.clone(),
                    action: "lock",
                    source: Arc::new(source),
                })
            },
        )?;
        remove_stale_temporaries(&target);
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                target,
                _lock: lock,
            }),
        })
    }

    /// The path the store was opened with.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The stored cursor, or `None` if the file does not exist.
    ///
    /// # Errors
    ///
    /// [`CursorError::File`] if the file cannot be read, [`CursorError::FileUnusable`] if it is
    /// not a regular file or is over [`MAX_CURSOR_FILE_BYTES`], [`CursorError::Invalid`] (naming
    /// the file) if it does not hold a cursor.
    pub fn load(&self) -> Result<Option<Cursor>, Error> {
        Ok(self.load_with_output()?.map(|(cursor, _)| cursor))
    }

    /// The stored cursor and, if a [`crate::FileSink`] saved it, its output mark.
    pub(crate) fn load_with_output(&self) -> Result<Option<(Cursor, Option<OutputMark>)>, Error> {
        let Some(text) = self.read()? else {
            return Ok(None);
        };
        let invalid = |reason: String, source: Option<serde_json::Error>| {
            Error::Cursor(CursorError::Invalid {
                reason: format!("{}: {reason}", self.inner.path.display()),
                source: source.map(Arc::new),
            })
        };
        let mut value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(NOT_A_CURSOR.to_owned(), Some(e)))?;
        let output = value
            .as_object_mut()
            .and_then(|object| object.remove(OUTPUT_KEY))
            .map(|mark| parse_output_mark(&mark).map_err(|reason| invalid(reason, None)))
            .transpose()?;
        let cursor = serde::Deserialize::deserialize(value)
            .map_err(|e: serde_json::Error| invalid(NOT_A_CURSOR.to_owned(), Some(e)))?;
        Ok(Some((cursor, output)))
    }

    /// Replaces the stored cursor.
    ///
    /// # Errors
    ///
    /// [`CursorError::File`] naming the step that failed (create, write, sync, rename); the old
    /// cursor is then still in place.
    pub fn save(&self, cursor: &Cursor) -> Result<(), Error> {
        self.write(format!("{}\n", cursor.to_json()).as_bytes())
    }

    /// Replaces the stored cursor, recording the output mark beside it.
    pub(crate) fn save_with_output(&self, cursor: &Cursor, mark: &OutputMark) -> Result<(), Error> {
        let mut value = serde_json::to_value(cursor).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.insert(
                OUTPUT_KEY.to_owned(),
                serde_json::json!({
                    "path": mark.path.to_string_lossy(),
                    "len": mark.len,
                }),
            );
        }
        let mut text = value.to_string();
        text.push('\n');
        self.write(text.as_bytes())
    }

    /// The file's text, or `None` if it does not exist.
    fn read(&self) -> Result<Option<String>, Error> {
        let target = &self.inner.target;
        // Checked before opening: opening a FIFO for reading would wait for a writer.
        match fs::symlink_metadata(target) {
            Ok(meta) if meta.is_file() => {}
            Ok(meta) => {
                return Err(self.unusable(format!("is {}, not a regular file", kind(&meta))));
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(self.failed("read", source)),
        }
        let file = File::open(target).map_err(|source| self.failed("open", source))?;
        let len = file
            .metadata()
            .map_err(|source| self.failed("read", source))?
            .len();
        if len > MAX_CURSOR_FILE_BYTES {
            return Err(self.too_large(len));
        }
        let mut text = String::new();
        let read = file
            .take(MAX_CURSOR_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|source| self.failed("read", source))?;
        if read as u64 > MAX_CURSOR_FILE_BYTES {
            return Err(self.too_large(read as u64));
        }
        Ok(Some(text))
    }

    fn write(&self, bytes: &[u8]) -> Result<(), Error> {
        let target = &self.inner.target;
        // Unique per save, so that concurrent saves (the store is `Clone`) never share a file.
        static SAVES: AtomicU64 = AtomicU64::new(0);
        let save = SAVES.fetch_add(1, Ordering::Relaxed);
        let temp = sibling(
            target,
            &format!("{TEMP_INFIX}{}-{save}", std::process::id()),
        );
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&temp)
            .map_err(|source| self.failed("create the temporary file for", source))?;
        let written = file
            .write_all(bytes)
            .map_err(|source| self.failed("write", source))
            .and_then(|()| {
                file.sync_all()
                    .map_err(|source| self.failed("flush to disk", source))
            });
        drop(file);
        if let Err(error) = written {
            let _ = fs::remove_file(&temp);
            return Err(error);
        }
        if let Err(source) = fs::rename(&temp, target) {
            let _ = fs::remove_file(&temp);
            return Err(self.failed("rename into place", source));
        }
        sync_parent(target);
        Ok(())
    }

    fn failed(&self, action: &'static str, source: std::io::Error) -> Error {
        Error::Cursor(CursorError::File {
            path: self.inner.path.clone(),
            action,
            source: Arc::new(source),
        })
    }

    fn unusable(&self, reason: String) -> Error {
        Error::Cursor(CursorError::FileUnusable {
            path: self.inner.path.clone(),
            reason,
        })
    }

    fn too_large(&self, len: u64) -> Error {
        self.unusable(format!(
            "is {len} bytes, over the {MAX_CURSOR_FILE_BYTES}-byte limit of a cursor file; it is not a cursor"
        ))
    }
}

/// Why a path that looks like key material is refused.
pub(crate) const KEY_MATERIAL: &str =
    "looks like key material (an identity file's text?), not a path; it is not shown";

/// Temporary files are `<name>.tmp-<pid>-<n>`.
const TEMP_INFIX: &str = ".tmp-";

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "cursor".into());
    name.push(suffix);
    path.with_file_name(name)
}

/// The directory holding `path` ("." for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Takes `file`'s exclusive lock without waiting, for the file at `path` (a cursor file's lock
/// file, an output file): one process per file.
///
/// # Errors
///
/// `locked(path)` ([`CursorError::Locked`], [`crate::error::OutputError::Locked`]) when another
/// holder has the lock (another process, or another store or sink in this one);
/// `failed(source)` when locking itself fails.
pub(crate) fn lock_or_refuse(
    file: &File,
    path: &Path,
    locked: impl FnOnce(PathBuf) -> Error,
    failed: impl FnOnce(std::io::Error) -> Error,
) -> Result<(), Error> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(fs::TryLockError::WouldBlock) => Err(locked(path.to_path_buf())),
        Err(fs::TryLockError::Error(source)) => Err(failed(source)),
    }
}

/// Makes a rename or a file creation in `path`'s directory durable.
pub(crate) fn sync_parent(path: &Path) {
    if let Ok(handle) = File::open(parent_dir(path)) {
        let _ = handle.sync_all();
    }
}

/// Follows symbolic links from `path` to the file saves must replace. The file itself need not
/// exist; a link to nothing must not, since saving would silently create its target.
fn resolve(path: &Path) -> Result<PathBuf, Error> {
    let unusable = |reason: String| {
        Error::Cursor(CursorError::FileUnusable {
            path: path.to_path_buf(),
            reason,
        })
    };
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current).map_err(|source| {
                    Error::Cursor(CursorError::File {
                        path: path.to_path_buf(),
                        action: "read the symbolic link",
                        source: Arc::new(source),
                    })
                })?;
                current = parent_dir(&current).join(link);
            }
            Ok(meta) if meta.is_file() => return Ok(current),
            Ok(meta) => return Err(unusable(format!("is {}, not a regular file", kind(&meta)))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if current != path {
                    return Err(unusable(format!(
                        "is a symbolic link to {}, which does not exist",
                        current.display()
                    )));
                }
                let dir = parent_dir(path);
                return match fs::metadata(dir) {
                    Ok(meta) if meta.is_dir() => Ok(current),
                    _ => Err(unusable(format!(
                        "its directory {} does not exist",
                        dir.display()
                    ))),
                };
            }
            Err(source) => {
                return Err(Error::Cursor(CursorError::File {
                    path: path.to_path_buf(),
                    action: "inspect",
                    source: Arc::new(source),
                }));
            }
        }
    }
    Err(unusable("has too many levels of symbolic links".to_owned()))
}

/// What kind of file `meta` describes, for messages.
pub(crate) fn kind(meta: &fs::Metadata) -> &'static str {
    let file_type = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Removes `<name>.tmp-*` files beside `target`: with the lock held, no other save is running,
/// so any such file was left by a process killed mid-save.
fn remove_stale_temporaries(target: &Path) {
    let Some(name) = target.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let prefix = format!("{name}{TEMP_INFIX}");
    let Ok(entries) = fs::read_dir(parent_dir(target)) else {
        return;
    };
    for entry in entries.flatten() {
        let is_stale = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix))
            && entry.file_type().is_ok_and(|t| t.is_file());
        if is_stale {
            tracing::debug!(file = %entry.path().display(), "removing a stale temporary cursor file");
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn parse_output_mark(value: &serde_json::Value) -> Result<OutputMark, String> {
    let path = value
        .get("path")
        .and_then(serde_json::Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| format!("{OUTPUT_KEY}.path: missing or not a path"))?;
    let len = value
        .get("len")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| format!("{OUTPUT_KEY}.len: missing or not a length in bytes"))?;
    let extra = value.as_object().map_or(0, |o| {
        o.keys().filter(|k| *k != "path" && *k != "len").count()
    });
    if extra > 0 {
        return Err(format!("{OUTPUT_KEY}: unknown fields besides path and len"));
    }
    Ok(OutputMark {
        path: PathBuf::from(path),
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn cursor_at(second: i64) -> Cursor {
        Cursor::starting_at(time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(second))
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn concurrent_saves_each_leave_a_whole_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCursorStore::open(dir.path().join("cursor.json")).unwrap();
        let cursors: Vec<Cursor> = (0..8).map(cursor_at).collect();
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
        assert_eq!(names(dir.path()), ["cursor.json", "cursor.json.lock"]);
    }

    #[test]
    fn save_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCursorStore::open(dir.path().join("cursor.json")).unwrap();
        assert!(store.load().unwrap().is_none());
        let cursor = Cursor::starting_at(datetime!(2025-12-02 07:14:36 UTC));
        store.save(&cursor).unwrap();
        assert_eq!(store.load().unwrap(), Some(cursor.clone()));
        let later = Cursor::starting_at(datetime!(2025-12-03 00:00 UTC));
        store.save(&later).unwrap();
        assert_eq!(store.load().unwrap(), Some(later));
        assert_eq!(names(dir.path()), ["cursor.json", "cursor.json.lock"]);
    }

    #[test]
    fn a_second_store_on_the_same_file_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor.json");
        let first = FileCursorStore::open(&path).unwrap();
        let clone = first.clone();
        let error = FileCursorStore::open(&path).unwrap_err();
        assert!(
            matches!(&error, Error::Cursor(CursorError::Locked { path: p }) if *p == path),
            "{error:?}"
        );
        assert_eq!(error.code(), "file_locked");
        assert!(error.is_fatal());
        drop(first);
        // A clone keeps the lock.
        assert!(FileCursorStore::open(&path).is_err());
        drop(clone);
        FileCursorStore::open(&path).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_is_followed_and_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let real_dir = dir.path().join("real");
        fs::create_dir(&real_dir).unwrap();
        let target = real_dir.join("cursor.json");
        fs::write(&target, format!("{}\n", cursor_at(5).to_json())).unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink("real/cursor.json", &link).unwrap();

        let store = FileCursorStore::open(&link).unwrap();
        assert_eq!(store.load().unwrap(), Some(cursor_at(5)));
        store.save(&cursor_at(9)).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            Cursor::from_json(fs::read_to_string(&target).unwrap().trim()).unwrap(),
            cursor_at(9)
        );
        // The lock and the temporaries live beside the target; a link to the same target
        // from elsewhere is the same cursor, so it is locked too.
        assert_eq!(names(&real_dir), ["cursor.json", "cursor.json.lock"]);
        assert!(matches!(
            FileCursorStore::open(&target),
            Err(Error::Cursor(CursorError::Locked { .. }))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn what_is_not_a_regular_file_is_refused_with_its_kind() {
        let dir = tempfile::tempdir().unwrap();
        let reason = |path: &Path| match FileCursorStore::open(path) {
            Err(Error::Cursor(CursorError::FileUnusable { reason, .. })) => reason,
            other => panic!("expected CursorFileUnusable, got {other:?}"),
        };
        assert_eq!(reason(dir.path()), "is a directory, not a regular file");

        let dangling = dir.path().join("dangling.json");
        std::os::unix::fs::symlink(dir.path().join("nowhere.json"), &dangling).unwrap();
        let text = reason(&dangling);
        assert!(
            text.starts_with("is a symbolic link to ") && text.ends_with("which does not exist"),
            "{text}"
        );

        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert_eq!(reason(&fifo), "is a FIFO, not a regular file");

        assert_eq!(
            reason(Path::new("/dev/null")),
            "is a device, not a regular file"
        );
        assert_eq!(
            reason(&dir.path().join("missing").join("cursor.json")),
            format!(
                "its directory {} does not exist",
                dir.path().join("missing").display()
            )
        );
    }

    #[test]
    fn identity_text_as_the_path_is_refused_without_naming_it_or_creating_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let line = "MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun";
        let text =
            format!("-----BEGIN RSA PRIVATE KEY-----\n{line}\n-----END RSA PRIVATE KEY-----\n");
        for path in [dir.path().join(&text), dir.path().join(line)] {
            let error = FileCursorStore::open(&path).unwrap_err();
            assert!(
                matches!(error, Error::Cursor(CursorError::FileUnusable { .. })),
                "{error:?}"
            );
            for output in [error.to_string(), format!("{error:?}")] {
                assert!(output.contains("not shown"), "{output}");
                assert!(!output.contains("u1SU1LfVLPHCozMxH2Mo"), "{output}");
            }
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_file_over_the_bound_is_refused_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor.json");
        let file = File::create(&path).unwrap();
        // Sparse: no disk space, and a whole read would take 64 MiB of memory.
        file.set_len(MAX_CURSOR_FILE_BYTES + 1).unwrap();
        let store = FileCursorStore::open(&path).unwrap();
        let error = store.load().unwrap_err();
        assert!(
            matches!(&error, Error::Cursor(CursorError::FileUnusable { reason, .. }) if reason.contains("67108865 bytes")),
            "{error:?}"
        );
    }

    #[test]
    fn stale_temporaries_are_removed_on_open_and_others_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor.json");
        fs::write(dir.path().join("cursor.json.tmp-4242-7"), "{\"v\":1,").unwrap();
        fs::write(dir.path().join("other.json.tmp-4242-7"), "keep").unwrap();
        let _store = FileCursorStore::open(&path).unwrap();
        assert_eq!(
            names(dir.path()),
            ["cursor.json.lock", "other.json.tmp-4242-7"]
        );
    }

    #[test]
    fn a_corrupt_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor.json");
        fs::write(&path, "{\"v\":1,\"watermark\":").unwrap();
        let error = FileCursorStore::open(&path).unwrap().load().unwrap_err();
        assert!(matches!(error, Error::Cursor(CursorError::Invalid { .. })));
        assert!(error.to_string().contains("cursor.json"), "{error}");
    }

    #[test]
    fn the_output_mark_is_kept_beside_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCursorStore::open(dir.path().join("cursor.json")).unwrap();
        let mark = OutputMark {
            path: dir.path().join("events.ndjson"),
            len: 12_345,
        };
        store.save_with_output(&cursor_at(3), &mark).unwrap();
        assert_eq!(
            store.load_with_output().unwrap(),
            Some((cursor_at(3), Some(mark)))
        );
        // A plain load ignores the mark; a plain save drops it.
        assert_eq!(store.load().unwrap(), Some(cursor_at(3)));
        store.save(&cursor_at(4)).unwrap();
        assert_eq!(
            store.load_with_output().unwrap(),
            Some((cursor_at(4), None))
        );

        fs::write(
            dir.path().join("cursor.json"),
            r#"{"v":1,"watermark":"1970-01-01T00:00:03Z","output":{"path":"x","len":-1}}"#,
        )
        .unwrap();
        let error = store.load().unwrap_err();
        assert!(error.to_string().contains("output.len"), "{error}");
    }

    #[test]
    fn a_failed_save_leaves_the_old_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor.json");
        let store = FileCursorStore::open(&path).unwrap();
        store.save(&cursor_at(1)).unwrap();
        // The directory disappears: the temporary file cannot be created.
        let moved = dir.path().with_extension("moved");
        fs::rename(dir.path(), &moved).unwrap();
        let error = store.save(&cursor_at(2)).unwrap_err();
        assert!(
            matches!(
                error,
                Error::Cursor(CursorError::File {
                    action: "create the temporary file for",
                    ..
                })
            ),
            "{error:?}"
        );
        fs::rename(&moved, dir.path()).unwrap();
        assert_eq!(store.load().unwrap(), Some(cursor_at(1)));
    }
}
