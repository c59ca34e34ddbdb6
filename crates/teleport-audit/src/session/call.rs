//! One call of a session's recording, made and read by hand ([`crate::stream::raw_call`]) for
//! both of Teleport's calls: each gRPC message is checked against the size limit before it is
//! read (never held when larger), then decoded into the event's encoded
//! `google.protobuf.Struct`, its index and its type. A failure keeps the server's own status
//! apart from the connection's, for the rules ([`super::core`]).

use std::sync::Arc;

use prost::Message as _;
use teleport_audit_proto::auditlog::v1::{
    EventUnstructured, StreamUnstructuredSessionEventsRequest,
};
use teleport_audit_proto::legacy_events;
use teleport_audit_types::AuditEvent;
use tonic::transport::Channel;

use super::core::{CallPlan, Transport};
use crate::error::{Error, SharedError};
use crate::stream::raw_call::{self, BodyReader, Opened};

/// The legacy call's request (`proto.StreamSessionEventsRequest`; its `StartIndex` is
/// inclusive, whatever its comment says).
#[derive(Clone, PartialEq, prost::Message)]
struct StreamSessionEventsRequest {
    #[prost(string, tag = "1")]
    session_id: String,
    #[prost(int32, tag = "2")]
    start_index: i32,
}

/// One event as it arrived.
#[derive(Debug)]
pub(crate) struct RawEvent {
    /// Its `ei`.
    pub(crate) index: i64,
    /// Its type (`event`).
    pub(crate) event_type: String,
    /// The encoded Struct.
    pub(crate) payload: Vec<u8>,
    /// The event decoded from `payload`, when decoding was needed to learn its index and type
    /// (the legacy call).
    pub(crate) decoded: Option<AuditEvent>,
}

impl RawEvent {
    /// The event to yield: decoded (if not yet), with `sid` added when it has none (`print`
    /// has none); `sid_field` is [`sid_field`]'s encoding of the session id.
    pub(crate) fn into_event(self, sid_field: &[u8]) -> Result<AuditEvent, SharedError> {
        let decoded = match self.decoded {
            Some(event) => event,
            None => AuditEvent::from_struct_bytes(&self.payload).map_err(shared)?,
        };
        if decoded.get("sid").is_some() {
            return Ok(decoded);
        }
        // A Struct's fields are a repeated map entry: the two encodings one after the other
        // are the event with one more field (the JSON's keys stay sorted).
        let mut payload = self.payload;
        payload.extend_from_slice(sid_field);
        AuditEvent::from_struct_bytes(&payload).map_err(shared)
    }
}

/// The encoded Struct `{"sid": session_id}`.
pub(crate) fn sid_field(session_id: &str) -> Vec<u8> {
    let object = serde_json::json!({ "sid": session_id }).to_string();
    // A JSON object made by serde_json always converts.
    teleport_audit_types::wire::json_to_struct(&object).unwrap_or_default()
}

fn shared(error: teleport_audit_types::EventError) -> SharedError {
    Arc::new(error)
}

/// How a call failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The server's own status (trailers, or a refusal at once).
    Server(tonic::Status),
    /// The connection, a malformed response.
    Other(Error),
    /// An event that cannot be decoded.
    Undecodable(SharedError),
    /// An event of `size` bytes, over the limit.
    Oversized { size: u64 },
}

impl From<Error> for CallError {
    fn from(error: Error) -> Self {
        CallError::Other(error)
    }
}

/// An open call.
pub(crate) struct Call {
    transport: Transport,
    body: BodyReader,
}

impl Call {
    /// Opens the call `plan` for `session_id`.
    pub(crate) async fn open(
        channel: Channel,
        session_id: &str,
        plan: CallPlan,
    ) -> Result<Call, CallError> {
        let request = match plan.transport {
            Transport::Unstructured => StreamUnstructuredSessionEventsRequest {
                session_id: session_id.to_owned(),
                start_index: plan.start_index,
                format: String::new(),
            }
            .encode_to_vec(),
            Transport::Legacy => StreamSessionEventsRequest {
                session_id: session_id.to_owned(),
                start_index: plan.start_index,
            }
            .encode_to_vec(),
        };
        let rpc = plan.transport.rpc();
        match raw_call::open_call(channel, rpc, plan.transport.path(), request).await? {
            Opened::Body(body) => Ok(Call {
                transport: plan.transport,
                body,
            }),
            Opened::Refused(status) => Err(CallError::Server(status)),
        }
    }

    /// The next event; `None` at the call's clean end.
    pub(crate) async fn next(&mut self, max_size: usize) -> Result<Option<RawEvent>, CallError> {
        if !self.body.fill().await? {
            return match self.body.trailer_status() {
                Some(status) => Err(CallError::Server(status)),
                None => Ok(None),
            };
        }
        let len = self.body.frame_header().await?;
        if len > max_size as u64 {
            return Err(CallError::Oversized { size: len });
        }
        let message = self.body.exact(len).await?;
        match self.transport {
            Transport::Unstructured => unstructured(&message),
            Transport::Legacy => legacy(&message),
        }
        .map(Some)
    }
}

fn unstructured(message: &[u8]) -> Result<RawEvent, CallError> {
    let event = EventUnstructured::decode(message)
        .map_err(|error| CallError::Undecodable(Arc::new(error)))?;
    let payload = event
        .unstructured
        .map(|s| Vec::from(s.into_bytes()))
        .unwrap_or_default();
    Ok(RawEvent {
        index: event.index,
        event_type: event.r#type,
        payload,
        decoded: None,
    })
}

fn legacy(message: &[u8]) -> Result<RawEvent, CallError> {
    let payload = legacy_events::oneof_to_struct(message)
        .map_err(|error| CallError::Undecodable(Arc::new(error)))?;
    let decoded = AuditEvent::from_struct_bytes(&payload)
        .map_err(|error| CallError::Undecodable(Arc::new(error)))?;
    let index = decoded
        .index()
        .ok_or_else(|| CallError::Undecodable(Arc::new(MissingIndex)))?;
    Ok(RawEvent {
        index,
        event_type: decoded.event_type().to_owned(),
        payload,
        decoded: Some(decoded),
    })
}

/// A legacy event without `ei`.
#[derive(Debug, thiserror::Error)]
#[error("the event has no index (ei)")]
struct MissingIndex;

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "5b2d8a2e-0b4c-4f7e-9a0d-3c1f2e4d5a6b";

    fn raw(json: &str) -> RawEvent {
        RawEvent {
            index: 0,
            event_type: String::new(),
            payload: teleport_audit_types::wire::json_to_struct(json).unwrap(),
            decoded: None,
        }
    }

    #[test]
    fn an_event_without_sid_gets_the_session_id_in_key_order() {
        let print = raw(
            r#"{"ei":3,"event":"print","time":"2025-12-01T00:00:00Z","data":"bHMK","bytes":3}"#,
        );
        let event = print.into_event(&sid_field(SID)).unwrap();
        assert_eq!(event.session_id(), Some(SID));
        assert_eq!(
            event.as_json(),
            format!(
                r#"{{"bytes":3,"data":"bHMK","ei":3,"event":"print","sid":"{SID}","time":"2025-12-01T00:00:00Z"}}"#
            )
        );
    }

    #[test]
    fn an_event_with_sid_keeps_its_own() {
        let other = "6ba7b810-9dad-41d1-80b4-00c04fd430c8";
        let start = raw(&format!(
            r#"{{"ei":0,"event":"session.start","sid":"{other}","time":"2025-12-01T00:00:00Z"}}"#
        ));
        let event = start.into_event(&sid_field(SID)).unwrap();
        assert_eq!(event.session_id(), Some(other));
        let empty =
            raw(r#"{"ei":0,"event":"session.start","sid":"","time":"2025-12-01T00:00:00Z"}"#);
        assert_eq!(
            empty.into_event(&sid_field(SID)).unwrap().session_id(),
            Some("")
        );
    }

    #[test]
    fn a_payload_that_is_not_an_event_is_an_error() {
        let mut bad = raw(r#"{"ei":0}"#);
        assert!(bad.into_event(&sid_field(SID)).is_err());
        bad = raw(r#"{"ei":0,"event":"print","time":"2025-12-01T00:00:00Z"}"#);
        bad.payload.push(0xff);
        assert!(bad.into_event(&sid_field(SID)).is_err());
    }

    #[test]
    fn a_legacy_event_is_decoded_for_its_index_and_type() {
        // Not protobuf (wire type 7): an undecodable event, not a panic.
        assert!(matches!(
            legacy(&[0xff, 0xff]),
            Err(CallError::Undecodable(_))
        ));
        assert!(matches!(
            unstructured(&[0xff, 0xff]),
            Err(CallError::Undecodable(_))
        ));
        let message = EventUnstructured {
            r#type: "print".into(),
            id: String::new(),
            time: None,
            index: 9,
            unstructured: None,
        }
        .encode_to_vec();
        let got = unstructured(&message).unwrap();
        assert_eq!((got.index, got.event_type.as_str()), (9, "print"));
    }
}
