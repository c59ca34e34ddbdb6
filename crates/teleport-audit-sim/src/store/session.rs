//! Session recordings (`StreamUnstructuredSessionEvents`): the events of one `sid`.

use super::body::ServedEvent;
use super::{Hit, Src, StoreInner};
use crate::SimError;
use crate::generate;
use crate::uid::Uid;

impl StoreInner {
    /// The events of session `sid` with `ei >= start_index`, in `ei` order, or `None` when the
    /// store holds no event of that session.
    pub(crate) fn session(
        &self,
        sid: &str,
        start_index: i64,
    ) -> Result<Option<Vec<ServedEvent>>, SimError> {
        let state = self.read();
        let now = self.now();
        let seed = self.rules.seed;
        let mut hits = Vec::new();
        let generated = Uid::parse(sid)
            .and_then(|uid| generate::decode_sid(seed, &uid))
            .and_then(|(salt, group)| {
                let si = state.series.iter().position(|s| s.salt == salt)?;
                Some((si, salt, group))
            });
        if let Some((si, salt, group)) = generated {
            let series = &state.series[si];
            let end = series.end(seed, now);
            for idx in generate::session_members(seed, salt, group) {
                if idx < end {
                    hits.push(Hit {
                        time: series.time(seed, idx),
                        uid: generate::uid(seed, salt, idx),
                        src: Src::Generated { series: si, idx },
                    });
                }
            }
        }
        for ev in state.by_sid.get(sid).into_iter().flatten() {
            hits.push(Hit {
                time: ev.time,
                uid: ev.uid,
                src: Src::Inserted(ev.clone()),
            });
        }
        if hits.is_empty() {
            return Ok(None);
        }
        let mut events = hits
            .iter()
            .map(|hit| {
                Ok(ServedEvent {
                    time: hit.time,
                    body: self.body(&state, hit)?,
                })
            })
            .collect::<Result<Vec<_>, SimError>>()?;
        events.retain(|e| e.body.ei >= start_index);
        events.sort_by_key(|e| (e.body.ei, e.time));
        Ok(Some(events))
    }
}
