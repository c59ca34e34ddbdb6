//! Database sessions and queries.

use super::simple_view;
use crate::AuditEvent;

/// Accessors shared by the database views (all database events carry the same metadata).
macro_rules! database_metadata {
    () => {
        /// The Teleport user.
        pub fn user(&self) -> Option<&'a str> {
            self.event.user()
        }

        /// The database service name (`db_service`).
        pub fn db_service(&self) -> Option<&'a str> {
            self.event.get_str("db_service")
        }

        /// The database protocol (`db_protocol`): `postgres`, `mysql`, `mongodb`, ...
        pub fn db_protocol(&self) -> Option<&'a str> {
            self.event.get_str("db_protocol")
        }

        /// The database address (`db_uri`).
        pub fn db_uri(&self) -> Option<&'a str> {
            self.event.get_str("db_uri")
        }

        /// The database (schema) name (`db_name`).
        pub fn db_name(&self) -> Option<&'a str> {
            self.event
                .get_str("db_name")
                .filter(|name| !name.is_empty())
        }

        /// The database user (`db_user`).
        pub fn db_user(&self) -> Option<&'a str> {
            self.event.get_str("db_user")
        }

        /// The session id (`sid`).
        pub fn session_id(&self) -> Option<&'a str> {
            self.event.session_id()
        }

        /// Whether the action succeeded.
        pub fn succeeded(&self) -> bool {
            !self.event.is_failure()
        }

        /// The error of a denied or failed action.
        pub fn error(&self) -> Option<&'a str> {
            self.event.error()
        }
    };
}

/// A database session starting (or being denied) or ending.
#[derive(Debug, Clone, Copy)]
pub struct DbSession<'a> {
    event: &'a AuditEvent,
}

simple_view!(
    DbSession,
    types: &["db.session.start", "db.session.end"],
    codes: &["TDB00I", "TDB00W", "TDB01I"],
);

/// What happened to the database session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DbSessionPhase {
    /// `db.session.start` (check [`DbSession::succeeded`]: `TDB00W` is a denied connection).
    Start,
    /// `db.session.end`.
    End,
}

impl<'a> DbSession<'a> {
    database_metadata!();

    /// What happened to the session.
    pub fn phase(&self) -> DbSessionPhase {
        if self.event.event_type() == "db.session.start" {
            DbSessionPhase::Start
        } else {
            DbSessionPhase::End
        }
    }

    /// Database roles requested for an auto-provisioned user (`db_roles`).
    pub fn db_roles(&self) -> Vec<&'a str> {
        self.event.strings("db_roles")
    }
}

/// A database query, or a statement prepared for one (PostgreSQL, MySQL, Cassandra), or a
/// Cloud Spanner RPC.
#[derive(Debug, Clone, Copy)]
pub struct DbQuery<'a> {
    event: &'a AuditEvent,
}

simple_view!(
    DbQuery,
    types: &[
        "db.session.query",
        "db.session.query.failed",
        "db.session.postgres.statements.parse",
        "db.session.mysql.statements.prepare",
        "db.session.cassandra.prepare",
        "db.session.spanner.rpc",
    ],
    codes: &["TDB02I", "TDB02W", "TPG00I", "TMY00I", "TCA02I", "TSPN001I", "TSPN001W"],
);

impl<'a> DbQuery<'a> {
    database_metadata!();

    /// The query text: `db_query`, a prepared statement's `query`, or a Spanner RPC's SQL.
    pub fn query(&self) -> Option<&'a str> {
        self.event
            .get_str("db_query")
            .or_else(|| self.event.get_str("query"))
            .or_else(|| self.event.get_object("args")?.get("sql")?.as_str())
    }

    /// The query's parameters (`db_query_parameters`).
    pub fn query_parameters(&self) -> Vec<&'a str> {
        self.event.strings("db_query_parameters")
    }

    /// The prepared statement's name (`statement_name`, PostgreSQL).
    pub fn statement_name(&self) -> Option<&'a str> {
        self.event.get_str("statement_name")
    }

    /// The RPC called (`procedure`, Cloud Spanner).
    pub fn procedure(&self) -> Option<&'a str> {
        self.event.get_str("procedure")
    }
}
