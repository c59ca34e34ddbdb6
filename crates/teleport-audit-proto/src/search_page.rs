//! [`SearchPage`]: the answer of `GetUnstructuredEvents` decoded without copying the events, and
//! [`SearchClient`], the call that returns it.
//!
//! The generated [`AuditLogServiceClient`](crate::auditlog::v1::audit_log_service_client) decodes
//! a page into [`EventsUnstructured`](crate::auditlog::v1::EventsUnstructured), whose
//! [`RawStruct`](crate::RawStruct) payloads are re-assembled field by field into fresh buffers.
//! A reader that only turns each payload into JSON text needs none of that: here every event's
//! `google.protobuf.Struct` stays a slice of the received message ([`Bytes`], reference-counted,
//! no copy), and the envelope fields a reader does not use (`type`, `index`) are skipped.

mod quick;

use bytes::{Buf, BufMut, Bytes};
use prost::DecodeError;
use prost::encoding::{self, DecodeContext, WireType};
use tonic::codegen::{Body, GrpcMethod, StdError, http};

use crate::auditlog::v1::GetUnstructuredEventsRequest;

/// `teleport.auditlog.v1.EventsUnstructured` as a reader decodes it.
///
/// The same wire format as [`EventsUnstructured`](crate::auditlog::v1::EventsUnstructured): a
/// message field and a `bytes` field are both length-delimited, so each event's field 5 (a
/// `google.protobuf.Struct`) is kept as the bytes of its encoding. One difference, for an
/// encoding no Teleport server writes: a Struct split over two occurrences of field 5 would be
/// merged by protobuf's rules for messages, while here the last occurrence wins.
///
/// Each event in the usual encoding is read straight from the received bytes; anything else
/// is decoded by prost's generic rules, with the same result.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct SearchPage {
    /// The page's events, in the order asked for.
    pub items: Vec<SearchPageEvent>,
    /// Teleport's key for the next page; empty when the search is complete.
    pub last_key: String,
}

impl prost::Message for SearchPage {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        encoding::message::encode_repeated(1, &self.items, buf);
        if !self.last_key.is_empty() {
            encoding::string::encode(2, &self.last_key, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        const NAME: &str = "SearchPage";
        match tag {
            1 => {
                if wire_type == WireType::LengthDelimited
                    && let Some(event) = quick::read_event(buf)
                {
                    self.items.push(event);
                    return Ok(());
                }
                encoding::message::merge_repeated(wire_type, &mut self.items, buf, ctx).map_err(
                    |mut error| {
                        error.push(NAME, "items");
                        error
                    },
                )
            }
            2 => encoding::string::merge(wire_type, &mut self.last_key, buf, ctx).map_err(
                |mut error| {
                    error.push(NAME, "last_key");
                    error
                },
            ),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        encoding::message::encoded_len_repeated(1, &self.items)
            + if self.last_key.is_empty() {
                0
            } else {
                encoding::string::encoded_len(2, &self.last_key)
            }
    }

    fn clear(&mut self) {
        self.items.clear();
        self.last_key.clear();
    }
}

/// `teleport.auditlog.v1.EventUnstructured` as a reader decodes it: the id, the time and the
/// encoded payload (`type = 1` and `index = 4` are skipped).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SearchPageEvent {
    /// The event's unique id (`uid`), or empty.
    #[prost(string, tag = "2")]
    pub id: String,
    /// When the event happened.
    #[prost(message, optional, tag = "3")]
    pub time: Option<prost_types::Timestamp>,
    /// The event as an encoded `google.protobuf.Struct` (empty when absent), a slice of the
    /// received message.
    #[prost(bytes = "bytes", tag = "5")]
    pub unstructured: Bytes,
}

/// `AuditLogService/GetUnstructuredEvents`, answering with a [`SearchPage`].
#[derive(Debug, Clone)]
pub struct SearchClient<T> {
    inner: tonic::client::Grpc<T>,
}

impl<T> SearchClient<T>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<StdError>,
    T::ResponseBody: Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as Body>::Error: Into<StdError> + Send,
{
    /// A client calling over `inner` (a tonic channel).
    pub fn new(inner: T) -> Self {
        Self {
            inner: tonic::client::Grpc::new(inner),
        }
    }

    /// Limits the size of an answer (tonic's default: 4 MiB).
    #[must_use]
    pub fn max_decoding_message_size(mut self, limit: usize) -> Self {
        self.inner = self.inner.max_decoding_message_size(limit);
        self
    }

    /// Searches the audit log: one page per call.
    ///
    /// # Errors
    ///
    /// The call's gRPC status, as the generated client returns it.
    pub async fn get_unstructured_events(
        &mut self,
        request: impl tonic::IntoRequest<GetUnstructuredEventsRequest>,
    ) -> Result<tonic::Response<SearchPage>, tonic::Status> {
        self.inner
            .ready()
            .await
            .map_err(|e| tonic::Status::unknown(format!("Service was not ready: {}", e.into())))?;
        let codec = tonic_prost::ProstCodec::default();
        let path = http::uri::PathAndQuery::from_static(
            "/teleport.auditlog.v1.AuditLogService/GetUnstructuredEvents",
        );
        let mut request = request.into_request();
        request.extensions_mut().insert(GrpcMethod::new(
            "teleport.auditlog.v1.AuditLogService",
            "GetUnstructuredEvents",
        ));
        self.inner.unary(request, path, codec).await
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost::Message;

    use super::*;
    use crate::RawStruct;
    use crate::auditlog::v1::{EventUnstructured, EventsUnstructured};

    fn page() -> EventsUnstructured {
        let event = |id: &str, payload: Vec<u8>| EventUnstructured {
            r#type: "user.login".into(),
            id: id.into(),
            time: Some(prost_types::Timestamp {
                seconds: 1_764_660_876,
                nanos: 5,
            }),
            index: 7,
            unstructured: Some(RawStruct::from_encoded(payload)),
        };
        EventsUnstructured {
            items: vec![
                // {"a": "x"} encoded by hand, then an event without a payload.
                event(
                    "one",
                    vec![0x0a, 0x08, 0x0a, 0x01, b'a', 0x12, 0x03, 0x1a, 0x01, b'x'],
                ),
                EventUnstructured {
                    id: "two".into(),
                    ..Default::default()
                },
            ],
            last_key: "next".into(),
        }
    }

    #[test]
    fn reads_the_generated_messages_encoding() {
        let original = page();
        let decoded = SearchPage::decode(original.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded.last_key, "next");
        assert_eq!(decoded.items.len(), 2);
        assert_eq!(decoded.items[0].id, "one");
        assert_eq!(decoded.items[0].time, original.items[0].time);
        assert_eq!(
            decoded.items[0].unstructured.as_ref(),
            original.items[0].unstructured.as_ref().unwrap().as_bytes()
        );
        assert_eq!(decoded.items[1].id, "two");
        assert_eq!(decoded.items[1].time, None);
        assert!(decoded.items[1].unstructured.is_empty());
    }

    #[test]
    fn payloads_are_slices_of_the_received_message() {
        let wire = Bytes::from(page().encode_to_vec());
        let decoded = SearchPage::decode(wire.clone()).unwrap();
        let payload = decoded.items[0].unstructured.as_ptr() as usize;
        let range = wire.as_ptr() as usize..wire.as_ptr() as usize + wire.len();
        assert!(range.contains(&payload));
    }

    /// The page as prost's derived decoding reads it (what `SearchPage` was before its events
    /// were read directly): the oracle of the quick path.
    #[derive(Clone, PartialEq, prost::Message)]
    struct ReferencePage {
        #[prost(message, repeated, tag = "1")]
        items: Vec<SearchPageEvent>,
        #[prost(string, tag = "2")]
        last_key: String,
    }

    fn varint(mut value: u64, non_minimal: bool, out: &mut Vec<u8>) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        if non_minimal {
            out.extend([(value as u8) | 0x80, 0]);
        } else {
            out.push(value as u8);
        }
    }

    /// One protobuf field: number, wire type, payload (a varint's value or a length-delimited
    /// field's bytes), and whether its length is written with a superfluous byte.
    type WireField = (u64, u64, u64, Vec<u8>, bool);

    fn encode_fields(fields: &[WireField]) -> Vec<u8> {
        let mut out = Vec::new();
        for (number, wire, value, bytes, non_minimal) in fields {
            varint(number << 3 | wire, false, &mut out);
            match wire {
                0 => varint(*value, *non_minimal, &mut out),
                1 => out.extend(value.to_le_bytes()),
                5 => out.extend(&value.to_le_bytes()[..4]),
                _ => {
                    varint(bytes.len() as u64, *non_minimal, &mut out);
                    out.extend(bytes);
                }
            }
        }
        out
    }

    fn field(
        numbers: std::ops::Range<u64>,
        payload: BoxedStrategy<Vec<u8>>,
    ) -> BoxedStrategy<WireField> {
        (
            numbers,
            prop_oneof![6 => Just(2u64), 1 => Just(0u64), 1 => Just(1u64), 1 => Just(5u64)],
            prop_oneof![any::<u64>(), 0u64..300],
            payload,
            prop::bool::weighted(0.1),
        )
            .boxed()
    }

    fn timestamp() -> BoxedStrategy<Vec<u8>> {
        let part = prop_oneof![
            8 => (1u64..3, any::<u64>(), prop::bool::weighted(0.1))
                .prop_map(|(number, value, odd)| (number, 0, value, Vec::new(), odd)),
            1 => field(1..5, Just(vec![1, 2]).boxed()),
        ];
        prop::collection::vec(part, 0..4)
            .prop_map(|fields| encode_fields(&fields))
            .boxed()
    }

    fn event() -> BoxedStrategy<Vec<u8>> {
        let text = prop_oneof![
            8 => "[a-z0-9-]{0,40}".prop_map(String::into_bytes),
            1 => prop::collection::vec(any::<u8>(), 0..8),
        ];
        let usual = prop_oneof![
            (Just(1u64), text.clone()),
            (Just(2u64), text),
            (Just(3u64), timestamp()),
            (Just(5u64), prop::collection::vec(any::<u8>(), 0..64)),
        ]
        .prop_map(|(number, bytes)| (number, 2, 0, bytes, false));
        let part = prop_oneof![
            8 => usual,
            1 => (any::<u64>(), prop::bool::weighted(0.2))
                .prop_map(|(value, odd)| (4, 0, value, Vec::new(), odd)),
            1 => field(1..9, prop::collection::vec(any::<u8>(), 0..8).boxed()),
        ];
        prop::collection::vec(part, 0..7)
            .prop_map(|fields| encode_fields(&fields))
            .boxed()
    }

    proptest::proptest! {
        /// Pages of events in the usual encoding and in others (fields repeated, unknown or of
        /// the wrong wire type, non-minimal lengths, bad UTF-8, a timestamp with extra fields,
        /// truncated pages): read exactly as prost's derived decoding reads them, or refused
        /// the same way.
        #[test]
        fn pages_decode_as_prosts_derived_decoding_does(
            events in prop::collection::vec((event(), prop::bool::weighted(0.05)), 0..6),
            last_key in "[a-z]{0,5}",
            cut in prop::option::weighted(0.1, any::<prop::sample::Index>()),
        ) {
            let mut wire = Vec::new();
            for (body, non_minimal) in &events {
                wire.push(0x0a);
                varint(body.len() as u64, *non_minimal, &mut wire);
                wire.extend(body);
            }
            if !last_key.is_empty() {
                wire.push(0x12);
                varint(last_key.len() as u64, false, &mut wire);
                wire.extend(last_key.as_bytes());
            }
            if let Some(cut) = cut {
                wire.truncate(cut.index(wire.len() + 1));
            }
            let ours = SearchPage::decode(Bytes::from(wire.clone()));
            let reference = ReferencePage::decode(Bytes::from(wire));
            match (ours, reference) {
                (Ok(ours), Ok(reference)) => {
                    proptest::prop_assert_eq!(ours.items, reference.items);
                    proptest::prop_assert_eq!(ours.last_key, reference.last_key);
                }
                (Err(_), Err(_)) => {}
                (ours, reference) => {
                    proptest::prop_assert!(false, "ours {:?}, prost's {:?}", ours, reference);
                }
            }
        }
    }

    #[test]
    fn a_truncated_page_is_a_decode_error() {
        let wire = page().encode_to_vec();
        assert!(SearchPage::decode(&wire[..wire.len() - 8]).is_err());
    }
}
