//! What the caller receives for an event the stream accepted (both modes): the event itself
//! (decoded here if it arrived encoded), counted in the stats; or nothing: an event of a skipped
//! type is counted as filtered, a malformed or oversized one is reported as a [`Notice`].

use std::sync::Arc;

use teleport_audit_types::AuditEvent;

use super::notify::Notifier;
use super::page::{Content, PageItem};
use super::type_set::skips;
use crate::notice::Notice;

/// What the stream yields for `item`: the event, or nothing (`skip` is sorted:
/// [`crate::StreamConfig::skip_event_types`]).
pub(crate) fn output(item: PageItem, notifier: &Notifier, skip: &[String]) -> Option<AuditEvent> {
    let PageItem { id, time, content } = item;
    let notice = match content {
        Content::Encoded(payload) => {
            let content = Content::from_decoded(AuditEvent::from_struct_bytes(&payload));
            return output(PageItem { id, time, content }, notifier, skip);
        }
        Content::Event(event) if skips(skip, event.event_type()) => {
            notifier.stats().update(|s| s.events_filtered += 1);
            return None;
        }
        Content::Event(event) => {
            notifier.stats().update(|s| {
                s.events_delivered += 1;
                if s.newest_event_time.is_none_or(|newest| newest < time) {
                    s.newest_event_time = Some(time);
                }
            });
            return Some(event);
        }
        Content::Malformed(error) => Notice::MalformedEvent {
            id,
            time,
            error: Arc::new(error),
        },
        Content::Oversized { size, limit } => Notice::EventSkipped {
            id,
            time,
            size,
            limit,
        },
    };
    notifier.notice(0, notice);
    None
}
