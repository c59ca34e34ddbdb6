//! Teleport's placeholder for events it could not decode.

use super::simple_view;
use crate::AuditEvent;

/// An event Teleport stored but could not decode into a known type: it keeps the original type,
/// code and data (`event` is `unknown`, `code` is `TCC00E`).
#[derive(Debug, Clone, Copy)]
pub struct UnknownEvent<'a> {
    event: &'a AuditEvent,
}

simple_view!(UnknownEvent, types: &["unknown"], codes: &["TCC00E"]);

impl<'a> UnknownEvent<'a> {
    /// The original event type (`unknown_type`).
    pub fn unknown_type(&self) -> Option<&'a str> {
        self.event.get_str("unknown_type")
    }

    /// The original event code (`unknown_code`).
    pub fn unknown_code(&self) -> Option<&'a str> {
        self.event.get_str("unknown_code")
    }

    /// The original event, as the JSON text Teleport kept (`data`).
    pub fn data(&self) -> Option<&'a str> {
        self.event.get_str("data")
    }
}
