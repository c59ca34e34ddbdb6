//! User logins (`user.login`).

use serde_json::{Map, Value};

use super::simple_view;
use crate::AuditEvent;

/// A user login: local or SSO, a connector test flow, or a headless login step.
#[derive(Debug, Clone, Copy)]
pub struct UserLogin<'a> {
    event: &'a AuditEvent,
}

simple_view!(
    UserLogin,
    types: &["user.login"],
    codes: &[
        "T1000I", "T1000W", "T1001I", "T1001W", "T1010I", "T1011W", "T1012I", "T1013I",
        "T1013W", "T1014W",
    ],
);

/// How a user logged in, from the event code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoginKind {
    /// Password (and second factor) of a local user (`T1000`).
    Local,
    /// Through an OIDC, SAML or GitHub connector (`T1001`).
    Sso,
    /// An administrator testing an SSO connector (`T1010I`, `T1011W`).
    SsoTestFlow,
    /// A headless login was requested (`T1012I`).
    HeadlessRequest,
    /// A user approved a headless login, or tried to (`T1013`).
    HeadlessApproval,
    /// A user rejected a headless login (`T1014W`).
    HeadlessRejection,
    /// A code not listed above.
    Other,
}

impl<'a> UserLogin<'a> {
    /// How the user logged in.
    pub fn kind(&self) -> LoginKind {
        match self.event.code().unwrap_or_default() {
            "T1000I" | "T1000W" => LoginKind::Local,
            "T1001I" | "T1001W" => LoginKind::Sso,
            "T1010I" | "T1011W" => LoginKind::SsoTestFlow,
            "T1012I" => LoginKind::HeadlessRequest,
            "T1013I" | "T1013W" => LoginKind::HeadlessApproval,
            "T1014W" => LoginKind::HeadlessRejection,
            _ => LoginKind::Other,
        }
    }

    /// The user logging in (absent on some failed SSO logins).
    pub fn user(&self) -> Option<&'a str> {
        self.event.user()
    }

    /// The login method (`method`): `local`, `oidc`, `saml`, `github`, `headless`, ...
    pub fn method(&self) -> Option<&'a str> {
        self.event.get_str("method")
    }

    /// Whether the login succeeded (see [`AuditEvent::is_failure`]).
    pub fn succeeded(&self) -> bool {
        !self.event.is_failure()
    }

    /// The error of a failed login.
    pub fn error(&self) -> Option<&'a str> {
        self.event.error()
    }

    /// The detailed failure message.
    pub fn message(&self) -> Option<&'a str> {
        self.event.message()
    }

    /// The client's address (`addr.remote`).
    pub fn remote_addr(&self) -> Option<&'a str> {
        self.event.addr_remote()
    }

    /// The client's user agent (`user_agent`).
    pub fn user_agent(&self) -> Option<&'a str> {
        self.event.get_str("user_agent")
    }

    /// The MFA device used (`mfa_device`), when the login used one.
    pub fn mfa_device(&self) -> Option<&'a Map<String, Value>> {
        self.event.get_object("mfa_device")
    }

    /// Whether the login used an MFA device.
    pub fn used_mfa(&self) -> bool {
        self.mfa_device().is_some()
    }

    /// Name of the MFA device used.
    pub fn mfa_device_name(&self) -> Option<&'a str> {
        self.mfa_device()?.get("mfa_device_name")?.as_str()
    }

    /// Type of the MFA device used (`TOTP`, `WebAuthn`, ...).
    pub fn mfa_device_type(&self) -> Option<&'a str> {
        self.mfa_device()?.get("mfa_device_type")?.as_str()
    }

    /// Identity-provider attributes of an SSO login (`attributes`).
    pub fn attributes(&self) -> Option<&'a Map<String, Value>> {
        self.event.get_object("attributes")
    }
}
