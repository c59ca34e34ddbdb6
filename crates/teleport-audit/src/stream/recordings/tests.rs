//! The driver against a scripted recording source and audit stream.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::task::Poll;

use futures::stream;
use futures::{FutureExt as _, StreamExt as _};

use super::*;
use crate::error::ServerError;
use crate::notice::Notices;
use crate::rpc_name::Rpc;
use crate::stats::StatsHandle;

/// A session id (a UUID) made from a short name (at most 6 bytes).
fn sid(name: &str) -> String {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    format!("00000000-0000-4000-8000-{hex:0>12}")
}

/// The short name of a session id made by [`sid`].
fn name(id: &str) -> String {
    let hex = id
        .rsplit('-')
        .next()
        .unwrap_or_default()
        .trim_start_matches('0');
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

/// One scripted recording: its events (type, ei), then how it ends.
#[derive(Clone)]
struct Script {
    events: Vec<(&'static str, i64)>,
    end: Option<Failure>,
    /// Before any event, this many opens answer NotFound.
    not_found_first: usize,
    /// Never ends after its events (a live stream that has nothing more yet).
    hangs: bool,
}

fn script(events: &[(&'static str, i64)]) -> Script {
    Script {
        events: events.to_vec(),
        end: None,
        not_found_first: 0,
        hangs: false,
    }
}

#[derive(Default)]
struct Double {
    scripts: Mutex<BTreeMap<String, Script>>,
    /// (sid, start_index) per open.
    opens: Mutex<Vec<(String, i64)>>,
}

/// The error a scripted failure carries (its kind is the [`Failure`] next to it).
fn failure_error() -> Error {
    Error::Server(ServerError::Timeout {
        rpc: Rpc::GetUnstructuredEvents,
        after: std::time::Duration::from_secs(1),
    })
}

fn event(json: String) -> AuditEvent {
    AuditEvent::from_string(json).unwrap()
}

fn recording_event(sid: &str, kind: &str, ei: i64) -> AuditEvent {
    event(format!(
        r#"{{"event":"{kind}","ei":{ei},"sid":"{sid}","time":"2025-12-02T07:00:00Z"}}"#
    ))
}

fn upload(sid: &str) -> AuditEvent {
    event(format!(
        r#"{{"event":"session.upload","ei":2147483647,"sid":"{sid}","uid":"up-{sid}","time":"2025-12-02T07:00:00Z"}}"#
    ))
}

fn audit(kind: &str, uid: &str) -> AuditEvent {
    event(format!(
        r#"{{"event":"{kind}","uid":"{uid}","time":"2025-12-02T07:00:00Z"}}"#
    ))
}

impl RecordingSource for Double {
    fn open(&self, sid: &str, start_index: i64, skip: &[String]) -> RecordingStream {
        self.opens
            .lock()
            .unwrap()
            .push((sid.to_owned(), start_index));
        let mut scripts = self.scripts.lock().unwrap();
        let Some(script) = scripts.get_mut(sid) else {
            return stream::iter([Err(SourceError {
                failure: Failure::NotFound,
                error: failure_error(),
            })])
            .boxed();
        };
        if script.not_found_first > 0 {
            script.not_found_first -= 1;
            return stream::iter([Err(SourceError {
                failure: Failure::NotFound,
                error: failure_error(),
            })])
            .boxed();
        }
        let sid = sid.to_owned();
        let skip = skip.to_vec();
        let events: Vec<Result<AuditEvent, SourceError>> = script
            .events
            .iter()
            .filter(|(kind, ei)| *ei >= start_index && !skip.iter().any(|s| s == kind))
            .map(|(kind, ei)| Ok(recording_event(&sid, kind, *ei)))
            .chain(script.end.map(|failure| {
                let error = match failure {
                    // As the session stream says it: where it stopped, past the events it
                    // skipped by type (here: as if 10 more came after the last one scripted).
                    Failure::Corrupt => Error::Server(ServerError::RecordingCorrupt {
                        rpc: Rpc::StreamSessionEvents,
                        session_id: sid.clone(),
                        next_index: script.events.last().map_or(0, |(_, ei)| ei + 1) + 10,
                        reason: "damaged".into(),
                        source: None,
                    }),
                    _ => failure_error(),
                };
                Err(SourceError { failure, error })
            }))
            .collect();
        let items = stream::iter(events);
        if script.hangs {
            items.chain(stream::pending()).boxed()
        } else {
            items.boxed()
        }
    }
}

/// A driver over `double` with `settings`, from `position`, and its notices.
fn driver(
    double: &Arc<Double>,
    settings: SessionRecordings,
    position: SessionsPosition,
) -> (Recordings, Notices, StatsHandle) {
    let stats = StatsHandle::default();
    let notifier = Notifier::new(stats.clone());
    let notices = notifier.subscribe();
    let source: Arc<dyn RecordingSource> = double.clone();
    (
        Recordings::new(settings, position, source, notifier, None),
        notices,
        stats,
    )
}

/// An audit stream: these events, then the end (or pending forever with `hang`), counting polls.
struct Audit {
    events: VecDeque<AuditEvent>,
    hang: bool,
    polls: usize,
}

impl Audit {
    fn new(events: Vec<AuditEvent>) -> Self {
        Self {
            events: events.into(),
            hang: false,
            polls: 0,
        }
    }

    fn poll(&mut self) -> Poll<Option<Result<AuditEvent, Error>>> {
        self.polls += 1;
        match self.events.pop_front() {
            Some(event) => Poll::Ready(Some(Ok(event))),
            None if self.hang => Poll::Pending,
            None => Poll::Ready(None),
        }
    }
}

/// Polls until pending or the end (at most `limit` items): each item as "sid:type:ei" for a
/// recording event or "audit:type" for an audit event.
fn drain(recordings: &mut Recordings, audit: &mut Audit, limit: usize) -> Vec<String> {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut got = Vec::new();
    while got.len() < limit {
        let mut poll_audit = |_: &mut Context<'_>| audit.poll();
        match recordings.poll_next(&mut cx, &mut poll_audit) {
            Poll::Ready(Some(Ok(event))) => got.push(match recordings.last_recording() {
                Some(sid) => format!(
                    "{}:{}:{}",
                    name(sid),
                    event.event_type(),
                    event.index().unwrap_or(-1)
                ),
                None => format!("audit:{}", event.event_type()),
            }),
            Poll::Ready(Some(Err(error))) => got.push(format!("error:{}", error.code())),
            Poll::Ready(None) => {
                got.push("end".to_owned());
                break;
            }
            Poll::Pending => break,
        }
    }
    got
}

fn with_scripts(scripts: &[(&str, Script)]) -> Arc<Double> {
    let double = Double::default();
    for (sid, script) in scripts {
        double
            .scripts
            .lock()
            .unwrap()
            .insert((*sid).to_owned(), script.clone());
    }
    Arc::new(double)
}

#[test]
fn recording_events_follow_their_upload_and_print_is_skipped() {
    let double = with_scripts(&[(
        &sid("a"),
        script(&[("session.start", 0), ("print", 1), ("session.end", 2)]),
    )]);
    let (mut recordings, _, stats) = driver(
        &double,
        SessionRecordings::default(),
        SessionsPosition::default(),
    );
    let mut audit = Audit::new(vec![
        audit("user.login", "u1"),
        upload(&sid("a")),
        audit("user.login", "u2"),
    ]);
    let got = drain(&mut recordings, &mut audit, 100);
    assert_eq!(
        got,
        [
            "audit:user.login",
            "audit:session.upload",
            "a:session.start:0",
            "a:session.end:2",
            "audit:user.login",
            "end"
        ]
    );
    // The source was asked to skip print; it was opened once, from 0.
    assert_eq!(*double.opens.lock().unwrap(), [(sid("a"), 0)]);
    let stats = stats.get();
    assert_eq!(stats.recording_events_delivered, 2);
    assert_eq!(stats.sessions_finished, 1);
    assert_eq!(stats.sessions_pending, 0);
    assert!(recordings.position().pending.is_empty());
    assert_eq!(recordings.position().finished, [sid("a")]);
}

#[test]
fn the_audit_stream_is_not_read_while_max_pending_sessions_are_in_progress() {
    let mut hanging = script(&[("session.start", 0)]);
    hanging.hangs = true;
    let double = with_scripts(&[(&sid("a"), hanging.clone()), (&sid("b"), hanging)]);
    let settings = SessionRecordings::default().concurrency(1).max_pending(1);
    let (mut recordings, _, stats) = driver(&double, settings, SessionsPosition::default());
    let mut audit = Audit::new(vec![
        upload(&sid("a")),
        upload(&sid("b")),
        audit("user.login", "u1"),
    ]);
    let got = drain(&mut recordings, &mut audit, 100);
    assert_eq!(got, ["audit:session.upload", "a:session.start:0"]);
    // Polled once (for the upload), never again while &sid("a") is in progress.
    assert_eq!(audit.polls, 1);
    assert_eq!(audit.events.len(), 2);
    assert_eq!(stats.get().sessions_pending, 1);
    // The cursor holds the session with its resume index.
    let pending = &recordings.position().pending;
    assert_eq!((pending[0].sid.clone(), pending[0].next), (sid("a"), 1));
}

#[test]
fn a_duplicate_upload_is_delivered_but_its_recording_is_not_read_again() {
    let double = with_scripts(&[(&sid("a"), script(&[("session.start", 0)]))]);
    let (mut recordings, _, _) = driver(
        &double,
        SessionRecordings::default(),
        SessionsPosition::default(),
    );
    let mut audit = Audit::new(vec![upload(&sid("a")), upload(&sid("a"))]);
    let got = drain(&mut recordings, &mut audit, 100);
    assert_eq!(
        got,
        [
            "audit:session.upload",
            "a:session.start:0",
            "audit:session.upload",
            "end"
        ]
    );
    assert_eq!(double.opens.lock().unwrap().len(), 1);
}

#[test]
fn a_missing_recording_is_a_notice_with_the_session_and_the_stream_goes_on() {
    let double = with_scripts(&[(&sid("b"), script(&[("session.start", 0)]))]);
    // No wait: the upload time is long past.
    let settings = SessionRecordings::default().recording_wait(std::time::Duration::ZERO);
    let (mut recordings, mut notices, stats) =
        driver(&double, settings, SessionsPosition::default());
    let mut audit = Audit::new(vec![upload(&sid("gone")), upload(&sid("b"))]);
    let got = drain(&mut recordings, &mut audit, 100);
    assert_eq!(
        got,
        [
            "audit:session.upload",
            "audit:session.upload",
            "b:session.start:0",
            "end"
        ]
    );
    match notices.next().now_or_never() {
        Some(Some(Notice::RecordingMissing { session_id, .. })) => {
            assert_eq!(session_id, sid("gone"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(stats.get().recordings_given_up, 1);
    assert_eq!(recordings.position().finished, [sid("gone"), sid("b")]);
}

#[tokio::test(start_paused = true)]
async fn a_recording_not_found_yet_frees_its_slot_and_is_asked_for_again() {
    let mut late = script(&[("session.start", 0)]);
    late.not_found_first = 1;
    let double = with_scripts(&[
        (&sid("late"), late),
        (&sid("b"), script(&[("session.start", 0)])),
    ]);
    // Uploaded now (the wait is counted from the upload), then &sid("b") uploaded.
    let position = SessionsPosition {
        pending: vec![crate::cursor::PendingSession {
            sid: sid("late"),
            next: 0,
            uploaded: OffsetDateTime::now_utc(),
        }],
        finished: VecDeque::new(),
    };
    let (mut recordings, _, _) = driver(
        &double,
        SessionRecordings::default().concurrency(1),
        position,
    );
    let mut audit = Audit::new(vec![upload(&sid("b"))]);
    audit.hang = true;
    let got = drain(&mut recordings, &mut audit, 100);
    // &sid("late") was not found: &sid("b") got the slot meanwhile; &sid("late") waits for its retry.
    assert_eq!(got, ["audit:session.upload", "b:session.start:0"]);
    assert_eq!(
        *double.opens.lock().unwrap(),
        [(sid("late"), 0), (sid("b"), 0)]
    );
    assert_eq!(recordings.position().pending.len(), 1);
    assert_eq!(recordings.position().pending[0].sid, sid("late"));
    // Its retry time comes (5 s): opened again, found this time.
    tokio::time::advance(std::time::Duration::from_secs(4)).await;
    assert_eq!(
        drain(&mut recordings, &mut audit, 100),
        Vec::<String>::new()
    );
    tokio::time::advance(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        drain(&mut recordings, &mut audit, 100),
        ["late:session.start:0"]
    );
    assert!(recordings.position().pending.is_empty());
}

#[test]
fn a_corrupt_recording_keeps_the_events_before_the_damage() {
    let mut bad = script(&[("session.start", 0), ("resize", 1)]);
    bad.end = Some(Failure::Corrupt);
    let double = with_scripts(&[(&sid("bad"), bad)]);
    let (mut recordings, mut notices, _) = driver(
        &double,
        SessionRecordings::default(),
        SessionsPosition::default(),
    );
    let mut audit = Audit::new(vec![upload(&sid("bad")), audit("user.login", "u1")]);
    let got = drain(&mut recordings, &mut audit, 100);
    assert_eq!(
        got,
        [
            "audit:session.upload",
            "bad:session.start:0",
            "bad:resize:1",
            "audit:user.login",
            "end"
        ]
    );
    match notices.next().now_or_never() {
        Some(Some(Notice::RecordingCorrupt {
            session_id,
            next_index,
            ..
        })) => assert_eq!(
            (session_id, next_index),
            (sid("bad"), 12),
            "where the session stream stopped, not the last delivered index + 1"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_fatal_recording_error_ends_the_stream_and_keeps_the_session() {
    let mut denied = script(&[("session.start", 0)]);
    denied.end = Some(Failure::Fatal);
    let double = with_scripts(&[(&sid("a"), denied)]);
    let (mut recordings, _, _) = driver(
        &double,
        SessionRecordings::default(),
        SessionsPosition::default(),
    );
    let mut audit = Audit::new(vec![upload(&sid("a")), audit("user.login", "u1")]);
    let got = drain(&mut recordings, &mut audit, 100);
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[..2], ["audit:session.upload", "a:session.start:0"]);
    assert!(got[2].starts_with("error:"), "{got:?}");
    assert_eq!(got[3], "end");
    assert_eq!(recordings.position().pending[0].next, 1);
}

#[test]
fn a_resumed_position_reads_each_recording_from_its_index() {
    let events = [
        ("session.start", 0),
        ("resize", 1),
        ("resize", 2),
        ("session.end", 3),
    ];
    let double = with_scripts(&[(&sid("a"), script(&events)), (&sid("b"), script(&events))]);
    let settings = SessionRecordings::default().concurrency(2);
    let (mut first, _, _) = driver(&double, settings.clone(), SessionsPosition::default());
    let mut audit = Audit::new(vec![
        upload(&sid("a")),
        upload(&sid("b")),
        audit("user.login", "u1"),
    ]);
    let before = drain(&mut first, &mut audit, 5);
    let position = first.position().clone();
    drop(first);
    let (mut second, _, _) = driver(&double, settings, position);
    let after = drain(&mut second, &mut audit, 100);
    // Every event exactly once across the two.
    let mut all: Vec<String> = before.into_iter().chain(after).collect();
    assert_eq!(all.pop().as_deref(), Some("end"));
    all.sort();
    let mut expected: Vec<String> = ["a", "b"]
        .iter()
        .flat_map(|sid| {
            events
                .iter()
                .map(move |(kind, ei)| format!("{sid}:{kind}:{ei}"))
        })
        .chain([
            "audit:session.upload".to_owned(),
            "audit:session.upload".to_owned(),
            "audit:user.login".to_owned(),
        ])
        .collect();
    expected.sort();
    assert_eq!(all, expected);
}
