//! [`SearchPage`]: the answer of `GetUnstructuredEvents` decoded without copying the events, and
//! [`SearchClient`], the call that returns it.
//!
//! The generated [`AuditLogServiceClient`](crate::auditlog::v1::audit_log_service_client) decodes
//! a page into [`EventsUnstructured`](crate::auditlog::v1::EventsUnstructured), whose
//! [`RawStruct`](crate::RawStruct) payloads are re-assembled field by field into fresh buffers.
//! A reader that only turns each payload into JSON text needs none of that: here every event's
//! `google.protobuf.Struct` stays a slice of the received message ([`Bytes`], reference-counted,
//! no copy), and the envelope fields a reader does not use (`type`, `index`) are skipped.

use bytes::Bytes;
use tonic::codegen::{Body, GrpcMethod, StdError, http};

use crate::auditlog::v1::GetUnstructuredEventsRequest;

/// `teleport.auditlog.v1.EventsUnstructured` as a reader decodes it.
///
/// The same wire format as [`EventsUnstructured`](crate::auditlog::v1::EventsUnstructured): a
/// message field and a `bytes` field are both length-delimited, so each event's field 5 (a
/// `google.protobuf.Struct`) is kept as the bytes of its encoding. One difference, for an
/// encoding no Teleport server writes: a Struct split over two occurrences of field 5 would be
/// merged by protobuf's rules for messages, while here the last occurrence wins.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SearchPage {
    /// The page's events, in the order asked for.
    #[prost(message, repeated, tag = "1")]
    pub items: Vec<SearchPageEvent>,
    /// Teleport's key for the next page; empty when the search is complete.
    #[prost(string, tag = "2")]
    pub last_key: String,
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

    #[test]
    fn a_truncated_page_is_a_decode_error() {
        let wire = page().encode_to_vec();
        assert!(SearchPage::decode(&wire[..wire.len() - 8]).is_err());
    }
}
