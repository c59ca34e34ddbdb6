//! [`EventStore`]: the simulated audit log.
//!
//! Three sources feed it: a backlog generated lazily from the seed (millions of events cost no
//! memory until queried), a live generator producing events at "now" at a configurable rate
//! (also lazy: an event exists once its time has come), and events inserted explicitly (kept in
//! memory). The backend's [`Rules`](model::Rules) decide when each becomes visible to search,
//! how search orders them and which export chunk holds them.

mod body;
mod cache;
mod cursor;
mod export;
mod model;
mod recording;
mod search;
mod series;
mod session;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::clock::Clock;
use crate::generate::{self, GenInput};
use crate::json::{NANOS_PER_SEC, Nanos, day_of, from_nanos, to_nanos};
use crate::recordings::RecordingSettings;
use crate::uid::Uid;
use crate::{Backend, SimError};

pub(crate) use body::{EventBody, ServedEvent};
pub(crate) use cursor::{decode_export, decode_search, encode_export};
pub(crate) use model::Rules;
pub(crate) use recording::{RecordedEvent, RecordingFault, RecordingMissing};
pub(crate) use search::{Resume, SearchQuery};

use cache::{BLOCK, EventCache};
use model::ChunkKey;
use series::Series;

/// Salt of the backlog series; live series count up from 1.
const BACKLOG_SALT: u64 = 0;
/// Salt of events generated for late chunks and other faults (inserted, not a series).
const FAULT_SALT: u64 = 0xfffe;
/// Session ids carry 16 bits of salt.
const MAX_SALT: u64 = 0xfff0;

/// What the store is built from (set by [`SimClusterBuilder`](crate::SimClusterBuilder)).
#[derive(Debug, Clone)]
pub(crate) struct StoreConfig {
    pub(crate) seed: u64,
    pub(crate) cluster: String,
    pub(crate) clock: Clock,
    pub(crate) backend: Backend,
    pub(crate) backlog: Option<(u64, OffsetDateTime, OffsetDateTime)>,
    pub(crate) live_rate: f64,
    pub(crate) cache_bytes: usize,
    pub(crate) final_page_key_probability: f64,
    /// Recorded sessions in the backlog's span (or the hour before now without a backlog).
    pub(crate) sessions: u64,
    /// How recordings look; `None`: recordings are off (the session stream serves a
    /// session's audit events, and no `session.upload` is generated).
    pub(crate) recordings: Option<RecordingSettings>,
}

/// The simulated audit log. Cheap to clone (clones share the store).
#[derive(Clone)]
pub struct EventStore {
    inner: Arc<StoreInner>,
}

pub(crate) struct StoreInner {
    pub(crate) rules: Rules,
    cluster: String,
    clock: Clock,
    pub(crate) final_page_key_probability: f64,
    recordings: Option<RecordingSettings>,
    state: RwLock<State>,
    cache: EventCache,
}

/// An event inserted explicitly (or by a fault knob).
#[derive(Debug)]
pub(crate) struct Inserted {
    time: Nanos,
    uid: Uid,
    visible_at: Nanos,
    sid: Option<String>,
    body: Arc<EventBody>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    series: Vec<Series>,
    next_salt: u64,
    live_rate: f64,
    inserted: BTreeMap<(Nanos, Uid), Arc<Inserted>>,
    uids: HashMap<Uid, Nanos>,
    by_sid: HashMap<String, Vec<Arc<Inserted>>>,
    by_chunk: BTreeMap<ChunkKey, Vec<Arc<Inserted>>>,
    next_chunk_seq: u64,
    next_fault_idx: u64,
}

/// A candidate event found in a time range.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub(crate) time: Nanos,
    pub(crate) uid: Uid,
    src: Src,
}

#[derive(Debug, Clone)]
enum Src {
    Generated { series: usize, idx: u64 },
    Inserted(Arc<Inserted>),
}

/// What [`EventStore::insert`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEventId {
    uid: String,
    time: OffsetDateTime,
    visible_at: OffsetDateTime,
}

impl StoredEventId {
    /// The event's `uid`.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The event's `time`.
    pub fn time(&self) -> OffsetDateTime {
        self.time
    }

    /// When the event becomes visible to search.
    pub fn visible_at(&self) -> OffsetDateTime {
        self.visible_at
    }
}

/// One event the store holds, as [`EventStore::events_in_range`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The event's `time`.
    pub time: OffsetDateTime,
    /// The event's `uid`.
    pub uid: String,
    /// The event's type (`event` field).
    pub event_type: String,
    /// When it becomes (or became) visible to search.
    pub visible_at: OffsetDateTime,
    /// Its JSON as the wire carries it (decoded from the Struct the server sends).
    pub json: String,
}

fn nanos_of(t: OffsetDateTime, field: &'static str) -> Result<Nanos, SimError> {
    to_nanos(t).ok_or_else(|| SimError::InvalidEvent {
        field,
        reason: format!("{t} is outside 1677..2262, the range the simulator stores"),
    })
}

fn clamp_nanos(t: OffsetDateTime) -> Nanos {
    to_nanos(t).unwrap_or(if t < OffsetDateTime::UNIX_EPOCH {
        i64::MIN
    } else {
        i64::MAX
    })
}

impl EventStore {
    pub(crate) fn new(config: StoreConfig) -> Result<EventStore, SimError> {
        let origin = config.clock.now_nanos();
        let mut state = State {
            next_salt: BACKLOG_SALT + 1,
            ..State::default()
        };
        if let Some((count, start, end)) = config.backlog {
            if count > series::MAX_COUNT {
                return Err(SimError::Config {
                    field: "backlog",
                    reason: format!(
                        "{count} events is more than the {} supported",
                        series::MAX_COUNT
                    ),
                });
            }
            let (start_n, end_n) = (to_nanos(start), to_nanos(end));
            let (Some(start_n), Some(end_n)) = (start_n, end_n) else {
                return Err(SimError::Config {
                    field: "backlog",
                    reason: "start and end must lie between 1677 and 2262".into(),
                });
            };
            if end_n <= start_n {
                return Err(SimError::Config {
                    field: "backlog",
                    reason: format!("end {end} is not after start {start}"),
                });
            }
            if count > 0 {
                state
                    .series
                    .push(Series::backlog(BACKLOG_SALT, count, start_n, end_n));
            }
        }
        if config.recordings.is_some() && config.sessions > 0 {
            let (start, end) = match config.backlog {
                Some((_, start, end)) => (clamp_nanos(start), clamp_nanos(end)),
                None => (origin.saturating_sub(3_600 * NANOS_PER_SEC), origin),
            };
            let events = config
                .sessions
                .checked_mul(generate::GROUP_LEN)
                .filter(|n| *n <= series::MAX_COUNT)
                .ok_or_else(|| SimError::Config {
                    field: "sessions",
                    reason: format!("{} sessions are more than supported", config.sessions),
                })?;
            state.series.push(Series::backlog(
                generate::SESSIONS_SALT,
                events,
                start,
                end.max(start.saturating_add(1)),
            ));
        }
        let inner = StoreInner {
            rules: Rules {
                backend: config.backend,
                origin,
                seed: config.seed,
            },
            cluster: config.cluster,
            clock: config.clock,
            final_page_key_probability: config.final_page_key_probability,
            recordings: config.recordings,
            state: RwLock::new(state),
            cache: EventCache::new(config.cache_bytes),
        };
        let store = EventStore {
            inner: Arc::new(inner),
        };
        store.set_live_rate(config.live_rate)?;
        Ok(store)
    }

    pub(crate) fn inner(&self) -> &StoreInner {
        &self.inner
    }

    /// The clock the store reads "now" from.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The backend whose behaviour the store imitates.
    pub fn backend(&self) -> Backend {
        self.inner.rules.backend
    }

    /// Stores one event given as a JSON object. Its `time` (RFC 3339), `uid` (UUID) and `event`
    /// (type) fields are required; `ei` and `sid` are read when present.
    ///
    /// `visible_at` overrides when search starts returning it; `None` applies the backend's
    /// model from now (DynamoDB: a random delay; Athena: the next flush; Immediate: at once).
    /// With Athena, a time in the future waits for the first flush after it, and a time not
    /// after now gives the event a chunk of its own, visible at once (flushed chunks never
    /// change).
    ///
    /// # Errors
    /// [`SimError::InvalidEvent`] naming the field when the text is not a JSON object or a
    /// required field is missing or malformed; [`SimError::DuplicateEvent`] when an inserted
    /// event already has this `uid`.
    pub fn insert(
        &self,
        json: &str,
        visible_at: Option<OffsetDateTime>,
    ) -> Result<StoredEventId, SimError> {
        let visible_at = visible_at.map(|v| nanos_of(v, "visible_at")).transpose()?;
        let parsed = ParsedEvent::parse(json)?;
        let mut state = self.inner.write();
        self.inner
            .insert_parsed(&mut state, parsed, json, visible_at, None)
    }

    /// Every event the store holds with `t1 <= time <= t2`, visible or not, in time order (ties
    /// by id), as `(time, uid)`. Generates only the part of the backlog asked for.
    pub fn ids_in_range(
        &self,
        t1: OffsetDateTime,
        t2: OffsetDateTime,
    ) -> Vec<(OffsetDateTime, String)> {
        self.inner
            .hits_sorted(clamp_nanos(t1), clamp_nanos(t2), false)
            .into_iter()
            .map(|h| (from_nanos(h.time), h.uid.to_string()))
            .collect()
    }

    /// Like [`EventStore::ids_in_range`], only the events search can return now.
    pub fn visible_ids_in_range(
        &self,
        t1: OffsetDateTime,
        t2: OffsetDateTime,
    ) -> Vec<(OffsetDateTime, String)> {
        self.inner
            .hits_sorted(clamp_nanos(t1), clamp_nanos(t2), true)
            .into_iter()
            .map(|h| (from_nanos(h.time), h.uid.to_string()))
            .collect()
    }

    /// Every event with `t1 <= time <= t2` with its type, visibility and JSON (as the wire
    /// carries it), in time order. Builds every event in the range: keep ranges small.
    ///
    /// # Errors
    /// [`SimError::Encode`] if an event cannot be encoded (a bug).
    pub fn events_in_range(
        &self,
        t1: OffsetDateTime,
        t2: OffsetDateTime,
    ) -> Result<Vec<StoredEvent>, SimError> {
        let inner = &self.inner;
        let state = inner.read();
        let now = inner.clock.now_nanos();
        let mut hits = state.hits(inner.rules.seed, clamp_nanos(t1), clamp_nanos(t2), now);
        hits.sort_by_key(|h| (h.time, h.uid));
        hits.iter()
            .map(|hit| {
                let body = inner.body(&state, hit)?;
                let mut json = Vec::with_capacity(body.json_len);
                teleport_audit_types::wire::struct_to_json(&body.struct_bytes, &mut json).map_err(
                    |source| SimError::Encode {
                        uid: hit.uid.to_string(),
                        source,
                    },
                )?;
                Ok(StoredEvent {
                    time: from_nanos(hit.time),
                    uid: hit.uid.to_string(),
                    event_type: body.event_type.to_string(),
                    visible_at: from_nanos(inner.visible_at(&state, hit)),
                    json: String::from_utf8_lossy(&json).into_owned(),
                })
            })
            .collect()
    }

    /// How many events exist now (backlog, live events so far, inserted).
    pub fn len(&self) -> u64 {
        let inner = &self.inner;
        let state = inner.read();
        let now = inner.clock.now_nanos();
        let generated: u64 = state
            .series
            .iter()
            .map(|s| s.end(inner.rules.seed, now))
            .sum();
        generated + state.inserted.len() as u64
    }

    /// Whether the store holds no event at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes the live generator's rate from now on (`0` stops it). Events generated so far
    /// stay.
    ///
    /// # Errors
    /// [`SimError::Config`] for a negative or non-finite rate; [`SimError::TooManySeries`] after
    /// tens of thousands of changes.
    pub fn set_live_rate(&self, events_per_second: f64) -> Result<(), SimError> {
        if !(0.0..=1e7).contains(&events_per_second) {
            return Err(SimError::Config {
                field: "live_rate",
                reason: format!(
                    "{events_per_second} is not between 0 and 10 million events per second"
                ),
            });
        }
        let now = self.inner.clock.now_nanos();
        let mut state = self.inner.write();
        for s in state
            .series
            .iter_mut()
            .filter(|s| s.live && s.until.is_none())
        {
            s.until = Some(now.saturating_add(1));
        }
        state.live_rate = events_per_second;
        if events_per_second > 0.0 {
            // With recordings on, live series carry the recorded bit in their salt (their SSH
            // sessions get a `session.upload` and a recording), so fewer salts are left.
            let (max, flag) = if self.inner.recordings.is_some() {
                (generate::RECORDED_LIVE - 1, generate::RECORDED_LIVE)
            } else {
                (MAX_SALT, 0)
            };
            if state.next_salt > max {
                return Err(SimError::TooManySeries { max });
            }
            let salt = state.next_salt | flag;
            state.next_salt += 1;
            // Start at the next whole millisecond after now: event times are cut to the
            // millisecond, so a start inside this millisecond would stamp the first event
            // before this call, and with Athena put it in a chunk already flushed (and read:
            // exported chunks never change), where export never sees it.
            let start = now
                .saturating_sub(now.rem_euclid(series::MILLI))
                .saturating_add(series::MILLI);
            state
                .series
                .push(Series::live(salt, events_per_second, start));
        }
        Ok(())
    }

    /// Removes every event that arrived after the cluster started: live events generated so
    /// far and inserted ones (including oversized events and late chunks). The backlog stays;
    /// the live generator goes on from now at the same rate, with new ids.
    ///
    /// # Errors
    /// [`SimError::TooManySeries`] after tens of thousands of restarts of the generator.
    pub fn clear_live(&self) -> Result<(), SimError> {
        let rate = {
            let mut state = self.inner.write();
            let gone: Vec<u64> = state
                .series
                .iter()
                .filter(|s| s.live)
                .map(|s| s.salt)
                .collect();
            for salt in gone {
                self.inner.cache.forget(salt);
            }
            state.series.retain(|s| !s.live);
            state.inserted.clear();
            state.uids.clear();
            state.by_sid.clear();
            state.by_chunk.clear();
            state.live_rate
        };
        self.set_live_rate(rate)
    }

    /// Bytes held by the cache of generated events.
    pub fn cache_bytes(&self) -> usize {
        self.inner.cache.bytes()
    }

    /// Inserts one event whose JSON is at least `size_bytes` long (a `db.session.query` with a
    /// huge query), visible per the backend from now. It is served as-is, never trimmed.
    ///
    /// # Errors
    /// [`SimError::InvalidEvent`] when `time` is out of range.
    pub(crate) fn insert_oversized(
        &self,
        time: OffsetDateTime,
        size_bytes: usize,
    ) -> Result<StoredEventId, SimError> {
        let t = nanos_of(time, "time")?;
        let mut state = self.inner.write();
        let idx = state.next_fault_idx;
        state.next_fault_idx += 1;
        let uid = generate::uid(self.inner.rules.seed, FAULT_SALT, idx);
        let mut o = crate::json::JsonObject::with_capacity(size_bytes + 512);
        o.str("cluster_name", &self.inner.cluster)
            .str("code", "TDB02I")
            .int("ei", 0)
            .str("event", "db.session.query")
            .str("time", &crate::json::rfc3339_nano(t))
            .str("uid", &uid.to_string())
            .str("user", "bulk-loader")
            .str("db_service", "prod-postgres")
            .str("db_protocol", "postgres")
            .bool("success", true);
        let head = o.finish();
        let padding = size_bytes.saturating_sub(head.len()).max(1);
        let mut json = head;
        json.pop();
        json.push_str(",\"db_query\":\"INSERT INTO blobs VALUES ('");
        json.extend(std::iter::repeat_n('x', padding));
        json.push_str("')\"}");
        let parsed = ParsedEvent::parse(&json)?;
        self.inner
            .insert_parsed(&mut state, parsed, &json, None, None)
    }

    /// Adds a chunk of `count` generated events dated `date`, visible at once in a chunk of
    /// its own (with Athena) as if a batch for a past date had arrived late.
    ///
    /// # Errors
    /// [`SimError::InvalidEvent`] when the date is out of range.
    pub(crate) fn late_chunk(
        &self,
        date: Date,
        count: usize,
    ) -> Result<Vec<StoredEventId>, SimError> {
        let start = nanos_of(date.midnight().assume_utc(), "date")?;
        let now = self.inner.clock.now_nanos();
        let day_span = 86_400 * NANOS_PER_SEC;
        let span = day_span.min(now.saturating_sub(start).max(1));
        let seed = self.inner.rules.seed;
        let mut state = self.inner.write();
        let seq = state.next_chunk_seq;
        state.next_chunk_seq += 1;
        let mut out = Vec::with_capacity(count);
        for k in 0..count {
            let idx = state.next_fault_idx;
            state.next_fault_idx += 1;
            let time = start + (span / (count as i64 + 1)) * (k as i64 + 1);
            // Whole milliseconds, as Teleport stamps events.
            let time = time - time.rem_euclid(1_000_000);
            let generated = generate::generate(&GenInput {
                seed,
                salt: FAULT_SALT,
                idx,
                time,
                group_start: time,
                cluster: &self.inner.cluster,
            });
            let parsed = ParsedEvent::parse(&generated.json)?;
            out.push(self.inner.insert_parsed(
                &mut state,
                parsed,
                &generated.json,
                Some(now),
                Some(seq),
            )?);
        }
        Ok(out)
    }
}

impl fmt::Debug for EventStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.read();
        f.debug_struct("EventStore")
            .field("backend", &self.inner.rules.backend)
            .field("series", &state.series.len())
            .field("inserted", &state.inserted.len())
            .field("live_rate", &state.live_rate)
            .finish_non_exhaustive()
    }
}

/// The fields the store needs from an inserted event's JSON.
struct ParsedEvent {
    time: Nanos,
    uid: Uid,
    event_type: String,
    ei: i64,
    sid: Option<String>,
}

impl ParsedEvent {
    fn parse(json: &str) -> Result<ParsedEvent, SimError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| SimError::InvalidEvent {
                field: "(object)",
                reason: format!("is not JSON: {e}"),
            })?;
        let object = value.as_object().ok_or_else(|| SimError::InvalidEvent {
            field: "(object)",
            reason: "is JSON but not an object".into(),
        })?;
        let text = |field: &'static str| -> Result<&str, SimError> {
            object
                .get(field)
                .ok_or_else(|| SimError::InvalidEvent {
                    field,
                    reason: "is missing".into(),
                })?
                .as_str()
                .ok_or_else(|| SimError::InvalidEvent {
                    field,
                    reason: "is not a string".into(),
                })
        };
        let time_text = text("time")?;
        let time =
            OffsetDateTime::parse(time_text, &Rfc3339).map_err(|e| SimError::InvalidEvent {
                field: "time",
                reason: format!("{time_text:?} is not RFC 3339: {e}"),
            })?;
        let time = nanos_of(time, "time")?;
        let uid_text = text("uid")?;
        let uid = Uid::parse(uid_text).ok_or_else(|| SimError::InvalidEvent {
            field: "uid",
            reason: format!("{uid_text:?} is not a UUID"),
        })?;
        let event_type = text("event")?.to_string();
        let ei = match object.get("ei") {
            None => 0,
            Some(v) => v.as_i64().ok_or_else(|| SimError::InvalidEvent {
                field: "ei",
                reason: format!("{v} is not an integer"),
            })?,
        };
        let sid = object
            .get("sid")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        Ok(ParsedEvent {
            time,
            uid,
            event_type,
            ei,
            sid,
        })
    }
}

impl StoreInner {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> Nanos {
        self.clock.now_nanos()
    }

    /// Stores a parsed event. `own_chunk` puts it in that chunk of its own, visible at
    /// `visible_at` (late chunks).
    fn insert_parsed(
        &self,
        state: &mut State,
        parsed: ParsedEvent,
        json: &str,
        visible_at: Option<Nanos>,
        own_chunk: Option<u64>,
    ) -> Result<StoredEventId, SimError> {
        if state.uids.contains_key(&parsed.uid) {
            return Err(SimError::DuplicateEvent {
                uid: parsed.uid.to_string(),
            });
        }
        let now = self.clock.now_nanos();
        let (visible_at, chunk) = match own_chunk {
            Some(seq) => (
                visible_at.unwrap_or(now),
                ChunkKey::Own {
                    seq,
                    day: day_of(parsed.time),
                },
            ),
            None => {
                let seq = state.next_chunk_seq;
                let placed = self.rules.inserted(parsed.time, now, visible_at, seq);
                if matches!(placed.1, ChunkKey::Own { .. }) {
                    state.next_chunk_seq += 1;
                }
                placed
            }
        };
        let body = Arc::new(EventBody::encode(
            &parsed.event_type,
            &parsed.uid,
            parsed.ei,
            json,
        )?);
        let event = Arc::new(Inserted {
            time: parsed.time,
            uid: parsed.uid,
            visible_at,
            sid: parsed.sid,
            body,
        });
        state
            .inserted
            .insert((event.time, event.uid), event.clone());
        state.uids.insert(event.uid, event.time);
        if let Some(sid) = &event.sid {
            state
                .by_sid
                .entry(sid.clone())
                .or_default()
                .push(event.clone());
        }
        state.by_chunk.entry(chunk).or_default().push(event.clone());
        Ok(StoredEventId {
            uid: event.uid.to_string(),
            time: from_nanos(event.time),
            visible_at: from_nanos(event.visible_at),
        })
    }

    /// Every hit in `[t1, t2]` in (time, id) order, optionally only the visible ones.
    fn hits_sorted(&self, t1: Nanos, t2: Nanos, visible_only: bool) -> Vec<Hit> {
        let state = self.read();
        let now = self.clock.now_nanos();
        let mut hits = state.hits(self.rules.seed, t1, t2, now);
        if visible_only {
            hits.retain(|h| self.visible_at(&state, h) <= now);
        }
        hits.sort_by_key(|h| (h.time, h.uid));
        hits
    }

    /// When a hit becomes visible to search.
    pub(crate) fn visible_at(&self, state: &State, hit: &Hit) -> Nanos {
        match &hit.src {
            Src::Generated { series, idx } => {
                self.rules
                    .generated_visible_at(state.series[*series].salt, *idx, hit.time)
            }
            Src::Inserted(ev) => ev.visible_at,
        }
    }

    /// The type of a hit, without building it.
    pub(crate) fn event_type<'a>(&self, state: &State, hit: &'a Hit) -> std::borrow::Cow<'a, str> {
        match &hit.src {
            Src::Generated { series, idx } => {
                generate::placement(self.rules.seed, state.series[*series].salt, *idx)
                    .event_type()
                    .into()
            }
            Src::Inserted(ev) => ev.body.event_type.as_ref().into(),
        }
    }

    /// The servable form of a hit (generated and cached on first use).
    pub(crate) fn body(&self, state: &State, hit: &Hit) -> Result<Arc<EventBody>, SimError> {
        match &hit.src {
            Src::Inserted(ev) => Ok(ev.body.clone()),
            Src::Generated { series, idx } => {
                let series = &state.series[*series];
                let block_no = idx / BLOCK;
                let block = match self.cache.get(series.salt, block_no) {
                    Some(block) => block,
                    None => {
                        let block = Arc::new(self.generate_block(series, block_no)?);
                        self.cache.put(series.salt, block_no, block.clone());
                        block
                    }
                };
                let offset = (idx % BLOCK) as usize;
                block.get(offset).cloned().ok_or_else(|| SimError::Config {
                    field: "backlog",
                    reason: format!("index {idx} is outside the generated block"),
                })
            }
        }
    }

    /// Event `idx` of `series`: its time and generated JSON.
    pub(crate) fn generate_at(&self, series: &Series, idx: u64) -> (Nanos, generate::Generated) {
        let seed = self.rules.seed;
        let time = series.time(seed, idx);
        let generated = generate::generate(&GenInput {
            seed,
            salt: series.salt,
            idx,
            time,
            group_start: series.group_start(seed, idx),
            cluster: &self.cluster,
        });
        (time, generated)
    }

    fn generate_block(
        &self,
        series: &Series,
        block_no: u64,
    ) -> Result<Vec<Arc<EventBody>>, SimError> {
        let seed = self.rules.seed;
        let first = block_no * BLOCK;
        (first..first + BLOCK)
            .map(|idx| {
                let (_, generated) = self.generate_at(series, idx);
                let event_type = generate::placement(seed, series.salt, idx).event_type();
                let uid = generate::uid(seed, series.salt, idx);
                EventBody::encode(event_type, &uid, generated.ei, &generated.json).map(Arc::new)
            })
            .collect()
    }
}

impl State {
    /// Every existing event with time in `[a, b]`, unordered.
    pub(crate) fn hits(&self, seed: u64, a: Nanos, b: Nanos, now: Nanos) -> Vec<Hit> {
        let mut out = Vec::new();
        if b < a {
            return out;
        }
        for (si, s) in self.series.iter().enumerate() {
            for idx in s.indices(seed, a, b, now) {
                out.push(Hit {
                    time: s.time(seed, idx),
                    uid: generate::uid(seed, s.salt, idx),
                    src: Src::Generated { series: si, idx },
                });
            }
        }
        let lo = (a, Uid([0; 16]));
        let hi = (b, Uid([0xff; 16]));
        for ev in self.inserted.range(lo..=hi).map(|(_, ev)| ev) {
            out.push(Hit {
                time: ev.time,
                uid: ev.uid,
                src: Src::Inserted(ev.clone()),
            });
        }
        out
    }

    /// The time of the existing event `uid` if its time is in `[a, b]` (a scan of the
    /// generated events, as Teleport's file backend rescans its window).
    pub(crate) fn find_uid(
        &self,
        seed: u64,
        uid: &Uid,
        a: Nanos,
        b: Nanos,
        now: Nanos,
    ) -> Option<Nanos> {
        if let Some(&t) = self.uids.get(uid) {
            return (a..=b).contains(&t).then_some(t);
        }
        self.series.iter().find_map(|s| {
            s.indices(seed, a, b, now)
                .find(|&idx| generate::uid(seed, s.salt, idx) == *uid)
                .map(|idx| s.time(seed, idx))
        })
    }

    /// Time of the first existing event after `t`.
    pub(crate) fn next_after(&self, seed: u64, t: Nanos, now: Nanos) -> Option<Nanos> {
        let generated = self
            .series
            .iter()
            .filter_map(|s| s.next_after(seed, t, now));
        let inserted = t.checked_add(1).and_then(|from| {
            self.inserted
                .range((from, Uid([0; 16]))..)
                .next()
                .map(|(k, _)| k.0)
        });
        generated.chain(inserted).min()
    }

    /// Time of the last existing event before `t`.
    pub(crate) fn prev_before(&self, seed: u64, t: Nanos, now: Nanos) -> Option<Nanos> {
        let generated = self
            .series
            .iter()
            .filter_map(|s| s.prev_before(seed, t, now));
        let inserted = self
            .inserted
            .range(..(t, Uid([0; 16])))
            .next_back()
            .map(|(k, _)| k.0);
        generated.chain(inserted).max()
    }
}
