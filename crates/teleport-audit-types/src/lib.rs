//! Teleport audit events, modelled losslessly.
//!
//! - [`AuditEvent`] keeps an event's JSON text exactly as received, parses its common fields
//!   once (type, code, time with nanoseconds, uid, index, cluster, user, session, server and
//!   connection metadata, status), and gives the full ordered field map on demand. Serialising
//!   it gives back the same JSON object, in the same field order.
//! - [`views`] are typed, borrowing accessors for the families people filter and alert on:
//!   logins, auth failures, sessions, exec, Kubernetes, applications, databases, desktops, access
//!   requests, resource (RBAC) changes, certificates, joins.
//! - [`codes`] is the catalogue of every event code Teleport defines, with its event type,
//!   severity and meaning; events whose type or code is not in it are kept whole and reported
//!   by [`AuditEvent::is_known`].
//! - [`type_list`] checks a user's list of event types and codes (`user.login, T1000I`)
//!   against the catalogue, naming the closest known types for a typo.
//! - [`wire`] turns the protobuf encoding of a `google.protobuf.Struct` (how Teleport's
//!   `GetUnstructuredEvents` sends events) into JSON text in one pass, and back.
//!
//! No async runtime and no network here: this crate only reads and writes bytes.
//!
//! # Example
//!
//! ```
//! use teleport_audit_types::{AuditEvent, codes::Severity, views::ChangeAction};
//!
//! // The sample record of the Teleport Audit Logs input.
//! let sample = r#"{"cluster_name":"test.teleport-test.sh","code":"T543I","ei":0,"event":"account.settings.updated","expires":"0001-01-01T00:00:00Z","name":"admin","time":"2025-12-02T07:14:36Z","uid":"f1d66612-8f98-df5c-a9a0-724daf43a08e","user":"system"}"#;
//! let event = AuditEvent::from_json(sample)?;
//!
//! // Typed common fields.
//! assert_eq!(event.event_type(), "account.settings.updated");
//! assert_eq!(event.code(), Some("T543I"));
//! assert_eq!(event.index(), Some(0));
//! assert_eq!(event.cluster_name(), Some("test.teleport-test.sh"));
//! assert_eq!(event.user(), Some("system"));
//! assert_eq!(event.time().to_string(), "2025-12-02 7:14:36.0 +00:00:00");
//! assert_eq!(event.severity(), Some(Severity::Info));
//! // T543I is not in Teleport's open-source code list: kept whole, flagged as unknown.
//! assert!(!event.is_known());
//! // Any other field, by name.
//! assert_eq!(event.get_str("name"), Some("admin"));
//!
//! // The JSON text, exactly as received (the hot path: no re-serialisation).
//! assert_eq!(event.as_json(), sample);
//! println!("{}", event.as_json());
//!
//! // A typed view: a role created, from the same reference samples.
//! let role = AuditEvent::from_json(
//!     r#"{"cluster_name":"dev","code":"T9000I","ei":0,"event":"role.created","expires":"0001-01-01T00:00:00Z","name":"editor","time":"2023-10-26T16:08:43.426Z","uid":"897e4a84-df4f-4eee-b10e-7d080c128b77","user":"system"}"#,
//! )?;
//! let change = role.resource_change().expect("role.created is a resource change");
//! assert_eq!((change.kind(), change.action()), ("role", ChangeAction::Create));
//! assert_eq!(change.name(), Some("editor"));
//! assert_eq!(change.actor(), Some("system"));
//! assert!(role.is_known());
//! assert!(role.user_login().is_none());
//!
//! // Serde gives back the same object, fields in the original order.
//! assert_eq!(serde_json::to_string(&role)?, role.as_json());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod codes;
mod error;
mod event;
pub mod type_list;
pub mod views;
pub mod wire;

pub use error::{EventError, WireError};
pub use event::{AuditEvent, UserKind};
