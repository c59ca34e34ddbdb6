//! [`EventBody`]: one event as the Auth Service serves it (type, id, `ei`, encoded Struct).

use bytes::Bytes;

use crate::SimError;
use crate::json::Nanos;
use crate::uid::Uid;

/// An event ready to serve: the `google.protobuf.Struct` bytes are encoded once and shared.
#[derive(Debug)]
pub(crate) struct EventBody {
    pub(crate) event_type: Box<str>,
    pub(crate) uid_text: Box<str>,
    pub(crate) ei: i64,
    /// Size of the event's JSON text: what Teleport counts against a page's byte cap.
    pub(crate) json_len: usize,
    pub(crate) struct_bytes: Bytes,
}

impl EventBody {
    /// Encodes `json` (a JSON object) for serving.
    pub(crate) fn encode(
        event_type: &str,
        uid: &Uid,
        ei: i64,
        json: &str,
    ) -> Result<EventBody, SimError> {
        let uid_text = uid.to_string();
        let struct_bytes = teleport_audit_types::wire::json_to_struct(json).map_err(|source| {
            SimError::Encode {
                uid: uid_text.clone(),
                source,
            }
        })?;
        Ok(EventBody {
            event_type: event_type.into(),
            uid_text: uid_text.into(),
            ei,
            json_len: json.len(),
            struct_bytes: Bytes::from(struct_bytes),
        })
    }

    /// Approximate heap footprint (for the cache's budget).
    pub(crate) fn footprint(&self) -> usize {
        self.struct_bytes.len() + self.event_type.len() + self.uid_text.len() + 96
    }
}

/// An event picked for a response.
#[derive(Debug, Clone)]
pub(crate) struct ServedEvent {
    pub(crate) time: Nanos,
    pub(crate) body: std::sync::Arc<EventBody>,
}
