//! Search (`GetUnstructuredEvents`) over the store, with the backend's order, range
//! comparison, visibility and cursors.

use super::body::ServedEvent;
use super::cursor::encode_search;
use super::model::Position;
use super::{Hit, StoreInner};
use crate::SimError;
use crate::det::Draw;
use crate::json::{NANOS_PER_SEC, Nanos};
use crate::uid::Uid;

/// One search call, already validated (limit resolved).
#[derive(Debug, Clone)]
pub(crate) struct SearchQuery<'a> {
    pub(crate) start: Nanos,
    pub(crate) end: Nanos,
    /// Empty: every type.
    pub(crate) event_types: &'a [String],
    pub(crate) limit: usize,
    /// Where the page starts.
    pub(crate) resume: Resume<'a>,
    pub(crate) ascending: bool,
    /// JSON bytes per page; a page always holds at least one event.
    pub(crate) byte_cap: usize,
}

/// Where a search page starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resume<'a> {
    /// At the start of the range.
    Start,
    /// Strictly after this position (in the direction of the order).
    After(Position),
    /// After the event with this id, found in the range (the file backend's key); a key that
    /// is not there ends the query.
    AfterId(&'a str),
}

/// One page of results.
#[derive(Debug, Clone, Default)]
pub(crate) struct SearchPage {
    pub(crate) events: Vec<ServedEvent>,
    /// Empty when the query is over.
    pub(crate) last_key: String,
}

const PURPOSE_FINAL_KEY: u64 = 30;

impl StoreInner {
    /// Runs one search call.
    ///
    /// Walks the range one second at a time in the order's direction (skipping empty seconds),
    /// sorts each second by the backend's position, and keeps events that are past the
    /// cursor, visible now and of a wanted type, until the limit or the byte cap. A page that
    /// stops early carries the position of its last event as `last_key`; so does a full page,
    /// and, with the configured probability, a final short one (as DynamoDB does), so clients
    /// must accept an empty page with an empty key.
    pub(crate) fn search(&self, q: &SearchQuery<'_>) -> Result<SearchPage, SimError> {
        let state = self.read();
        let now = self.now();
        let seed = self.rules.seed;
        let Some((lo, hi)) = self.rules.range_bounds(q.start, q.end) else {
            return Ok(SearchPage::default());
        };
        let cursor = match q.resume {
            Resume::Start => None,
            Resume::After(pos) => Some(pos),
            Resume::AfterId(key) => {
                let found = Uid::parse(key)
                    .and_then(|uid| state.find_uid(seed, &uid, lo, hi, now).map(|t| (t, uid)));
                match found {
                    Some((t, uid)) => Some(self.rules.position(t, uid)),
                    None => return Ok(SearchPage::default()),
                }
            }
        };
        let mut second = if q.ascending {
            lo.div_euclid(NANOS_PER_SEC)
        } else {
            hi.div_euclid(NANOS_PER_SEC)
        };
        if let Some(cursor) = &cursor {
            second = if q.ascending {
                second.max(cursor.second())
            } else {
                second.min(cursor.second())
            };
        }

        let mut events = Vec::new();
        let mut bytes = 0usize;
        let mut last: Option<(Position, i64)> = None;
        let mut stopped = false;
        'windows: loop {
            let window_start = second.saturating_mul(NANOS_PER_SEC);
            let window_end = window_start.saturating_add(NANOS_PER_SEC - 1);
            let (a, b) = (lo.max(window_start), hi.min(window_end));
            if a > b {
                break;
            }
            let mut hits: Vec<(Position, Hit)> = state
                .hits(seed, a, b, now)
                .into_iter()
                .map(|h| (self.rules.position(h.time, h.uid), h))
                .collect();
            hits.sort_by_key(|x| x.0);
            if !q.ascending {
                hits.reverse();
            }
            for (pos, hit) in hits {
                if let Some(cursor) = &cursor {
                    let past = if q.ascending {
                        pos > *cursor
                    } else {
                        pos < *cursor
                    };
                    if !past {
                        continue;
                    }
                }
                if self.visible_at(&state, &hit) > now {
                    continue;
                }
                if !q.event_types.is_empty() {
                    let ty = self.event_type(&state, &hit);
                    if !q.event_types.iter().any(|t| *t == *ty) {
                        continue;
                    }
                }
                let body = self.body(&state, &hit)?;
                if !events.is_empty() && bytes.saturating_add(body.json_len) > q.byte_cap {
                    stopped = true;
                    break 'windows;
                }
                bytes = bytes.saturating_add(body.json_len);
                last = Some((pos, body.ei));
                events.push(ServedEvent {
                    time: hit.time,
                    body,
                });
                if events.len() >= q.limit {
                    stopped = true;
                    break 'windows;
                }
            }
            let next = if q.ascending {
                state.next_after(seed, window_end, now).filter(|t| *t <= hi)
            } else {
                state
                    .prev_before(seed, window_start, now)
                    .filter(|t| *t >= lo)
            };
            match next {
                Some(t) => second = t.div_euclid(NANOS_PER_SEC),
                None => break,
            }
        }

        // Only DynamoDB hands out a key on a final short page (its LastEvaluatedKey).
        let dynamo = matches!(self.rules.backend, crate::Backend::Dynamo { .. });
        let keep_key = stopped
            || dynamo && {
                let mut words = vec![
                    seed,
                    PURPOSE_FINAL_KEY,
                    lo as u64,
                    hi as u64,
                    u64::from(q.ascending),
                    q.limit as u64,
                ];
                if let Some(c) = &cursor {
                    words.extend(c.words());
                }
                Draw::new(&words).chance(self.final_page_key_probability)
            };
        let last_key = match last {
            Some((pos, ei)) if keep_key => encode_search(self.rules.backend, &pos, ei),
            _ => String::new(),
        };
        Ok(SearchPage { events, last_key })
    }
}
