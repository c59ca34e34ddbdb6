//! One page of search results: the request, the call, and the events decoded from it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use teleport_audit_proto::auditlog::v1::{EventUnstructured, GetUnstructuredEventsRequest, Order};
use teleport_audit_proto::{RawStruct, SearchClient, SearchPageEvent};
use teleport_audit_types::{AuditEvent, EventError};
use time::OffsetDateTime;
use tonic::transport::Channel;

use crate::error::Error;
use crate::rpc;
use crate::rpc_name::Rpc;

/// Oldest first. Despite the enum's names, Teleport's server casts the wire value to its own
/// `types.EventOrder`, where 0 is ascending and 1 descending, and its Go client sends
/// `auditlogpb.Order(types.EventOrderAscending)`, i.e. 0. Measured on a real cluster
/// (`docs/real-teleport-findings.md`, difference 1): `ORDER_ASCENDING` (1) returns newest first.
const ASCENDING_ON_THE_WIRE: i32 = Order::DescendingUnspecified as i32;
/// The other value: newest first on Teleport's server.
const DESCENDING_ON_THE_WIRE: i32 = Order::Ascending as i32;

/// What to ask the server for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PageRequest {
    pub(crate) from: OffsetDateTime,
    pub(crate) to: OffsetDateTime,
    pub(crate) key: String,
    pub(crate) limit: u32,
    pub(crate) event_types: Arc<[String]>,
    /// The largest response accepted for this call.
    pub(crate) max_receive: usize,
    pub(crate) timeout: Duration,
    /// Newest first (the request for the server's time), instead of the stream's oldest first.
    pub(crate) newest_first: bool,
}

impl PageRequest {
    pub(crate) fn to_wire(&self) -> GetUnstructuredEventsRequest {
        GetUnstructuredEventsRequest {
            namespace: "default".to_owned(),
            start_date: Some(timestamp(self.from)),
            end_date: Some(timestamp(self.to)),
            event_types: self.event_types.to_vec(),
            limit: i32::try_from(self.limit).unwrap_or(i32::MAX),
            start_key: self.key.clone(),
            order: if self.newest_first {
                DESCENDING_ON_THE_WIRE
            } else {
                ASCENDING_ON_THE_WIRE
            },
        }
    }
}

/// A page as the stream consumes it.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) items: Vec<PageItem>,
    /// Teleport's key for the next page; empty when the search is complete.
    pub(crate) last_key: String,
    /// Whether the page was full (as many events as asked for).
    pub(crate) full: bool,
}

/// One event of a page, with what the stream needs to place it.
#[derive(Debug)]
pub(crate) struct PageItem {
    pub(crate) id: String,
    pub(crate) time: OffsetDateTime,
    pub(crate) content: Content,
}

/// What arrived for one event.
#[derive(Debug)]
pub(crate) enum Content {
    /// The event's encoded Struct (a slice of the received page), not decoded yet: a search
    /// page's event whose id and time the envelope gives is decoded only when it is delivered
    /// ([`super::delivery::output`]), on the consumer's task, right before the caller handles
    /// it. So a duplicate is never decoded, and the event's memory is allocated and freed on
    /// one thread while it is in the cache.
    Encoded(Bytes),
    Event(AuditEvent),
    Malformed(EventError),
    Oversized {
        size: usize,
        limit: usize,
    },
}

impl Content {
    /// The content of a decoded payload.
    pub(crate) fn from_decoded(decoded: Result<AuditEvent, EventError>) -> Self {
        match decoded {
            Ok(parsed) => Self::Event(parsed),
            Err(error) => Self::Malformed(error),
        }
    }
}

/// Fetches one page (off the consumer's task: this runs spawned).
///
/// The page is read as a [`teleport_audit_proto::SearchPage`]: each event's Struct bytes are a
/// slice of the received message, turned into JSON text without being copied first, when the
/// event is delivered ([`Content::Encoded`]).
pub(crate) async fn fetch(channel: Channel, request: PageRequest) -> Result<Page, Error> {
    let mut client = SearchClient::new(channel).max_decoding_message_size(request.max_receive);
    let response = rpc::with_timeout(
        Rpc::GetUnstructuredEvents,
        request.timeout,
        client.get_unstructured_events(request.to_wire()),
    )
    .await?;
    let items: Vec<PageItem> = response
        .items
        .into_iter()
        .map(|event| PageItem::from_search(event, request.from))
        .collect();
    let full = items.len() >= request.limit as usize;
    Ok(Page {
        items,
        last_key: response.last_key,
        full,
    })
}

impl PageItem {
    /// Decodes an event of an export chunk (see [`Self::decode`]).
    pub(crate) fn from_wire(event: EventUnstructured, fallback_time: OffsetDateTime) -> Self {
        let payload = event
            .unstructured
            .as_ref()
            .map(RawStruct::as_bytes)
            .unwrap_or_default();
        Self::decode(event.id, event.time, payload, fallback_time)
    }

    /// An event of a search page: its payload left [`Content::Encoded`] when the envelope
    /// gives its id and time (what the stream needs to place it), else decoded now (see
    /// [`Self::decode`]).
    pub(crate) fn from_search(event: SearchPageEvent, fallback_time: OffsetDateTime) -> Self {
        let SearchPageEvent {
            id,
            time,
            unstructured,
        } = event;
        match time.and_then(from_timestamp) {
            Some(time) if !id.is_empty() => Self {
                id,
                time,
                content: Content::Encoded(unstructured),
            },
            _ => Self::decode(id, time, &unstructured, fallback_time),
        }
    }

    /// Decodes the payload; the time and id come from the envelope, else from the JSON.
    fn decode(
        id: String,
        time: Option<prost_types::Timestamp>,
        payload: &[u8],
        fallback_time: OffsetDateTime,
    ) -> Self {
        let decoded = AuditEvent::from_struct_bytes(payload);
        let envelope_time = time.and_then(from_timestamp);
        let time = envelope_time
            .or_else(|| decoded.as_ref().ok().map(AuditEvent::time))
            .unwrap_or(fallback_time);
        let id = if !id.is_empty() {
            id
        } else {
            match &decoded {
                Ok(parsed) => parsed
                    .uid()
                    .map(str::to_owned)
                    .unwrap_or_else(|| content_id(parsed.as_json().as_bytes())),
                Err(_) => content_id(payload),
            }
        };
        let content = Content::from_decoded(decoded);
        Self { id, time, content }
    }
}

/// Teleport's rule for events without a uid: the id is the SHA-256 of the payload.
fn content_id(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex_lower(&sha2::Sha256::digest(bytes))
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}

pub(crate) fn timestamp(time: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.unix_timestamp(),
        nanos: i32::try_from(time.nanosecond()).unwrap_or(0),
    }
}

pub(crate) fn from_timestamp(ts: prost_types::Timestamp) -> Option<OffsetDateTime> {
    let nanos = i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn wire_event(json: &str, id: &str, time: Option<OffsetDateTime>) -> EventUnstructured {
        EventUnstructured {
            r#type: "user.login".into(),
            id: id.into(),
            time: time.map(timestamp),
            index: 0,
            unstructured: Some(RawStruct::from_encoded(
                teleport_audit_types::wire::json_to_struct(json).unwrap(),
            )),
        }
    }

    const LOGIN: &str = r#"{"event":"user.login","code":"T1000I","time":"2025-12-02T07:14:36.5Z","uid":"u-1","user":"alice"}"#;

    #[test]
    fn envelope_time_and_id_win() {
        let t = datetime!(2025-12-02 07:14:36.123456789 UTC);
        let item = PageItem::from_wire(
            wire_event(LOGIN, "env-id", Some(t)),
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(item.id, "env-id");
        assert_eq!(item.time, t);
        match item.content {
            Content::Event(event) => assert_eq!(event.user(), Some("alice")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn falls_back_to_the_json_then_to_a_content_hash() {
        let item = PageItem::from_wire(wire_event(LOGIN, "", None), OffsetDateTime::UNIX_EPOCH);
        assert_eq!(item.id, "u-1");
        assert_eq!(item.time, datetime!(2025-12-02 07:14:36.5 UTC));

        let no_uid = r#"{"event":"user.login","time":"2025-12-02T07:14:36Z"}"#;
        let item = PageItem::from_wire(wire_event(no_uid, "", None), OffsetDateTime::UNIX_EPOCH);
        assert_eq!(item.id.len(), 64);
        assert!(item.id.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn a_search_page_event_decodes_like_the_generated_message() {
        use prost::Message as _;
        let t = datetime!(2025-12-02 07:14:36.123456789 UTC);
        for event in [
            wire_event(LOGIN, "env-id", Some(t)),
            wire_event(LOGIN, "", None),
            EventUnstructured::default(),
        ] {
            let page = teleport_audit_proto::auditlog::v1::EventsUnstructured {
                items: vec![event.clone()],
                last_key: String::new(),
            };
            let wire = bytes::Bytes::from(page.encode_to_vec());
            let mut read = teleport_audit_proto::SearchPage::decode(wire).unwrap();
            let fallback = datetime!(2025-01-01 0:00 UTC);
            let ours = PageItem::from_search(read.items.remove(0), fallback);
            let envelope_complete = !event.id.is_empty() && event.time.is_some();
            let generated = PageItem::from_wire(event, fallback);
            assert_eq!((&ours.id, ours.time), (&generated.id, generated.time));
            // Left encoded exactly when the envelope places the event; decoded on delivery.
            let ours = match ours.content {
                Content::Encoded(payload) => {
                    assert!(envelope_complete);
                    Content::from_decoded(AuditEvent::from_struct_bytes(&payload))
                }
                decoded => {
                    assert!(!envelope_complete);
                    decoded
                }
            };
            match (ours, generated.content) {
                (Content::Event(a), Content::Event(b)) => assert_eq!(a.as_json(), b.as_json()),
                (Content::Malformed(a), Content::Malformed(b)) => {
                    assert_eq!(a.to_string(), b.to_string());
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_bad_payload_is_malformed_not_fatal() {
        let fallback = datetime!(2025-01-01 0:00 UTC);
        let event = EventUnstructured {
            id: "bad".into(),
            unstructured: Some(RawStruct::from_encoded(vec![0x0a, 0xff, 0xff])),
            ..Default::default()
        };
        let item = PageItem::from_wire(event, fallback);
        assert_eq!(item.id, "bad");
        assert_eq!(item.time, fallback);
        assert!(matches!(item.content, Content::Malformed(_)));
    }

    #[test]
    fn timestamps_convert_both_ways() {
        let t = datetime!(2025-12-02 07:14:36.000000001 UTC);
        assert_eq!(from_timestamp(timestamp(t)), Some(t));
        assert_eq!(
            from_timestamp(prost_types::Timestamp {
                seconds: i64::MAX,
                nanos: 0
            }),
            None
        );
    }

    #[test]
    fn the_request_is_ascending_with_our_range() {
        let request = PageRequest {
            from: datetime!(2025-12-02 07:00 UTC),
            to: datetime!(2025-12-02 08:00 UTC),
            key: "k".into(),
            limit: 500,
            event_types: Arc::from(vec!["user.login".to_owned()]),
            max_receive: 4 << 20,
            timeout: Duration::from_secs(1),
            newest_first: false,
        };
        let wire = request.to_wire();
        // 0 on the wire is what Teleport's server reads as oldest first.
        assert_eq!(wire.order, 0);
        assert_eq!(wire.limit, 500);
        assert_eq!(wire.start_key, "k");
        assert_eq!(wire.event_types, vec!["user.login".to_owned()]);
        // The request for the server's time asks for the newest first: 1 on the wire.
        let newest_first = PageRequest {
            newest_first: true,
            ..request.clone()
        };
        assert_eq!(newest_first.to_wire().order, 1);
        assert_eq!(
            wire.start_date.unwrap().seconds,
            request.from.unix_timestamp()
        );
    }
}
