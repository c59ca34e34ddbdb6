//! [`Caller`]: who a client certificate says the caller is, checked as Teleport's Auth Service
//! checks it right after the TLS handshake (`lib/auth/middleware.go`, `GetUser`, and the
//! transport credentials' authorizer).

use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::roles::{Permissions, Roles};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) user: String,
    pub(crate) permissions: Permissions,
    pub(crate) not_after: OffsetDateTime,
}

/// Why a connection is closed right after its handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    Intermediates(usize),
    Unparsable(String),
    UsageRestricted(Vec<String>),
    UnknownRole(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Intermediates(n) => write!(
                f,
                "access denied: intermediaries are not supported ({n} certificates presented)"
            ),
            Refusal::Unparsable(reason) => {
                write!(f, "access denied: invalid client certificate ({reason})")
            }
            Refusal::UsageRestricted(usage) => write!(
                f,
                "access denied: invalid client certificate (usage restricted to {})",
                usage.join(", ")
            ),
            Refusal::UnknownRole(role) => write!(f, "role {role:?} is not found"),
        }
    }
}

/// Reads the caller from the presented chain (already verified against the user CA by rustls).
/// `Ok(None)`: no certificate (Teleport's `Nop` identity: every audit call is denied).
pub(crate) fn caller_from_chain(
    chain: Option<&[CertificateDer<'static>]>,
    roles: &Roles,
) -> Result<Option<Caller>, Refusal> {
    let chain = match chain {
        None | Some([]) => return Ok(None),
        Some(chain) => chain,
    };
    if chain.len() > 1 {
        return Err(Refusal::Intermediates(chain.len()));
    }
    let info = teleport_identity::parse_teleport_certificate(&chain[0])
        .map_err(|e| Refusal::Unparsable(e.to_string()))?;
    if !info.usage.is_empty() {
        return Err(Refusal::UsageRestricted(info.usage));
    }
    let permissions = roles
        .resolve(&info.roles)
        .map_err(|role| Refusal::UnknownRole(role.to_string()))?;
    Ok(Some(Caller {
        user: info.username,
        permissions,
        not_after: info.not_after,
    }))
}
