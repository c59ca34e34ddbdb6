//! Bots and instances joining the cluster (`bot.join`, `instance.join`).

use serde_json::{Map, Value};

use super::simple_view;
use crate::AuditEvent;

/// A bot or Teleport instance joining the cluster with a join token, or failing to.
#[derive(Debug, Clone, Copy)]
pub struct Join<'a> {
    event: &'a AuditEvent,
}

simple_view!(
    Join,
    types: &["bot.join", "instance.join"],
    codes: &["TJ001I", "TJ001E", "TJ001L", "TJ002I", "TJ002E", "TJ002L"],
);

/// Who joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JoinKind {
    /// A Machine ID bot (`bot.join`).
    Bot,
    /// A Teleport instance: an agent or service (`instance.join`).
    Instance,
}

impl<'a> Join<'a> {
    /// Bot or instance.
    pub fn kind(&self) -> JoinKind {
        if self.event.event_type() == "bot.join" {
            JoinKind::Bot
        } else {
            JoinKind::Instance
        }
    }

    /// Whether the join succeeded (codes ending in `E` or `L` are refusals).
    pub fn succeeded(&self) -> bool {
        !self.event.is_failure()
    }

    /// The error of a refused join.
    pub fn error(&self) -> Option<&'a str> {
        self.event.error()
    }

    /// The join method (`method`): `token`, `github`, `iam`, `kubernetes`, ...
    pub fn method(&self) -> Option<&'a str> {
        self.event.get_str("method")
    }

    /// The join token's name (`token_name`, masked for secret tokens).
    pub fn token_name(&self) -> Option<&'a str> {
        self.event.get_str("token_name")
    }

    /// The bot's name (`bot_name`).
    pub fn bot_name(&self) -> Option<&'a str> {
        self.event.get_str("bot_name")
    }

    /// The bot instance id (`bot_instance_id`).
    pub fn bot_instance_id(&self) -> Option<&'a str> {
        self.event.get_str("bot_instance_id")
    }

    /// The instance's node name (`node_name`).
    pub fn node_name(&self) -> Option<&'a str> {
        self.event.get_str("node_name")
    }

    /// The instance's host id (`host_id`).
    pub fn host_id(&self) -> Option<&'a str> {
        self.event.get_str("host_id")
    }

    /// The system role the instance joined as (`role`).
    pub fn role(&self) -> Option<&'a str> {
        self.event.get_str("role")
    }

    /// Claims presented by the joining party, e.g. a CI job's (`attributes`).
    pub fn attributes(&self) -> Option<&'a Map<String, Value>> {
        self.event.get_object("attributes")
    }

    /// The joining party's address (`addr.remote`).
    pub fn remote_addr(&self) -> Option<&'a str> {
        self.event.addr_remote()
    }
}
