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
