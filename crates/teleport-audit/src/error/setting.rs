//! [`SettingError`]: a setting of the client or of a server of ours is wrong.

use std::sync::Arc;

use super::SharedError;

/// A setting is wrong or missing; trying again unchanged fails the same way
/// ([`crate::ErrorKind::Setting`]).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
    /// The address setting could not be parsed.
    #[error("invalid address {input:?}: {reason}")]
    InvalidAddress {
        /// What the user gave; user information (`user:password@`) hidden, and only the
        /// length of text that cannot be an address (over 255 bytes or several lines), which
        /// may be a secret given in the wrong setting.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A required setting is missing or a setting is out of range. Made with
    /// [`SettingError::config`] or [`SettingError::config_caused_by`].
    #[error("invalid configuration: {field}: {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// What is wrong with it, in this library's words.
        reason: String,
        /// The error that said why, if one did (a TLS library's, say); never formatted into
        /// `reason`.
        #[source]
        source: Option<SharedError>,
    },

    /// The extra CA given for the proxy's public certificate could not be used.
    #[error("the extra CA certificate for the proxy's public TLS is unusable: {reason}")]
    ProxyCa {
        /// What is wrong with it, in this library's words.
        reason: String,
        /// The error that said why (the PEM reader's, rustls', the file system's), if one did.
        #[source]
        source: Option<SharedError>,
    },

    /// A server of ours (the metrics server) could not listen on its address: the port is in
    /// use, needs privileges, or the address is not this machine's. The source's
    /// [`std::io::Error::kind`] says which.
    #[error("cannot listen on {addr} for the {what}")]
    Listen {
        /// Which server ("metrics server").
        what: &'static str,
        /// The address given.
        addr: std::net::SocketAddr,
        /// The socket error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

impl SettingError {
    /// A [`SettingError::Config`]: `field` is wrong for `reason`, with no other error behind it.
    pub fn config(field: &'static str, reason: impl Into<String>) -> Self {
        SettingError::Config {
            field,
            reason: reason.into(),
            source: None,
        }
    }

    /// A [`SettingError::Config`] that `source` caused: `reason` says what it means for
    /// `field`, `source` stays the [`std::error::Error::source`].
    pub fn config_caused_by(
        field: &'static str,
        reason: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        SettingError::Config {
            field,
            reason: reason.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// The stable code ([`crate::Error::code`]).
    pub fn code(&self) -> &'static str {
        match self {
            SettingError::InvalidAddress { .. } => "invalid_address",
            SettingError::Config { .. } => "invalid_config",
            SettingError::ProxyCa { .. } => "proxy_ca_invalid",
            SettingError::Listen { .. } => "listen_failed",
        }
    }

    /// What to do about it ([`crate::Error::advice`]).
    pub fn advice(&self) -> &'static str {
        match self {
            SettingError::InvalidAddress { .. } => {
                "Give the proxy address with its port, as `tsh status` shows it: teleport.example.com:443."
            }
            SettingError::Config { .. } => "Fix the named setting.",
            SettingError::ProxyCa { .. } => {
                "Give a readable PEM file holding the CA certificate (or the certificate itself) of the proxy's public TLS."
            }
            SettingError::Listen { source, .. } => match source.kind() {
                std::io::ErrorKind::AddrInUse => {
                    "Another process listens on this port (a second replica?): choose another port, or stop the other process."
                }
                std::io::ErrorKind::PermissionDenied => {
                    "Ports below 1024 need privileges: choose a port above 1024, such as 9464."
                }
                std::io::ErrorKind::AddrNotAvailable => {
                    "The address is not one of this machine's: listen on 127.0.0.1, 0.0.0.0, [::] or an address of one of its interfaces."
                }
                _ => "Check the address and port.",
            },
        }
    }
}
