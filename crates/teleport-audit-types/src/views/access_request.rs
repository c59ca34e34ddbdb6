//! Access requests (`access_request.create`, `.review`, `.update`, `.delete`, `.expire`).

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::simple_view;
use crate::AuditEvent;

/// An access request being created, reviewed, changing state, deleted or expiring.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    event: &'a AuditEvent,
}

simple_view!(
    AccessRequest,
    types: &[
        "access_request.create",
        "access_request.review",
        "access_request.update",
        "access_request.delete",
        "access_request.expire",
    ],
    codes: &["T5000I", "T5001I", "T5002I", "T5003I", "T5005I"],
);

/// What happened to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AccessRequestAction {
    /// A user asked for roles or resources.
    Create,
    /// A reviewer approved or denied it.
    Review,
    /// Its state changed (approved, denied, promoted, ...).
    Update,
    /// It was deleted.
    Delete,
    /// It expired.
    Expire,
}

impl<'a> AccessRequest<'a> {
    /// What happened to the request.
    pub fn action(&self) -> AccessRequestAction {
        match self.event.event_type() {
            "access_request.create" => AccessRequestAction::Create,
            "access_request.review" => AccessRequestAction::Review,
            "access_request.update" => AccessRequestAction::Update,
            "access_request.delete" => AccessRequestAction::Delete,
            _ => AccessRequestAction::Expire,
        }
    }

    /// The request's id (`id`).
    pub fn request_id(&self) -> Option<&'a str> {
        self.event.get_str("id")
    }

    /// The request's state (`state`): `PENDING`, `APPROVED`, `DENIED`, `PROMOTED`, ...
    pub fn state(&self) -> Option<&'a str> {
        self.event.get_str("state")
    }

    /// The user who acted (`user`): the requester on creation.
    pub fn user(&self) -> Option<&'a str> {
        self.event.user()
    }

    /// The roles requested (`roles`).
    pub fn roles(&self) -> Vec<&'a str> {
        self.event.strings("roles")
    }

    /// The resources requested (`resource_ids`: objects with `cluster`, `kind`, `name`).
    pub fn resource_ids(&self) -> &'a [Value] {
        self.event
            .get("resource_ids")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// The requester's or reviewer's reason (`reason`).
    pub fn reason(&self) -> Option<&'a str> {
        self.event.get_str("reason")
    }

    /// Who reviewed it (`reviewer`, on reviews).
    pub fn reviewer(&self) -> Option<&'a str> {
        self.event.get_str("reviewer")
    }

    /// The state the review proposes (`proposed_state`, on reviews).
    pub fn proposed_state(&self) -> Option<&'a str> {
        self.event.get_str("proposed_state")
    }

    /// Who changed the request's state (`updated_by`, on updates).
    pub fn updated_by(&self) -> Option<&'a str> {
        self.event.get_str("updated_by")
    }

    /// The identity a plugin acted for (`delegator`).
    pub fn delegator(&self) -> Option<&'a str> {
        self.event.get_str("delegator")
    }

    /// Annotations attached to the request (`annotations`).
    pub fn annotations(&self) -> Option<&'a Map<String, Value>> {
        self.event.get_object("annotations")
    }

    /// When the access granted would end at the latest (`max_duration`).
    pub fn max_duration(&self) -> Option<OffsetDateTime> {
        self.event.get_time("max_duration")
    }
}
