use std::collections::BTreeMap;

use proptest::prelude::*;
use time::macros::datetime;

use super::*;
use crate::cursor::FINISHED_SESSIONS_KEPT;

const T0: OffsetDateTime = datetime!(2025-12-02 07:00 UTC);

fn secs(n: i64) -> time::Duration {
    time::Duration::seconds(n)
}

/// A session id (a UUID) made from a short name (at most 6 bytes).
fn sid(name: &str) -> String {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    format!("00000000-0000-4000-8000-{hex:0>12}")
}

fn core(settings: SessionRecordings) -> RecordingsCore {
    RecordingsCore::new(settings, SessionsPosition::default())
}

fn upload(core: &mut RecordingsCore, sid: &str) -> Upload {
    core.audit_delivered(SESSION_UPLOAD, Some(sid), T0)
}

fn opened(core: &mut RecordingsCore, now: OffsetDateTime) -> Vec<(String, i64)> {
    std::iter::from_fn(|| core.open_next(now))
        .map(|open| (open.sid, open.start_index))
        .collect()
}

#[test]
fn an_upload_adds_a_pending_session_once() {
    let mut core = core(SessionRecordings::default());
    assert_eq!(
        core.audit_delivered("session.start", Some(&sid("s1")), T0),
        Upload::Unrelated
    );
    assert_eq!(upload(&mut core, &sid("s1")), Upload::Added);
    assert_eq!(upload(&mut core, &sid("s1")), Upload::Duplicate);
    assert_eq!(core.pending_len(), 1);
    let pending = &core.position().pending[0];
    assert_eq!((pending.sid.clone(), pending.next), (sid("s1"), 0));
    assert_eq!(pending.uploaded, T0);
    // Finished: still a duplicate.
    opened(&mut core, T0);
    assert_eq!(
        core.recording_ended(&sid("s1"), End::Complete, T0),
        Ended::Finished
    );
    assert_eq!(upload(&mut core, &sid("s1")), Upload::Duplicate);
    assert!(core.is_idle());
    assert_eq!(core.position().finished, [sid("s1")]);
}

#[test]
fn an_upload_without_a_usable_sid_adds_nothing() {
    let mut core = core(SessionRecordings::default());
    for sid in [
        None,
        Some(""),
        Some("not-a-session-id"),
        Some("5b2d8a2e-0b4c-4f7e-9a0d-3c1f2e4d5a6"),
        Some("5b2d8a2e-0b4c-4f7e-9a0d-3c1f2e4d5a6g"),
        Some("5b2d8a2e 0b4c-4f7e-9a0d-3c1f2e4d5a6b"),
    ] {
        assert_eq!(
            core.audit_delivered(SESSION_UPLOAD, sid, T0),
            Upload::InvalidSessionId,
            "{sid:?}"
        );
    }
    assert_eq!(
        upload(&mut core, "5b2d8a2e-0b4c-4f7e-9a0d-3c1f2e4d5a6b"),
        Upload::Added
    );
    assert_eq!(core.pending_len(), 1);
}

#[test]
fn at_most_concurrency_open_oldest_first() {
    let mut core = core(SessionRecordings::default().concurrency(2));
    for sid in [&sid("a"), &sid("b"), &sid("c")] {
        upload(&mut core, sid);
    }
    assert_eq!(opened(&mut core, T0), [(sid("a"), 0), (sid("b"), 0)]);
    assert_eq!(opened(&mut core, T0), []);
    core.recording_ended(&sid("b"), End::Complete, T0);
    assert_eq!(opened(&mut core, T0), [(sid("c"), 0)]);
}

#[test]
fn the_audit_stream_waits_while_max_pending_sessions_are_pending() {
    let mut core = core(SessionRecordings::default().concurrency(1).max_pending(2));
    assert!(core.may_read_audit());
    upload(&mut core, &sid("a"));
    assert!(core.may_read_audit());
    upload(&mut core, &sid("b"));
    assert!(!core.may_read_audit());
    opened(&mut core, T0);
    core.recording_ended(&sid("a"), End::Complete, T0);
    assert!(core.may_read_audit());
}

#[test]
fn recording_events_advance_the_resume_index_skipped_or_not() {
    let mut core = core(SessionRecordings::default());
    upload(&mut core, &sid("s"));
    assert_eq!(opened(&mut core, T0), [(sid("s"), 0)]);
    assert_eq!(
        core.recording_event(&sid("s"), Some(0), "session.start"),
        Verdict::Deliver
    );
    assert_eq!(
        core.recording_event(&sid("s"), Some(1), "print"),
        Verdict::Skip
    );
    assert_eq!(core.position().pending[0].next, 2);
    assert_eq!(
        core.recording_event(&sid("s"), Some(2), "resize"),
        Verdict::Deliver
    );
    assert_eq!(core.position().pending[0].next, 3);
    // A resend of a delivered index is dropped.
    assert_eq!(
        core.recording_event(&sid("s"), Some(2), "resize"),
        Verdict::Duplicate
    );
    // A gap moves next past it; an event of the gap arriving late (out of order in the file)
    // is delivered without moving next back.
    assert_eq!(
        core.recording_event(&sid("s"), Some(7), "resize"),
        Verdict::Deliver
    );
    assert_eq!(
        core.recording_event(&sid("s"), Some(5), "resize"),
        Verdict::Deliver
    );
    assert_eq!(core.position().pending[0].next, 8);
    assert_eq!(
        core.recording_event(&sid("s"), Some(5), "resize"),
        Verdict::Duplicate
    );
    // No index, or a negative one: delivered, next unmoved.
    assert_eq!(
        core.recording_event(&sid("s"), None, "resize"),
        Verdict::Deliver
    );
    assert_eq!(
        core.recording_event(&sid("s"), Some(-1), "resize"),
        Verdict::Deliver
    );
    assert_eq!(core.position().pending[0].next, 8);
    // An index at the top of int32 does not overflow the resume index.
    assert_eq!(
        core.recording_event(&sid("s"), Some(i64::MAX), "resize"),
        Verdict::Deliver
    );
    assert_eq!(core.position().pending[0].next, MAX_START_INDEX);
}

#[test]
fn a_resumed_recording_drops_what_is_below_its_start() {
    let position = SessionsPosition {
        pending: vec![PendingSession {
            sid: sid("s"),
            next: 10,
            uploaded: T0,
        }],
        finished: VecDeque::new(),
    };
    let mut core = RecordingsCore::new(SessionRecordings::default(), position);
    assert!(!core.may_read_audit() || core.pending_len() == 1);
    assert_eq!(opened(&mut core, T0), [(sid("s"), 10)]);
    assert_eq!(
        core.recording_event(&sid("s"), Some(9), "resize"),
        Verdict::Duplicate
    );
    assert_eq!(
        core.recording_event(&sid("s"), Some(10), "resize"),
        Verdict::Deliver
    );
}

#[test]
fn an_event_of_a_session_not_open_is_dropped() {
    let mut core = core(SessionRecordings::default());
    upload(&mut core, &sid("s"));
    assert_eq!(
        core.recording_event(&sid("s"), Some(0), "resize"),
        Verdict::Duplicate
    );
    assert_eq!(
        core.recording_event(&sid("other"), Some(0), "resize"),
        Verdict::Duplicate
    );
    assert_eq!(core.position().pending[0].next, 0);
    assert_eq!(
        core.recording_ended(&sid("other"), End::Complete, T0),
        Ended::NotOpen
    );
}

#[test]
fn metadata_only_skips_contents() {
    let mut core = core(SessionRecordings::default().metadata_only(true));
    upload(&mut core, &sid("s"));
    opened(&mut core, T0);
    assert_eq!(
        core.recording_event(&sid("s"), Some(0), "session.start"),
        Verdict::Deliver
    );
    assert_eq!(
        core.recording_event(&sid("s"), Some(1), "resize"),
        Verdict::Skip
    );
    assert_eq!(core.position().pending[0].next, 2);
}

#[test]
fn a_recording_not_found_is_retried_until_the_wait_is_over() {
    let wait = Duration::from_secs(60);
    let mut core = core(
        SessionRecordings::default()
            .concurrency(1)
            .recording_wait(wait),
    );
    upload(&mut core, &sid("late"));
    upload(&mut core, &sid("other"));
    assert_eq!(opened(&mut core, T0), [(sid("late"), 0)]);
    assert_eq!(core.next_retry(), None, "no slot free");
    // Not found: retried 5 s later, and the slot goes to the next session meanwhile.
    assert_eq!(
        core.recording_ended(&sid("late"), End::NotFound, T0),
        Ended::RetryAt(T0 + secs(5))
    );
    assert_eq!(opened(&mut core, T0), [(sid("other"), 0)]);
    core.recording_ended(&sid("other"), End::Complete, T0);
    assert_eq!(core.next_retry(), Some(T0 + secs(5)));
    assert_eq!(opened(&mut core, T0 + secs(4)), []);
    assert_eq!(opened(&mut core, T0 + secs(5)), [(sid("late"), 0)]);
    // Doubling: 10 s, then 20 s, then capped at the deadline.
    assert_eq!(
        core.recording_ended(&sid("late"), End::NotFound, T0 + secs(5)),
        Ended::RetryAt(T0 + secs(15))
    );
    opened(&mut core, T0 + secs(15));
    assert_eq!(
        core.recording_ended(&sid("late"), End::NotFound, T0 + secs(15)),
        Ended::RetryAt(T0 + secs(35))
    );
    opened(&mut core, T0 + secs(35));
    assert_eq!(
        core.recording_ended(&sid("late"), End::NotFound, T0 + secs(35)),
        Ended::RetryAt(T0 + secs(60))
    );
    opened(&mut core, T0 + secs(60));
    assert_eq!(
        core.recording_ended(&sid("late"), End::NotFound, T0 + secs(61)),
        Ended::Missing {
            waited: Duration::from_secs(61)
        }
    );
    assert!(core.is_idle());
    assert_eq!(core.next_retry(), None);
    assert_eq!(core.position().finished, [sid("other"), sid("late")]);
}

#[test]
fn an_old_upload_whose_recording_is_missing_is_given_up_at_once() {
    let mut core = core(SessionRecordings::default());
    upload(&mut core, &sid("old"));
    let now = T0 + secs(3 * 24 * 3600);
    opened(&mut core, now);
    assert!(matches!(
        core.recording_ended(&sid("old"), End::NotFound, now),
        Ended::Missing { .. }
    ));
}

#[test]
fn a_corrupt_recording_is_given_up_and_keeps_what_was_delivered() {
    let mut core = core(SessionRecordings::default());
    upload(&mut core, &sid("bad"));
    opened(&mut core, T0);
    core.recording_event(&sid("bad"), Some(0), "session.start");
    assert_eq!(
        core.recording_ended(&sid("bad"), End::Corrupt, T0),
        Ended::Corrupt
    );
    assert!(core.is_idle());
    assert_eq!(upload(&mut core, &sid("bad")), Upload::Duplicate);
}

#[test]
fn the_finished_list_is_bounded_oldest_forgotten() {
    let mut core = core(SessionRecordings::default().concurrency(64).max_pending(64));
    for n in 0..=FINISHED_SESSIONS_KEPT {
        let id = sid(&format!("s{n}"));
        upload(&mut core, &id);
        opened(&mut core, T0);
        core.recording_ended(&id, End::Complete, T0);
    }
    assert_eq!(core.position().finished.len(), FINISHED_SESSIONS_KEPT);
    assert_eq!(core.position().finished.front(), Some(&sid("s1")));
    // The forgotten one would be read again.
    assert_eq!(upload(&mut core, &sid("s0")), Upload::Added);
}

// --- property: exactly once across restarts, against a model ---

/// One step of a run: an audit upload of session `n`, or the next event of open session `k`,
/// or a restart (the core rebuilt from its position, as from a cursor).
#[derive(Clone, Debug)]
enum Step {
    Upload(u8),
    Event(u8),
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0u8..6).prop_map(Step::Upload),
        8 => (0u8..4).prop_map(Step::Event),
        1 => Just(Step::Restart),
    ]
}

/// The `n` of the session id `sid(&format!("s{n}"))`.
fn number(id: &str) -> u8 {
    let hex = id.rsplit('-').next().unwrap().trim_start_matches('0');
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()[1..].parse().unwrap()
}

/// Session `n`'s recording: `len(n)` events, every third a `print`.
fn recording(n: u8) -> Vec<(i64, &'static str)> {
    (0..i64::from(n) * 3 + 2)
        .map(|ei| (ei, if ei % 3 == 1 { "print" } else { "resize" }))
        .collect()
}

proptest! {
    #[test]
    fn every_recording_event_is_delivered_once_across_restarts(
        steps in proptest::collection::vec(step(), 0..300),
        concurrency in 1usize..4,
    ) {
        let settings = SessionRecordings::default().concurrency(concurrency).max_pending(8);
        let mut core = RecordingsCore::new(settings.clone(), SessionsPosition::default());
        // The open recording streams: sid -> what the server still sends (ei >= start).
        let mut streams: BTreeMap<String, VecDeque<(i64, &'static str)>> = BTreeMap::new();
        let mut delivered: BTreeMap<(String, i64), u32> = BTreeMap::new();
        let mut uploaded = std::collections::BTreeSet::new();
        for step in steps {
            match step {
                Step::Upload(n) => {
                    if core.may_read_audit() {
                        core.audit_delivered(SESSION_UPLOAD, Some(&sid(&format!("s{n}"))), T0);
                        uploaded.insert(n);
                    }
                }
                Step::Event(k) => {
                    let Some(sid) = streams.keys().nth(usize::from(k) % streams.len().max(1)).cloned() else { continue };
                    let next = streams.get_mut(&sid).and_then(VecDeque::pop_front);
                    match next {
                        Some((ei, kind)) => {
                            if core.recording_event(&sid, Some(ei), kind) == Verdict::Deliver {
                                *delivered.entry((sid.clone(), ei)).or_default() += 1;
                            }
                        }
                        None => {
                            streams.remove(&sid);
                            prop_assert_eq!(core.recording_ended(&sid, End::Complete, T0), Ended::Finished);
                        }
                    }
                }
                Step::Restart => {
                    core = RecordingsCore::new(settings.clone(), core.position().clone());
                    streams.clear();
                }
            }
            while let Some(open) = core.open_next(T0) {
                let n = number(&open.sid);
                let rest = recording(n).into_iter().filter(|(ei, _)| *ei >= open.start_index).collect();
                streams.insert(open.sid, rest);
            }
            prop_assert!(streams.len() <= concurrency);
        }
        // Drain what is left.
        loop {
            while let Some(open) = core.open_next(T0) {
                let n = number(&open.sid);
                let rest = recording(n).into_iter().filter(|(ei, _)| *ei >= open.start_index).collect();
                streams.insert(open.sid, rest);
            }
            let Some(sid) = streams.keys().next().cloned() else { break };
            for (ei, kind) in streams.remove(&sid).unwrap_or_default() {
                if core.recording_event(&sid, Some(ei), kind) == Verdict::Deliver {
                    *delivered.entry((sid.clone(), ei)).or_default() += 1;
                }
            }
            core.recording_ended(&sid, End::Complete, T0);
        }
        prop_assert!(core.is_idle());
        // The model: every non-print event of every uploaded session, exactly once.
        let mut expected = BTreeMap::new();
        for n in uploaded {
            for (ei, kind) in recording(n) {
                if kind != "print" {
                    expected.insert((sid(&format!("s{n}")), ei), 1);
                }
            }
        }
        prop_assert_eq!(delivered, expected);
    }
}
