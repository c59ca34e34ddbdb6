//! Session recordings as the session stream RPCs serve them: [`StoreInner::recording`] opens
//! one from a start index and yields its events lazily, with its faults. Both RPCs (the
//! unstructured one and the legacy `proto.AuthService/StreamSessionEvents`) read recordings
//! only through it.

use serde_json::{Map, Value};

use super::body::ServedEvent;
use super::{EventStore, StoreInner};
use crate::generate::recording::{self as rec, AuditCopy};
use crate::generate::{self, GROUP_LEN, RECORDED_POS, SESSIONS_SALT, UPLOAD_POS};
use crate::json::{Nanos, from_nanos};
use crate::recordings::{RecordedSession, RecordingKind, RecordingSettings};
use crate::uid::Uid;

/// Why a recording cannot be opened (Teleport answers `NotFound` before any event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordingMissing {
    /// No such session, or its recording was never uploaded.
    NotFound,
    /// Its upload has not happened yet (a late upload, or a session still running).
    NotYet,
    /// The store could not build the session's events (a bug).
    Internal(String),
}

/// A failure in the middle of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordingFault {
    /// The file ends mid-part (Teleport: `unexpected EOF`, gRPC `Unknown`).
    Truncated,
}

/// One event of a recording, ready for either RPC.
#[derive(Debug, Clone)]
pub(crate) struct RecordedEvent {
    pub(crate) ei: i64,
    pub(crate) time: Nanos,
    /// The event's JSON, as `apievents.ToUnstructured` gives it.
    pub(crate) json: Map<String, Value>,
}

impl RecordedEvent {
    /// The `event` field.
    pub(crate) fn event_type(&self) -> &str {
        self.json.get("event").and_then(Value::as_str).unwrap_or("")
    }

    /// The `uid` field, when the event has one (`print` has none).
    pub(crate) fn uid(&self) -> Option<&str> {
        self.json.get("uid").and_then(Value::as_str)
    }
}

/// An open recording: an iterator of events from the start index, then maybe a fault.
#[derive(Debug)]
pub(crate) struct Recording {
    source: Source,
}

#[derive(Debug)]
enum Source {
    /// A generated recording: events `next..served`, then a fault if `fails`.
    Generated {
        recording: Box<rec::Recording>,
        next: u64,
        served: u64,
        fails: bool,
    },
    /// Recordings off: the session's audit events.
    Audit(std::vec::IntoIter<ServedEvent>),
    /// Nothing more.
    Done,
}

impl Recording {
    /// Events still to come (without a final fault).
    pub(crate) fn remaining(&self) -> u64 {
        match &self.source {
            Source::Generated { next, served, .. } => served.saturating_sub(*next),
            Source::Audit(events) => events.len() as u64,
            Source::Done => 0,
        }
    }
}

impl Iterator for Recording {
    type Item = Result<RecordedEvent, RecordingFault>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.source {
            Source::Generated {
                recording,
                next,
                served,
                fails,
            } => {
                if *next < *served {
                    let ei = *next;
                    *next += 1;
                    return Some(Ok(RecordedEvent {
                        ei: ei as i64,
                        time: recording.time(ei),
                        json: recording.event(ei),
                    }));
                }
                let fails = *fails;
                self.source = Source::Done;
                fails.then_some(Err(RecordingFault::Truncated))
            }
            Source::Audit(events) => {
                let event = events.next()?;
                let mut json = Vec::with_capacity(event.body.json_len);
                let parsed =
                    teleport_audit_types::wire::struct_to_json(&event.body.struct_bytes, &mut json)
                        .ok()
                        .and_then(|()| serde_json::from_slice::<Map<String, Value>>(&json).ok());
                // Events the store encoded itself always decode; one that did not would be a
                // bug, served as an empty object rather than a panic.
                Some(Ok(RecordedEvent {
                    ei: event.body.ei,
                    time: event.time,
                    json: parsed.unwrap_or_default(),
                }))
            }
            Source::Done => None,
        }
    }
}

/// Where a generated recorded session sits: its series and group.
struct Located {
    series: usize,
    salt: u64,
    group: u64,
}

impl StoreInner {
    /// Opens session `sid`'s recording at `start_index` (inclusive: events with
    /// `ei >= start_index`, as Teleport's `ProtoReader` filter).
    ///
    /// With recordings off, a session's recording is its audit events (the sim's behaviour
    /// before recordings existed).
    pub(crate) fn recording(
        &self,
        sid: &str,
        start_index: i64,
    ) -> Result<Recording, RecordingMissing> {
        let Some(settings) = self.recordings else {
            return match self.session(sid, start_index) {
                Ok(Some(events)) => Ok(Recording {
                    source: Source::Audit(events.into_iter()),
                }),
                Ok(None) => Err(RecordingMissing::NotFound),
                Err(e) => Err(RecordingMissing::Internal(e.to_string())),
            };
        };
        let state = self.read();
        let now = self.now();
        let seed = self.rules.seed;
        let found = self.locate(&state, sid).ok_or(RecordingMissing::NotFound)?;
        let series = &state.series[found.series];
        let upload_idx = found.group * GROUP_LEN + UPLOAD_POS;
        if upload_idx >= series.end(seed, now) {
            return Err(RecordingMissing::NotYet);
        }
        let uploaded = series.time(seed, upload_idx);
        let plan = rec::plan(seed, found.salt, found.group, settings.large_events);
        match self.available_at(plan.kind, uploaded, &settings) {
            None => return Err(RecordingMissing::NotFound),
            Some(at) if now < at => return Err(RecordingMissing::NotYet),
            Some(_) => {}
        }
        let audit = RECORDED_POS.map(|pos| {
            let (time, generated) = self.generate_at(series, found.group * GROUP_LEN + pos);
            AuditCopy {
                time,
                json: serde_json::from_str(&generated.json).unwrap_or_default(),
            }
        });
        let sid_uid = generate::sid(seed, found.salt, found.group);
        let recording = rec::Recording::new(seed, sid_uid, &self.cluster, plan, audit);
        Ok(Recording {
            source: Source::Generated {
                recording: Box::new(recording),
                next: u64::try_from(start_index).unwrap_or(0),
                served: plan.served,
                fails: plan.kind == RecordingKind::Corrupt,
            },
        })
    }

    /// The series and group of a generated recorded session.
    fn locate(&self, state: &super::State, sid: &str) -> Option<Located> {
        let seed = self.rules.seed;
        let (salt, group) = generate::decode_sid(seed, &Uid::parse(sid)?)?;
        let series = state.series.iter().position(|s| s.salt == salt)?;
        generate::is_recorded(seed, salt, group).then_some(Located {
            series,
            salt,
            group,
        })
    }

    /// When a recording of `kind` uploaded at `uploaded` can be read (`None`: never).
    fn available_at(
        &self,
        kind: RecordingKind,
        uploaded: Nanos,
        settings: &RecordingSettings,
    ) -> Option<Nanos> {
        match kind {
            RecordingKind::Missing => None,
            RecordingKind::Late => {
                let delay =
                    i64::try_from(settings.late_upload_delay.as_nanos()).unwrap_or(i64::MAX);
                Some(uploaded.max(self.rules.origin).saturating_add(delay))
            }
            _ => Some(uploaded),
        }
    }

    /// What [`EventStore::recorded_session`] reports.
    fn describe(&self, state: &super::State, found: &Located) -> Option<RecordedSession> {
        let settings = self.recordings?;
        let seed = self.rules.seed;
        let series = &state.series[found.series];
        let uploaded = series.time(seed, found.group * GROUP_LEN + UPLOAD_POS);
        let plan = rec::plan(seed, found.salt, found.group, settings.large_events);
        Some(RecordedSession {
            sid: generate::sid(seed, found.salt, found.group).to_string(),
            kind: plan.kind,
            events: plan.len,
            served: plan.served,
            uploaded_at: from_nanos(uploaded),
            available_at: self
                .available_at(plan.kind, uploaded, &settings)
                .map(from_nanos),
        })
    }
}

impl EventStore {
    /// The recorded sessions of the backlog ([`SimClusterBuilder::sessions`](crate::SimClusterBuilder::sessions)),
    /// in time order: the first is [`RecordingKind::Large`], the next four are missing, late,
    /// corrupt and empty in an order the seed picks, the rest small. Empty when recordings
    /// are off.
    pub fn recorded_sessions(&self) -> Vec<RecordedSession> {
        let inner = self.inner();
        let state = inner.read();
        let seed = inner.rules.seed;
        let Some(series) = state.series.iter().position(|s| s.salt == SESSIONS_SALT) else {
            return Vec::new();
        };
        let groups = state.series[series].end(seed, i64::MAX) / GROUP_LEN;
        (0..groups)
            .filter_map(|group| {
                inner.describe(
                    &state,
                    &Located {
                        series,
                        salt: SESSIONS_SALT,
                        group,
                    },
                )
            })
            .collect()
    }

    /// The recorded session `sid` (from the backlog or the live generator), if the store
    /// generates one with that id; whether its `session.upload` exists yet is not checked.
    pub fn recorded_session(&self, sid: &str) -> Option<RecordedSession> {
        let inner = self.inner();
        let state = inner.read();
        let found = inner.locate(&state, sid)?;
        inner.describe(&state, &found)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use time::macros::datetime;

    use super::*;
    use crate::store::StoreConfig;
    use crate::{Backend, Clock};

    /// Ten recorded sessions over the hour after 10:00, the clock at `now`.
    fn sessions_store(now: time::OffsetDateTime) -> (EventStore, Clock) {
        let clock = Clock::manual(now);
        let store = EventStore::new(StoreConfig {
            seed: 5,
            cluster: "sim.test".into(),
            clock: clock.clone(),
            backend: Backend::Immediate,
            backlog: Some((
                0,
                datetime!(2024-03-10 10:00 UTC),
                datetime!(2024-03-10 11:00 UTC),
            )),
            live_rate: 0.0,
            cache_bytes: 1 << 20,
            final_page_key_probability: 0.0,
            sessions: 10,
            recordings: Some(
                RecordingSettings::default()
                    .large_events(300)
                    .late_upload_delay(Duration::from_secs(30)),
            ),
        })
        .unwrap();
        (store, clock)
    }

    fn open(store: &EventStore, sid: &str, from: i64) -> Result<Recording, RecordingMissing> {
        store.inner().recording(sid, from)
    }

    #[test]
    fn a_recording_exists_from_its_upload_and_a_late_one_from_the_delay_after() {
        // The clock before the sessions: nothing is uploaded yet (a missing one never is).
        let (store, clock) = sessions_store(datetime!(2024-03-10 09:00 UTC));
        let sessions = store.recorded_sessions();
        assert_eq!(sessions.len(), 10);
        for s in &sessions {
            let want = if s.kind == RecordingKind::Missing {
                RecordingMissing::NotFound
            } else {
                RecordingMissing::NotYet
            };
            assert_eq!(open(&store, &s.sid, 0).err(), Some(want), "{s:?}");
        }
        clock.advance(Duration::from_secs(2 * 3600));
        for s in &sessions {
            let opened = open(&store, &s.sid, 0);
            match s.kind {
                RecordingKind::Missing => {
                    assert_eq!(opened.err(), Some(RecordingMissing::NotFound));
                    assert_eq!(s.available_at, None);
                }
                kind => {
                    let delay = if kind == RecordingKind::Late { 30 } else { 0 };
                    assert_eq!(
                        s.available_at,
                        Some(s.uploaded_at + time::Duration::seconds(delay)),
                        "{s:?}"
                    );
                    assert_eq!(opened.unwrap().remaining(), s.served, "{s:?}");
                }
            }
        }

        // Uploaded before the cluster started: late from the start.
        let (store, clock) = sessions_store(datetime!(2024-03-10 12:00 UTC));
        let late = store
            .recorded_sessions()
            .into_iter()
            .find(|s| s.kind == RecordingKind::Late)
            .unwrap();
        assert_eq!(late.available_at, Some(datetime!(2024-03-10 12:00:30 UTC)));
        assert_eq!(
            open(&store, &late.sid, 0).err(),
            Some(RecordingMissing::NotYet)
        );
        clock.advance(Duration::from_secs(30));
        let events = open(&store, &late.sid, 0).unwrap().count() as u64;
        assert_eq!(events, late.events);
    }

    #[test]
    fn events_come_from_the_start_index_then_the_fault() {
        let (store, _clock) = sessions_store(datetime!(2024-03-10 12:00 UTC));
        let sessions = store.recorded_sessions();
        let large = &sessions[0];
        assert_eq!((large.kind, large.events), (RecordingKind::Large, 300));
        let tail: Vec<i64> = open(&store, &large.sid, 290)
            .unwrap()
            .map(|e| e.unwrap().ei)
            .collect();
        assert_eq!(tail, (290..300).collect::<Vec<_>>());
        let corrupt = sessions
            .iter()
            .find(|s| s.kind == RecordingKind::Corrupt)
            .unwrap();
        let items: Vec<_> = open(&store, &corrupt.sid, 0).unwrap().collect();
        assert_eq!(items.len() as u64, corrupt.served + 1);
        assert!(matches!(items.last(), Some(Err(RecordingFault::Truncated))));
        assert!(items[..items.len() - 1].iter().all(Result::is_ok));
        let empty = sessions
            .iter()
            .find(|s| s.kind == RecordingKind::Empty)
            .unwrap();
        assert_eq!(open(&store, &empty.sid, 0).unwrap().count(), 0);
        // Ids the store never generated, and sessions that are not recorded.
        assert!(matches!(
            open(&store, "", 0),
            Err(RecordingMissing::NotFound)
        ));
        let not_recorded = generate::sid(5, 0, 3).to_string();
        assert!(matches!(
            open(&store, &not_recorded, 0),
            Err(RecordingMissing::NotFound)
        ));
    }
}
