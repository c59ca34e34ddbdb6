//! [`FileSink`]: events appended to a file, committed together with the cursor that covers
//! them, so that the pair is exactly once across crashes.
//!
//! The output file and the cursor file describe each other: every commit flushes the events to
//! disk *first*, then saves the cursor together with the output's length (its "mark"). After a
//! crash (SIGKILL, power loss, a full disk) the output may hold more than the last commit: events
//! written after it, perhaps a torn last line. [`FileSink::open`] cuts the file back to the mark,
//! and the stream resumes from the cursor saved with it, so every event is in the file once and
//! every line is whole JSON.
//!
//! The rules that decide what happens on open are in [`recovery`], a pure function.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use teleport_audit_types::AuditEvent;
use teleport_identity::secret_text::{looks_like_secret, shown_path};

use crate::cursor::Cursor;
use crate::cursor_store::FileCursorStore;
use crate::cursor_store::{KEY_MATERIAL, OutputMark, kind, lock_or_refuse, sync_parent};
use crate::error::{Error, OutputError};

/// Appends events to an output file and commits them with their cursor: every commit flushes
/// the events to disk first, then saves the cursor with the output's length; on open, a file
/// longer than that (events after the last commit, a torn line) is cut back to it.
///
/// ```no_run
/// # async fn run(client: teleport_audit::Client) -> Result<(), teleport_audit::Error> {
/// use futures::StreamExt as _;
/// use teleport_audit::{FileCursorStore, FileSink, StreamConfig};
///
/// let store = FileCursorStore::open("teleport-audit.cursor.json")?;
/// let (mut sink, stored) = FileSink::open("events.ndjson", store)?;
/// let config = match stored {
///     Some(cursor) => StreamConfig::default().resume_from(cursor),
///     None => StreamConfig::default(),
/// };
/// let mut events = client.audit_events(config);
/// while let Some(item) = events.next().await {
///     match item {
///         Ok(event) => {
///             sink.write(&event)?;
///             if sink.uncommitted() >= 1000 {
///                 sink.commit(&events.cursor())?;
///             }
///         }
///         Err(error) if error.is_fatal() => return Err(error),
///         Err(error) => eprintln!("warning: {error}"),
///     }
/// }
/// sink.commit(&events.cursor())?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FileSink {
    store: FileCursorStore,
    /// The output file as given (for messages).
    path: PathBuf,
    /// The output file, symbolic links resolved (recorded in the mark).
    resolved: PathBuf,
    file: BufWriter<File>,
    uncommitted: u64,
}

/// What [`FileSink::open`] does with an existing output file, given the cursor file's mark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// Append at the end: the file is exactly what the cursor covers (or empty).
    Append,
    /// Cut the file back to this length: what is after it was written after the last commit.
    TruncateTo(u64),
    /// The file is shorter than the mark: something outside removed data (a rotation with
    /// `copytruncate`). Append at its end, with a warning.
    AppendShrunk {
        /// The length the cursor file records.
        recorded: u64,
    },
    /// Appending would mix in data the cursor file does not describe.
    Refuse(String),
}

/// The recovery rule: `mark` is what the cursor file records, `output` the output file (links
/// resolved) and `len` its length now.
pub(crate) fn recovery(mark: Option<&OutputMark>, output: &Path, len: u64) -> Recovery {
    match mark {
        Some(mark) if mark.path == output => match len.cmp(&mark.len) {
            std::cmp::Ordering::Equal => Recovery::Append,
            std::cmp::Ordering::Greater => Recovery::TruncateTo(mark.len),
            std::cmp::Ordering::Less => Recovery::AppendShrunk { recorded: mark.len },
        },
        _ if len == 0 => Recovery::Append,
        Some(mark) => Recovery::Refuse(format!(
            "is not empty, and the cursor file was saved with another output ({}); appending could repeat events",
            mark.path.display()
        )),
        None => Recovery::Refuse(
            "is not empty, and the cursor file does not record it (or there is no cursor file yet); appending could repeat events or continue a torn line"
                .to_owned(),
        ),
    }
}

impl FileSink {
    /// Opens (creating it if needed) and locks the output file, brings it back to the last
    /// commit recorded in `store`, and returns the sink with the stored cursor to resume from
    /// (`None`: no cursor yet, start where you like).
    ///
    /// # Errors
    ///
    /// The store's load errors; [`OutputError::File`] if the output cannot be opened, inspected
    /// or truncated, or is not a regular file, or its path
    /// [looks like key material](teleport_identity::secret_text::looks_like_secret) (then only
    /// its length is shown); [`OutputError::Locked`] if another process writes
    /// it; [`OutputError::NotRecorded`] if it holds data the cursor file does not describe.
    pub fn open(
        output: impl Into<PathBuf>,
        store: FileCursorStore,
    ) -> Result<(Self, Option<Cursor>), Error> {
        let path = output.into();
        if looks_like_secret(&path.as_os_str().to_string_lossy()) {
            // An identity file's text given as the path: never named in a message, nor used to
            // name a file.
            return Err(Error::Output(OutputError::File {
                path: shown_path(&path),
                action: "use it",
                source: Arc::new(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    KEY_MATERIAL,
                )),
            }));
        }
        let failed = |action: &'static str| {
            let path = path.clone();
            move |source| {
                Error::Output(OutputError::File {
                    path,
                    action,
                    source: Arc::new(source),
                })
            }
        };
        // Checked before opening: opening a FIFO for writing would wait for a reader.
        if let Ok(meta) = fs::metadata(&path)
            && !meta.is_file()
        {
            return Err(failed("use it")(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("it is {}, not a regular file", kind(&meta)),
            )));
        }
        let existed = path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(failed("open"))?;
        lock_or_refuse(
            &file,
            &path,
            |path| OutputError::Locked { path }.into(),
            failed("lock"),
        )?;
        if !existed {
            sync_parent(&path);
        }
        let resolved = fs::canonicalize(&path).map_err(failed("resolve"))?;
        let len = file.metadata().map_err(failed("inspect"))?.len();
        let (cursor, mark) = match store.load_with_output()? {
            Some((cursor, mark)) => (Some(cursor), mark),
            None => (None, None),
        };
        match recovery(mark.as_ref(), &resolved, len) {
            Recovery::Append => {}
            Recovery::TruncateTo(to) => {
                tracing::info!(
                    output = %path.display(),
                    from = len,
                    to,
                    "cutting the output back to the last commit (written after it before a crash)"
                );
                file.set_len(to).map_err(failed("truncate"))?;
                file.sync_all().map_err(failed("flush to disk"))?;
            }
            Recovery::AppendShrunk { recorded } => tracing::warn!(
                output = %path.display(),
                len,
                recorded,
                "the output is shorter than the cursor file records (rotated or truncated?); appending at its end"
            ),
            Recovery::Refuse(reason) => {
                return Err(Error::Output(OutputError::NotRecorded { path, reason }));
            }
        }
        Ok((
            Self {
                store,
                path,
                resolved,
                file: BufWriter::with_capacity(256 * 1024, file),
                uncommitted: 0,
            },
            cursor,
        ))
    }

    /// Appends one event as a line of JSON (buffered: durable only after [`FileSink::commit`]).
    ///
    /// # Errors
    ///
    /// [`OutputError::File`] if the write fails (a full disk): nothing is lost, the next
    /// [`FileSink::open`] cuts the file back to the last commit.
    pub fn write(&mut self, event: &AuditEvent) -> Result<(), Error> {
        self.file
            .write_all(event.as_json().as_bytes())
            .and_then(|()| self.file.write_all(b"\n"))
            .map_err(|source| self.failed("write", source))?;
        self.uncommitted += 1;
        Ok(())
    }

    /// Flushes the written events to disk, then saves `cursor` (which must cover exactly the
    /// events written) together with the output's length.
    ///
    /// # Errors
    ///
    /// [`OutputError::File`] if flushing fails, or the store's save error; either way the
    /// previous commit stays in force.
    pub fn commit(&mut self, cursor: &Cursor) -> Result<(), Error> {
        self.file
            .flush()
            .map_err(|source| self.failed("write", source))?;
        let file = self.file.get_ref();
        file.sync_data()
            .map_err(|source| self.failed("flush to disk", source))?;
        // The length on disk, not a count of our own: an outside `copytruncate` shortens it.
        let len = file
            .metadata()
            .map_err(|source| self.failed("inspect", source))?
            .len();
        self.store.save_with_output(
            cursor,
            &OutputMark {
                path: self.resolved.clone(),
                len,
            },
        )?;
        self.uncommitted = 0;
        Ok(())
    }

    /// Events written since the last commit.
    pub fn uncommitted(&self) -> u64 {
        self.uncommitted
    }

    /// The output file, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn failed(&self, action: &'static str, source: std::io::Error) -> Error {
        Error::Output(OutputError::File {
            path: self.path.clone(),
            action,
            source: Arc::new(source),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(path: &str, len: u64) -> OutputMark {
        OutputMark {
            path: PathBuf::from(path),
            len,
        }
    }

    #[test]
    fn identity_text_as_the_output_path_is_refused_without_naming_it_or_creating_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCursorStore::open(dir.path().join("cursor.json")).unwrap();
        let line = "MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun";
        let error = FileSink::open(dir.path().join(line), store).unwrap_err();
        assert!(
            matches!(error, Error::Output(OutputError::File { .. })),
            "{error:?}"
        );
        for output in [error.to_string(), format!("{error:?}")] {
            assert!(output.contains("not shown"), "{output}");
            assert!(!output.contains("u1SU1LfVLPHCozMxH2Mo"), "{output}");
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            names.iter().all(|n| !n.to_string_lossy().contains("MIIE")),
            "{names:?}"
        );
    }

    #[test]
    fn recovery_rules_edge_by_edge() {
        let out = Path::new("/data/events.ndjson");
        let same = mark("/data/events.ndjson", 100);
        assert_eq!(recovery(Some(&same), out, 100), Recovery::Append);
        assert_eq!(recovery(Some(&same), out, 101), Recovery::TruncateTo(100));
        assert_eq!(
            recovery(Some(&same), out, 99),
            Recovery::AppendShrunk { recorded: 100 }
        );
        assert_eq!(
            recovery(Some(&same), out, 0),
            Recovery::AppendShrunk { recorded: 100 }
        );
        // Nothing recorded, or another file recorded: only an empty output is safe.
        assert_eq!(recovery(None, out, 0), Recovery::Append);
        assert!(matches!(recovery(None, out, 1), Recovery::Refuse(_)));
        let other = mark("/data/old.ndjson", 100);
        assert_eq!(recovery(Some(&other), out, 0), Recovery::Append);
        match recovery(Some(&other), out, 100) {
            Recovery::Refuse(reason) => assert!(reason.contains("/data/old.ndjson"), "{reason}"),
            other => panic!("{other:?}"),
        }
        // A mark of zero and a file with a torn first line: cut to empty.
        assert_eq!(
            recovery(Some(&mark("/data/events.ndjson", 0)), out, 17),
            Recovery::TruncateTo(0)
        );
    }

    fn event(n: u32) -> AuditEvent {
        AuditEvent::from_json(&format!(
            r#"{{"event":"user.login","code":"T1000I","time":"2025-12-02T07:14:{:02}Z","uid":"u-{n}","user":"alice"}}"#,
            n % 60
        ))
        .unwrap()
    }

    fn cursor(second: i64) -> Cursor {
        Cursor::starting_at(time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(second))
    }

    #[test]
    fn a_crash_after_the_last_commit_is_cut_back_and_the_cursor_returned() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("events.ndjson");
        let store = FileCursorStore::open(dir.path().join("cursor.json")).unwrap();
        let (mut sink, stored) = FileSink::open(&out, store).unwrap();
        assert_eq!(stored, None);
        for n in 0..3 {
            sink.write(&event(n)).unwrap();
        }
        assert_eq!(sink.uncommitted(), 3);
        sink.commit(&cursor(3)).unwrap();
        assert_eq!(sink.uncommitted(), 0);
        let committed = fs::read_to_string(&out).unwrap();
        assert_eq!(committed.lines().count(), 3);
        // Two more events reach the file, then a torn line, then the process dies (no commit).
        sink.write(&event(3)).unwrap();
        sink.write(&event(4)).unwrap();
        sink.file.flush().unwrap();
        drop(sink);
        let mut file = OpenOptions::new().append(true).open(&out).unwrap();
        file.write_all(br#"{"event":"user.lo"#).unwrap();
        drop(file);

        let store = FileCursorStore::open(dir.path().join("cursor.json")).unwrap();
        let (mut sink, stored) = FileSink::open(&out, store).unwrap();
        assert_eq!(stored, Some(cursor(3)));
        assert_eq!(fs::read_to_string(&out).unwrap(), committed);
        // Resumed: appends after the committed part; every line is whole JSON.
        sink.write(&event(3)).unwrap();
        sink.commit(&cursor(4)).unwrap();
        let text = fs::read_to_string(&out).unwrap();
        assert!(text.ends_with('\n'));
        let uids: Vec<String> = text
            .lines()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                value["uid"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(uids, ["u-0", "u-1", "u-2", "u-3"]);
    }

    #[test]
    fn data_the_cursor_does_not_describe_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("events.ndjson");
        fs::write(&out, "{\"uid\":\"from another run\"}\n").unwrap();
        let store = FileCursorStore::open(dir.path().join("cursor.json")).unwrap();
        let error = FileSink::open(&out, store).unwrap_err();
        assert!(
            matches!(&error, Error::Output(OutputError::NotRecorded { path, .. }) if *path == out),
            "{error:?}"
        );
        assert_eq!(error.code(), "output_not_recorded");
        assert!(error.is_fatal());
        assert_eq!(
            fs::read_to_string(&out).unwrap(),
            "{\"uid\":\"from another run\"}\n"
        );
    }

    #[test]
    fn a_second_sink_on_the_same_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("events.ndjson");
        let first = FileCursorStore::open(dir.path().join("a.json")).unwrap();
        let _sink = FileSink::open(&out, first).unwrap();
        let second = FileCursorStore::open(dir.path().join("b.json")).unwrap();
        let error = FileSink::open(&out, second).unwrap_err();
        assert!(
            matches!(&error, Error::Output(OutputError::Locked { .. })),
            "{error:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_reader() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let store = FileCursorStore::open(dir.path().join("cursor.json")).unwrap();
        let error = FileSink::open(&fifo, store).unwrap_err();
        assert!(
            matches!(
                &error,
                Error::Output(OutputError::File {
                    action: "use it",
                    ..
                })
            ),
            "{error:?}"
        );
        assert!(
            std::error::Error::source(&error)
                .unwrap()
                .to_string()
                .contains("a FIFO"),
            "{error:?}"
        );
    }
}
