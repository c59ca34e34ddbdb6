//! The sessions part of a cursor (session recordings mode, [`crate::SessionRecordings`]): the
//! sessions whose recording is still being delivered, each with the recording index to resume
//! at, and the sessions finished lately (so a duplicate `session.upload` is not delivered twice).
//!
//! ```json
//! "sessions": [ { "sid": "5b2d8a2e-...", "next": 1234, "uploaded": "2025-12-02T07:14:36Z" } ],
//! "finished": [ "0f6f4d61-...", "..." ]
//! ```
//!
//! `sessions` is a list in upload order (the order they are opened in), `finished` oldest first.
//! Both are omitted when empty, so a cursor without recordings is the one written before they
//! existed, and such a cursor parses unchanged.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{format_time, parse_time};

/// Most sessions in progress a cursor may hold (a stream holds at most
/// [`crate::SessionRecordings::max_pending`], itself at most this).
pub const MAX_SESSIONS_IN_PROGRESS: usize = 1024;
/// How many finished sessions a cursor remembers (to drop a duplicate `session.upload`).
pub const FINISHED_SESSIONS_KEPT: usize = 256;
/// The largest recording index a stream can resume at: Teleport's `start_index` is an int32.
pub(crate) const MAX_START_INDEX: i64 = i32::MAX as i64;

/// A session whose recording is being delivered (or waits to be).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PendingSession {
    /// The session id (`sid`).
    pub(crate) sid: String,
    /// The recording index to resume at: every event with a lower index was delivered.
    pub(crate) next: i64,
    /// The time of its `session.upload` event (server time).
    pub(crate) uploaded: OffsetDateTime,
}

/// The sessions part of a cursor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SessionsPosition {
    /// In upload order.
    pub(crate) pending: Vec<PendingSession>,
    /// Oldest first, at most [`FINISHED_SESSIONS_KEPT`].
    pub(crate) finished: VecDeque<String>,
}

/// Whether `sid` has the shape of a Teleport session id: a UUID (`8-4-4-4-12` hex digits).
/// Teleport itself does not check (it answers `NotFound` for anything else); the client refuses
/// anything else before asking.
pub(crate) fn valid_session_id(sid: &str) -> bool {
    let bytes = sid.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

impl SessionsPosition {
    pub(crate) fn pending(&self, sid: &str) -> Option<&PendingSession> {
        self.pending.iter().find(|p| p.sid == sid)
    }

    pub(crate) fn is_known(&self, sid: &str) -> bool {
        self.pending(sid).is_some() || self.finished.iter().any(|f| f == sid)
    }

    /// `sid` is finished: out of `pending`, into `finished` (the oldest forgotten past the bound).
    pub(crate) fn finish(&mut self, sid: &str) {
        self.pending.retain(|p| p.sid != sid);
        if !self.finished.iter().any(|f| f == sid) {
            self.finished.push_back(sid.to_owned());
        }
        while self.finished.len() > FINISHED_SESSIONS_KEPT {
            self.finished.pop_front();
        }
    }

    pub(super) fn to_wire(&self) -> SessionsWire {
        SessionsWire {
            sessions: self
                .pending
                .iter()
                .map(|p| PendingWire {
                    sid: p.sid.clone(),
                    next: p.next,
                    uploaded: format_time(p.uploaded),
                })
                .collect(),
            finished: self.finished.iter().cloned().collect(),
        }
    }

    /// Takes `sessions` and `finished` out of a cursor's JSON and checks them.
    pub(super) fn take_from(value: &mut serde_json::Value) -> Result<Self, String> {
        let Some(object) = value.as_object_mut() else {
            return Ok(Self::default());
        };
        let mut wire = serde_json::Map::new();
        for key in ["sessions", "finished"] {
            if let Some(part) = object.remove(key) {
                wire.insert(key.to_owned(), part);
            }
        }
        if wire.is_empty() {
            return Ok(Self::default());
        }
        let wire = SessionsWire::deserialize(serde_json::Value::Object(wire))
            .map_err(|e| e.to_string())?;
        Self::from_wire(wire)
    }

    fn from_wire(wire: SessionsWire) -> Result<Self, String> {
        if wire.sessions.len() > MAX_SESSIONS_IN_PROGRESS {
            return Err(format!(
                "sessions: {} sessions in progress, more than the {MAX_SESSIONS_IN_PROGRESS} a cursor may hold",
                wire.sessions.len()
            ));
        }
        if wire.finished.len() > FINISHED_SESSIONS_KEPT {
            return Err(format!(
                "finished: {} sessions, more than the {FINISHED_SESSIONS_KEPT} a cursor remembers",
                wire.finished.len()
            ));
        }
        let mut position = Self::default();
        for (n, session) in wire.sessions.into_iter().enumerate() {
            if !valid_session_id(&session.sid) {
                return Err(format!(
                    "sessions[{n}].sid: {:?} is not a session id (a UUID)",
                    truncated(&session.sid)
                ));
            }
            if !(0..=MAX_START_INDEX).contains(&session.next) {
                return Err(format!(
                    "sessions[{n}].next: {} is not a recording index (0 to {MAX_START_INDEX})",
                    session.next
                ));
            }
            let uploaded = parse_time(&format!("sessions[{n}].uploaded"), &session.uploaded)?;
            if position.pending(&session.sid).is_some() {
                return Err(format!("sessions[{n}].sid: {:?} repeats", session.sid));
            }
            position.pending.push(PendingSession {
                sid: session.sid,
                next: session.next,
                uploaded,
            });
        }
        for (n, sid) in wire.finished.into_iter().enumerate() {
            if !valid_session_id(&sid) {
                return Err(format!(
                    "finished[{n}]: {:?} is not a session id",
                    truncated(&sid)
                ));
            }
            if position.is_known(&sid) {
                return Err(format!(
                    "finished[{n}]: {sid:?} is also in progress or repeats"
                ));
            }
            position.finished.push_back(sid);
        }
        Ok(position)
    }
}

/// At most 40 characters of an invalid id, for a message.
fn truncated(sid: &str) -> String {
    sid.chars().take(40).collect()
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SessionsWire {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sessions: Vec<PendingWire>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    finished: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingWire {
    sid: String,
    next: i64,
    uploaded: String,
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::super::Cursor;
    use super::*;
    use crate::error::tests::why;
    use crate::error::{CursorError, Error};

    const A: &str = "0f6f4d61-1b7e-4a52-8c3d-91e2f0a7b6c5";
    const F1: &str = "8d1c0b2a-4e3f-4a6b-9c7d-5e1f2a3b4c5d";
    const F2: &str = "8d1c0b2a-4e3f-4a6b-9c7d-5e1f2a3b4c5e";

    fn with_sessions() -> Cursor {
        let mut cursor = Cursor::starting_at(datetime!(2025-12-02 07:14:30 UTC));
        cursor.sessions.pending = vec![
            PendingSession {
                sid: "5b2d8a2e-0000-4000-8000-000000000001".into(),
                next: 1234,
                uploaded: datetime!(2025-12-02 07:14:36.5 UTC),
            },
            PendingSession {
                sid: A.into(),
                next: 0,
                uploaded: datetime!(2025-12-02 07:14:37 UTC),
            },
        ];
        cursor.sessions.finished = [F1.to_owned(), F2.to_owned()].into();
        cursor
    }

    fn reason(text: &str) -> String {
        match Cursor::from_json(text) {
            Err(Error::Cursor(CursorError::Invalid { reason, source })) => why(reason, source),
            other => panic!("expected InvalidCursor, got {other:?}"),
        }
    }

    #[test]
    fn sessions_round_trip_in_order_in_the_documented_format() {
        let cursor = with_sessions();
        let text = cursor.to_json();
        assert_eq!(Cursor::from_json(&text).unwrap(), cursor);
        assert!(
            text.ends_with(r#","sessions":[{"sid":"5b2d8a2e-0000-4000-8000-000000000001","next":1234,"uploaded":"2025-12-02T07:14:36.5Z"},{"sid":"0f6f4d61-1b7e-4a52-8c3d-91e2f0a7b6c5","next":0,"uploaded":"2025-12-02T07:14:37Z"}],"finished":["8d1c0b2a-4e3f-4a6b-9c7d-5e1f2a3b4c5d","8d1c0b2a-4e3f-4a6b-9c7d-5e1f2a3b4c5e"]}"#),
            "{text}"
        );
        // Export cursors carry them the same way.
        let mut export = cursor.clone();
        export.position = super::super::Position::Export(
            super::super::ExportPosition::starting_at(datetime!(2025-12-01 00:00 UTC)),
        );
        assert_eq!(Cursor::from_json(&export.to_json()).unwrap(), export);
    }

    #[test]
    fn a_cursor_without_sessions_is_written_and_read_as_before() {
        let old = r#"{"v":1,"watermark":"2025-01-01T00:00:00Z","seen":{}}"#;
        let cursor = Cursor::from_json(old).unwrap();
        assert_eq!(cursor.sessions, SessionsPosition::default());
        assert_eq!(cursor.to_json(), old);
    }

    #[test]
    fn bad_sessions_are_refused_with_the_field() {
        let base = r#"{"v":1,"watermark":"2025-01-01T00:00:00Z","#;
        let t = |rest: &str| reason(&format!("{base}{rest}}}"));
        assert!(
            t(r#""sessions":[{"sid":"","next":0,"uploaded":"2025-01-01T00:00:00Z"}]"#)
                .starts_with("sessions[0].sid")
        );
        assert!(
            t(r#""sessions":[{"sid":"a b","next":0,"uploaded":"2025-01-01T00:00:00Z"}]"#)
                .contains("not a session id")
        );
        assert!(
            t(r#""sessions":[{"sid":"0f6f4d61-1b7e-4a52-8c3d-91e2f0a7b6c5","next":-1,"uploaded":"2025-01-01T00:00:00Z"}]"#)
                .starts_with("sessions[0].next")
        );
        assert!(
            t(r#""sessions":[{"sid":"0f6f4d61-1b7e-4a52-8c3d-91e2f0a7b6c5","next":2147483648,"uploaded":"2025-01-01T00:00:00Z"}]"#)
                .contains("not a recording index")
        );
        assert!(
            t(r#""sessions":[{"sid":"0f6f4d61-1b7e-4a52-8c3d-91e2f0a7b6c5","next":0,"uploaded":"soon"}]"#)
                .starts_with("sessions[0].uploaded")
        );
        assert!(t(r#""sessions":[{"sid":"0f6f4d61-1b7e-4a52-8c3d-91e2f0a7b6c5","next":0,"uploaded":"2025-01-01T00:00:00Z"},{"sid":"0f6f4d61-1b7e-4a52-8c3d-91e2f0a7b6c5","next":1,"uploaded":"2025-01-01T00:00:00Z"}]"#)
            .contains("repeats"));
        assert!(
            t(r#""sessions":[{"sid":"0f6f4d61-1b7e-4a52-8c3d-91e2f0a7b6c5","next":0,"uploaded":"2025-01-01T00:00:00Z"}],"finished":["0f6f4d61-1b7e-4a52-8c3d-91e2f0a7b6c5"]"#)
                .contains("also in progress")
        );
        assert!(t(r#""finished":["11111111-2222-4333-8444-555555555555","11111111-2222-4333-8444-555555555555"]"#).contains("repeats"));
        assert!(t(r#""finished":[""]"#).starts_with("finished[0]"));
        assert!(t(r#""sessions":{"a":1}"#).contains("invalid type"));
        assert!(
            t(r#""sessions":[{"sid":"0f6f4d61-1b7e-4a52-8c3d-91e2f0a7b6c5","next":0,"uploaded":"2025-01-01T00:00:00Z","x":1}]"#)
                .contains("unknown field")
        );
        let many: Vec<String> = (0..=MAX_SESSIONS_IN_PROGRESS)
            .map(|n| format!(r#"{{"sid":"00000000-0000-4000-8000-{n:012}","next":0,"uploaded":"2025-01-01T00:00:00Z"}}"#))
            .collect();
        assert!(t(&format!(r#""sessions":[{}]"#, many.join(","))).contains("more than the 1024"));
        let finished: Vec<String> = (0..=FINISHED_SESSIONS_KEPT)
            .map(|n| format!(r#""00000000-0000-4000-8000-{n:012}""#))
            .collect();
        assert!(
            t(&format!(r#""finished":[{}]"#, finished.join(","))).contains("more than the 256")
        );
        // A long invalid id is quoted shortened.
        let long = "x".repeat(500);
        let text = t(&format!(
            r#""sessions":[{{"sid":"{long}","next":0,"uploaded":"2025-01-01T00:00:00Z"}}]"#
        ));
        assert!(text.len() < 200, "{text}");
    }

    #[test]
    fn finishing_moves_a_session_and_bounds_the_list() {
        let mut position = with_sessions().sessions;
        position.finish(A);
        assert_eq!(position.pending.len(), 1);
        assert_eq!(position.finished, [F1, F2, A]);
        position.finish(A);
        assert_eq!(position.finished.len(), 3);
        for n in 0..FINISHED_SESSIONS_KEPT {
            position.finish(&format!("00000000-0000-4000-8000-{n:012}"));
        }
        assert_eq!(position.finished.len(), FINISHED_SESSIONS_KEPT);
        assert!(!position.is_known(F1));
    }

    #[test]
    fn session_ids() {
        assert!(valid_session_id("5b2d8a2e-0000-4000-8000-000000000001"));
        assert!(valid_session_id("5B2D8A2E-0B4C-4F7E-9A0D-3C1F2E4D5A6B"));
        assert!(!valid_session_id(""));
        assert!(!valid_session_id("not-a-session-id"));
        assert!(!valid_session_id("5b2d8a2e-0b4c-4f7e-9a0d-3c1f2e4d5a6"));
        assert!(!valid_session_id("5b2d8a2e-0b4c-4f7e-9a0d-3c1f2e4d5a6bb"));
        assert!(!valid_session_id("5b2d8a2e00b4c-4f7e-9a0d-3c1f2e4d5a6b"));
        assert!(!valid_session_id("5b2d8a2e-0b4c-4f7e-9a0d-3c1f2e4d5a6g"));
    }
}
