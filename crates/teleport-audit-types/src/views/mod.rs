//! Typed views of the event families people filter and alert on.
//!
//! A view borrows an [`AuditEvent`] and reads its fields on demand; it copies nothing. Get one
//! with the event's accessor ([`AuditEvent::login`], [`AuditEvent::session`], ...) or generically
//! with [`AuditEvent::view`]; both return `None` for events of other types.
//!
//! ```
//! use teleport_audit_types::AuditEvent;
//! use teleport_audit_types::views::LoginKind;
//!
//! let event = AuditEvent::from_json(
//!     r#"{"code":"T1000W","error":"invalid credentials","event":"user.login","method":"local","success":false,"time":"2024-01-01T00:00:00Z","user":"bob"}"#,
//! )?;
//! let login = event.user_login().expect("a user.login event");
//! assert_eq!(login.kind(), LoginKind::Local);
//! assert!(!login.succeeded());
//! assert_eq!(login.error(), Some("invalid credentials"));
//! assert!(event.session().is_none());
//! # Ok::<(), teleport_audit_types::EventError>(())
//! ```

mod access_request;
mod app;
mod auth;
mod cert;
mod database;
mod desktop;
mod exec;
mod join;
mod kube;
mod login;
mod resource;
mod session;
mod unknown;

pub use access_request::{AccessRequest, AccessRequestAction};
pub use app::{AppSession, AppSessionPhase};
pub use auth::AuthFailure;
pub use cert::CertIssued;
pub use database::{DbQuery, DbSession, DbSessionPhase};
pub use desktop::{DesktopPlatform, DesktopSession, DesktopSessionPhase};
pub use exec::Exec;
pub use join::{Join, JoinKind};
pub use kube::KubeRequest;
pub use login::{LoginKind, UserLogin};
pub use resource::{ChangeAction, ResourceChange};
pub use session::{SessionEvent, SessionPhase};
pub use unknown::UnknownEvent;

use crate::AuditEvent;

/// A typed view of one event family.
pub trait View<'a>: Sized + Copy {
    /// The event types the view covers.
    const EVENT_TYPES: &'static [&'static str];
    /// Every code of those event types (each is in the [catalogue](crate::codes)).
    const CODES: &'static [&'static str];

    /// The view of `event`, when the event belongs to the family.
    fn from_event(event: &'a AuditEvent) -> Option<Self>;

    /// The event viewed.
    fn event(&self) -> &'a AuditEvent;
}

/// Whether `event`'s type is one of `types`.
fn has_type(event: &AuditEvent, types: &[&str]) -> bool {
    types.contains(&event.event_type())
}

/// Implements [`View`] for a view struct `$view { event }` whose family is exactly its
/// `EVENT_TYPES`.
macro_rules! simple_view {
    ($view:ident, types: $types:expr, codes: $codes:expr $(,)?) => {
        impl<'a> $crate::views::View<'a> for $view<'a> {
            const EVENT_TYPES: &'static [&'static str] = $types;
            const CODES: &'static [&'static str] = $codes;

            fn from_event(event: &'a $crate::AuditEvent) -> Option<Self> {
                $crate::views::has_type(event, Self::EVENT_TYPES).then_some(Self { event })
            }

            fn event(&self) -> &'a $crate::AuditEvent {
                self.event
            }
        }
    };
}
pub(crate) use simple_view;

impl AuditEvent {
    /// The view `V` of this event, when the event belongs to its family.
    pub fn view<'a, V: View<'a>>(&'a self) -> Option<V> {
        V::from_event(self)
    }

    /// A user login (`user.login`): local, SSO, SSO test flow or headless, successful or not.
    ///
    /// (Named `user_login` because [`login`](AuditEvent::login) is the `login` field.)
    pub fn user_login(&self) -> Option<UserLogin<'_>> {
        self.view()
    }

    /// A failed authentication attempt to a Teleport server (`auth`).
    pub fn auth_failure(&self) -> Option<AuthFailure<'_>> {
        self.view()
    }

    /// An SSH or Kubernetes session start, end, join or leave.
    pub fn session(&self) -> Option<SessionEvent<'_>> {
        self.view()
    }

    /// A session event of a Kubernetes session (`proto` is `kube`).
    pub fn kube_session(&self) -> Option<SessionEvent<'_>> {
        self.session().filter(|session| session.is_kubernetes())
    }

    /// A command execution (`exec`), on a server or in a Kubernetes pod.
    pub fn exec(&self) -> Option<Exec<'_>> {
        self.view()
    }

    /// A request to a Kubernetes API server (`kube.request`).
    pub fn kube_request(&self) -> Option<KubeRequest<'_>> {
        self.view()
    }

    /// An application session start, end or chunk.
    pub fn app_session(&self) -> Option<AppSession<'_>> {
        self.view()
    }

    /// A database session start or end.
    pub fn db_session(&self) -> Option<DbSession<'_>> {
        self.view()
    }

    /// A database query or prepared statement.
    pub fn db_query(&self) -> Option<DbQuery<'_>> {
        self.view()
    }

    /// A Windows or Linux desktop session start or end.
    pub fn desktop_session(&self) -> Option<DesktopSession<'_>> {
        self.view()
    }

    /// An access request being created, reviewed, updated, deleted or expiring.
    pub fn access_request(&self) -> Option<AccessRequest<'_>> {
        self.view()
    }

    /// A change to a cluster resource: roles, users, locks, tokens, connectors, bots, ...
    pub fn resource_change(&self) -> Option<ResourceChange<'_>> {
        self.view()
    }

    /// A certificate issued by the Auth Service (`cert.create`).
    pub fn cert_issued(&self) -> Option<CertIssued<'_>> {
        self.view()
    }

    /// A bot or Teleport instance joining the cluster (successfully or not).
    pub fn join(&self) -> Option<Join<'_>> {
        self.view()
    }

    /// A bot joining the cluster (`bot.join`).
    pub fn bot_join(&self) -> Option<Join<'_>> {
        self.join().filter(|join| join.kind() == JoinKind::Bot)
    }

    /// Teleport's placeholder for an event it could not decode (`unknown`, code `TCC00E`).
    pub fn unknown(&self) -> Option<UnknownEvent<'_>> {
        self.view()
    }
}
