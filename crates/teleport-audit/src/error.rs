//! The client's error type: a small enum of phases ([`ErrorKind`]: the setting, the identity,
//! the connection, authentication, permission, the server's answer, the cursor, the output, a
//! failure of our own), each holding a typed detail enum, classified for retry and alerting.
//!
//! Which phase a failure belongs to is what a caller branches on ([`Error::kind`]); the detail
//! says exactly what failed, with the fields to report it. The phases:
//!
//! - [`Error::Setting`] ([`SettingError`]): the address, a setting out of range, the proxy's
//!   extra CA, an address our metrics server cannot listen on.
//! - [`Error::Identity`] ([`IdentityError`], from `teleport-identity`): the identity file
//!   cannot be read, parsed or used, or is outside its validity.
//! - [`Error::Connect`] ([`ConnectError`]): the way to the Auth Service (DNS, TCP, the HTTP
//!   proxy, the connection upgrade, TLS, the connection below gRPC). Mostly retried.
//! - [`Error::Auth`] ([`AuthError`]): the server and the identity do not accept each other (a
//!   server of another cluster, a rejected certificate, a rejected identity).
//! - [`Error::Permission`] ([`PermissionError`]): the identity's roles lack a permission.
//! - [`Error::Server`] ([`ServerError`]): the Auth Service failed a call (a gRPC status, or no
//!   answer in time), classified by the status code.
//! - [`Error::Cursor`] ([`CursorError`]): a cursor or its file cannot be used.
//! - [`Error::Output`] ([`OutputError`]): a [`crate::FileSink`]'s output file cannot be used.
//! - [`Error::Internal`] ([`InternalError`]): a task of ours panicked, a bug.
//!
//! Where a failure sits follows who has to act: a server certificate not signed by the
//! identity's CAs is [`AuthError::UntrustedServer`], not a TLS failure, because the identity (or
//! the address) is wrong; a connection that fails under a call is
//! [`ConnectError::Transport`] (code `unavailable`, like the status it arrives as); a file held
//! by another process is [`CursorError::Locked`] or [`OutputError::Locked`] (both
//! `file_locked`), by which file it is. The identity's own error type comes from
//! `teleport-identity`, so [`Error::Identity`] keeps a message of its own ("the identity cannot
//! be used") with the detail as its source; the other phases are transparent.
//!
//! Each detail type carries its own part of the classification (`code`, `advice`, and
//! `is_retryable` where some of it is retried); [`Error`]'s methods delegate by phase.
//! Classification reads variants and gRPC codes, never message text. `Display` says our own
//! words once (a phase is transparent over its detail); a cause (an I/O, TLS, JSON or
//! transport error) is only the [`std::error::Error::source`], never formatted into the message.

mod auth;
mod connect;
mod server;
mod setting;
mod storage;

use teleport_identity::IdentityError;

pub use auth::{AuthError, PermissionError};
pub use connect::{ConnectError, SharedError};
pub use server::{RecordingFailure, ServerError};
pub use setting::SettingError;
pub(crate) use storage::NOT_A_CURSOR;
pub use storage::{CursorError, OutputError};

/// Everything that can go wrong between the user's settings and a delivered event: one variant
/// per phase ([`ErrorKind`]), each with a typed detail.
///
/// `Display` is a one-line statement in our words with the context (address, RPC, path);
/// the underlying cause, if any, is in [`std::error::Error::source`]. Print the whole chain
/// (for example with `{:#}` in `anyhow`, or by walking `source()`) to see everything.
///
/// Classification: [`Error::kind`] (the phase, to branch on), [`Error::is_retryable`] (the
/// stream retries these by itself), [`Error::is_auth`] (fix the identity or the role),
/// [`Error::is_fatal`] (the stream ends after yielding it), [`Error::code`] (a stable identifier
/// for logs and alerts), [`Error::advice`] (what to do about it) and [`Error::class`] (what has
/// to change, for an exit status).
///
/// `Clone`: sources are shared (`Arc`), so one failure can reach several readers whole.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is wrong or missing.
    #[error(transparent)]
    Setting(#[from] SettingError),

    /// The identity could not be parsed, is expired or not yet valid, or cannot build a TLS
    /// configuration. The source says which.
    #[error("the identity cannot be used")]
    Identity(#[source] IdentityError),

    /// The way to the Auth Service failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),

    /// The Auth Service and the identity do not accept each other.
    #[error(transparent)]
    Auth(#[from] AuthError),

    /// The Auth Service denied a call: the identity's roles lack a permission.
    #[error(transparent)]
    Permission(#[from] PermissionError),

    /// The Auth Service failed a call, or did not answer in time.
    #[error(transparent)]
    Server(#[from] ServerError),

    /// A cursor, or its file, cannot be used.
    #[error(transparent)]
    Cursor(#[from] CursorError),

    /// The output file of a [`crate::FileSink`] cannot be used.
    #[error(transparent)]
    Output(#[from] OutputError),

    /// A failure of teleport-audit itself.
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// The phase an [`Error`] belongs to ([`Error::kind`]): what a caller branches on without
/// matching the detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Setting`].
    Setting,
    /// [`Error::Identity`].
    Identity,
    /// [`Error::Connect`].
    Connect,
    /// [`Error::Auth`].
    Auth,
    /// [`Error::Permission`].
    Permission,
    /// [`Error::Server`].
    Server,
    /// [`Error::Cursor`].
    Cursor,
    /// [`Error::Output`].
    Output,
    /// [`Error::Internal`].
    Internal,
}

/// A failure of teleport-audit itself ([`ErrorKind::Internal`]): a bug, never retried.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InternalError {
    /// A task of the stream's own (a page fetch, the export probe, an export chunk reader)
    /// panicked or was lost: a bug in teleport-audit. Trying again would repeat it, so the
    /// stream ends (a restart resumes from the cursor).
    #[error("the stream's {task} task failed (it panicked): a bug in teleport-audit")]
    TaskFailed {
        /// Which task.
        task: &'static str,
    },
}

impl InternalError {
    /// The stable code ([`Error::code`]).
    pub fn code(&self) -> &'static str {
        match self {
            InternalError::TaskFailed { .. } => "task_failed",
        }
    }

    /// What to do about it ([`Error::advice`]).
    pub fn advice(&self) -> &'static str {
        match self {
            InternalError::TaskFailed { .. } => {
                "A bug in teleport-audit: please report it with the log lines before this error; a restart resumes from the cursor."
            }
        }
    }
}

/// The code of an identity error ([`Error::code`]).
fn identity_code(error: &IdentityError) -> &'static str {
    match error {
        IdentityError::Expired { .. } => "identity_expired",
        IdentityError::NotYetValid { .. } => "identity_not_yet_valid",
        IdentityError::NoCryptoProvider => "no_crypto_provider",
        _ => "identity_invalid",
    }
}

/// What to do about an identity error ([`Error::advice`]).
fn identity_advice(error: &IdentityError) -> &'static str {
    match error {
        IdentityError::Expired { .. } => {
            "Issue a new identity with `tctl auth sign --format=file` (or let tbot renew it) and restart."
        }
        IdentityError::NotYetValid { .. } => {
            "Check this machine's clock: the certificate is not valid yet."
        }
        IdentityError::NoCryptoProvider => {
            "Build teleport-audit with its `ring` (default) or `aws-lc-rs` feature, or install a provider with rustls::crypto::CryptoProvider::install_default before connecting."
        }
        IdentityError::ReadFile { .. } => {
            "Check the identity file's path and that this user may read it (or pass its contents in TELEPORT_IDENTITY)."
        }
        _ => "Pass the whole identity file written by `tctl auth sign --format=file`, unmodified.",
    }
}

impl Error {
    /// The phase the failure belongs to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Setting(_) => ErrorKind::Setting,
            Error::Identity(_) => ErrorKind::Identity,
            Error::Connect(_) => ErrorKind::Connect,
            Error::Auth(_) => ErrorKind::Auth,
            Error::Permission(_) => ErrorKind::Permission,
            Error::Server(_) => ErrorKind::Server,
            Error::Cursor(_) => ErrorKind::Cursor,
            Error::Output(_) => ErrorKind::Output,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Whether the failure is transient: retrying the same call later may succeed. The stream
    /// retries these itself, with backoff. Only some [connection](ConnectError::is_retryable)
    /// and [server](ServerError::is_retryable) failures are.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connect(error) => error.is_retryable(),
            Error::Server(error) => error.is_retryable(),
            _ => false,
        }
    }

    /// Whether a session's recording could not be read, and how
    /// ([`ServerError::recording_failure`]).
    pub fn recording_failure(&self) -> Option<RecordingFailure> {
        match self {
            Error::Server(error) => error.recording_failure(),
            _ => None,
        }
    }

    /// Whether the identity or its roles are the problem (renew the identity, fix the role):
    /// the [identity](ErrorKind::Identity), [authentication](ErrorKind::Auth) and
    /// [permission](ErrorKind::Permission) phases.
    pub fn is_auth(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Identity | ErrorKind::Auth | ErrorKind::Permission
        )
    }

    /// Whether trying again cannot help: not [retryable](Error::is_retryable). An
    /// [`crate::AuditEventStream`] retries retryable failures by itself and yields an error
    /// only when it cannot go on, so every error it yields ends it (a stall or a skipped event
    /// is a [`crate::Notice`], not an error).
    pub fn is_fatal(&self) -> bool {
        !self.is_retryable()
    }

    /// A stable identifier of the failure, for logs, metrics and alerts (each is listed in
    /// `docs/troubleshooting.md`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Setting(error) => error.code(),
            Error::Identity(error) => identity_code(error),
            Error::Connect(error) => error.code(),
            Error::Auth(error) => error.code(),
            Error::Permission(error) => error.code(),
            Error::Server(error) => error.code(),
            Error::Cursor(error) => error.code(),
            Error::Output(error) => error.code(),
            Error::Internal(error) => error.code(),
        }
    }

    /// What to do about it, in a sentence (also in `docs/troubleshooting.md`).
    pub fn advice(&self) -> &'static str {
        match self {
            Error::Setting(error) => error.advice(),
            Error::Identity(error) => identity_advice(error),
            Error::Connect(error) => error.advice(),
            Error::Auth(error) => error.advice(),
            Error::Permission(error) => error.advice(),
            Error::Server(error) => error.advice(),
            Error::Cursor(error) => error.advice(),
            Error::Output(error) => error.advice(),
            Error::Internal(error) => error.advice(),
        }
    }
}

impl From<IdentityError> for Error {
    fn from(error: IdentityError) -> Self {
        Error::Identity(error)
    }
}

#[cfg(test)]
pub(crate) mod tests;
