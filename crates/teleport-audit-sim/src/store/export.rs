//! Export (`GetEventExportChunks`, `ExportUnstructuredEvents`): Athena's immutable chunks per
//! UTC date.

use std::collections::BTreeSet;

use super::body::ServedEvent;
use super::cursor::{chunk_name, parse_chunk};
use super::model::ChunkKey;
use super::{BACKLOG_SALT, Hit, Src, StoreInner};
use crate::SimError;
use crate::det::hash_words;
use crate::json::{NANOS_PER_SEC, Nanos};

const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SEC;
const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SEC;

impl StoreInner {
    /// Names of the chunks of UTC day `day` that are flushed now, in no particular order.
    pub(crate) fn chunks(&self, day: i32) -> Vec<String> {
        let state = self.read();
        let now = self.now();
        let seed = self.rules.seed;
        let origin = self.rules.origin;
        let day_start = i64::from(day).saturating_mul(NANOS_PER_DAY);
        let day_end = day_start.saturating_add(NANOS_PER_DAY - 1);
        let mut found = BTreeSet::new();

        // History: minutes of the backlog before the cluster started.
        if let Some(backlog) = state.series.iter().find(|s| s.salt == BACKLOG_SALT) {
            let history_end = day_end.min(origin.saturating_sub(1));
            let mut t = day_start;
            while t <= history_end {
                let minute_end = t.saturating_add(NANOS_PER_MINUTE - 1).min(history_end);
                let range = backlog.indices(seed, t, minute_end, now);
                if range.is_empty() {
                    // Jump to the minute of the next event.
                    match backlog.next_after(seed, minute_end, now) {
                        Some(next) if next <= history_end => {
                            t = next.div_euclid(NANOS_PER_MINUTE) * NANOS_PER_MINUTE;
                            continue;
                        }
                        _ => break,
                    }
                }
                found.insert(ChunkKey::History {
                    minute: t.div_euclid(NANOS_PER_MINUTE),
                });
                t = t.saturating_add(NANOS_PER_MINUTE);
            }
        }

        // Flushes since the cluster started that wrote generated events of this day.
        let last = self.rules.last_flush(now);
        let first = self.rules.flush_index(day_start.max(origin));
        let mut j = first;
        while j <= last.min(self.rules.flush_index(day_end)) {
            let lo = self.rules.flush_time(j - 1).max(day_start).max(origin);
            let hi = (self.rules.flush_time(j) - 1).min(day_end);
            if state
                .series
                .iter()
                .any(|s| !s.indices(seed, lo, hi, now).is_empty())
            {
                found.insert(ChunkKey::Flush { j, day });
                j += 1;
            } else {
                // Jump to the flush of the next generated event.
                match state
                    .series
                    .iter()
                    .filter_map(|s| s.next_after(seed, hi, now))
                    .min()
                {
                    Some(next) if next <= day_end => j = self.rules.flush_index(next),
                    _ => break,
                }
            }
        }

        // Inserted events' chunks (flushed ones only).
        for (chunk, events) in state.by_chunk.iter() {
            if chunk.day() == day && events.iter().all(|e| e.visible_at <= now) {
                found.insert(*chunk);
            }
        }

        let mut names: Vec<(u64, String)> = found
            .iter()
            .map(|c| {
                let name = chunk_name(seed, c);
                (
                    hash_words(&[seed, name.len() as u64, c.day() as u64, hash_name(&name)]),
                    name,
                )
            })
            .collect();
        names.sort();
        names.into_iter().map(|(_, n)| n).collect()
    }

    /// The events of chunk `name` of day `day`, in the chunk's own order (not time order), or
    /// `None` when no such chunk is flushed.
    pub(crate) fn chunk_events(
        &self,
        day: i32,
        name: &str,
    ) -> Result<Option<Vec<ServedEvent>>, SimError> {
        let Some(chunk) = parse_chunk(self.rules.seed, name) else {
            return Ok(None);
        };
        if chunk.day() != day {
            return Ok(None);
        }
        let state = self.read();
        let now = self.now();
        let seed = self.rules.seed;
        let origin = self.rules.origin;
        let mut hits = Vec::new();
        let generated_window: Option<(Nanos, Nanos)> = match chunk {
            ChunkKey::History { minute } => {
                let lo = minute.saturating_mul(NANOS_PER_MINUTE);
                Some((lo, lo.saturating_add(NANOS_PER_MINUTE - 1).min(origin - 1)))
            }
            ChunkKey::Flush { j, day } => {
                if self.rules.flush_time(j) > now {
                    return Ok(None);
                }
                let day_start = i64::from(day) * NANOS_PER_DAY;
                let lo = self.rules.flush_time(j - 1).max(origin).max(day_start);
                let hi = (self.rules.flush_time(j) - 1).min(day_start + NANOS_PER_DAY - 1);
                Some((lo, hi))
            }
            ChunkKey::Own { .. } => None,
        };
        if let Some((lo, hi)) = generated_window {
            let series = state
                .series
                .iter()
                .enumerate()
                .filter(|(_, s)| match chunk {
                    ChunkKey::History { .. } => s.salt == BACKLOG_SALT,
                    _ => true,
                });
            for (si, s) in series {
                for idx in s.indices(seed, lo, hi, now) {
                    hits.push(Hit {
                        time: s.time(seed, idx),
                        uid: crate::generate::uid(seed, s.salt, idx),
                        src: Src::Generated { series: si, idx },
                    });
                }
            }
        }
        if let Some(events) = state.by_chunk.get(&chunk) {
            if events.iter().any(|e| e.visible_at > now) {
                return Ok(None);
            }
            for ev in events {
                hits.push(Hit {
                    time: ev.time,
                    uid: ev.uid,
                    src: Src::Inserted(ev.clone()),
                });
            }
        }
        if hits.is_empty() {
            return Ok(None);
        }
        // A chunk is a file written in no particular order.
        hits.sort_by_key(|h| (h.uid.digest(), h.uid));
        hits.iter()
            .map(|hit| {
                Ok(ServedEvent {
                    time: hit.time,
                    body: self.body(&state, hit)?,
                })
            })
            .collect::<Result<Vec<_>, SimError>>()
            .map(Some)
    }
}

fn hash_name(name: &str) -> u64 {
    name.bytes()
        .fold(0u64, |h, b| crate::det::mix64(h ^ u64::from(b)))
}
