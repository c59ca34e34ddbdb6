//! Teleport identity files (`tctl auth sign --format=file`) turned into mutual-TLS credentials
//! for the Teleport Auth Service.
//!
//! # What an identity file holds
//!
//! One text file, in this order (as `tctl auth sign --format=file` writes it):
//!
//! 1. **the private key** (PEM: `RSA PRIVATE KEY` PKCS#1, `PRIVATE KEY` PKCS#8, or
//!    `EC PRIVATE KEY` SEC1; RSA, ECDSA P-256/P-384 or Ed25519). **This is the secret**: whoever
//!    holds it acts as the user until the certificates expire. Keep the file (or the secret
//!    holding its text) readable only by the service that uses it;
//! 2. the SSH user certificate (one `...-cert-v01@openssh.com AAAA...` line): public, not used
//!    here (only counted and checked for damage);
//! 3. the TLS user certificate (PEM), signed by the cluster's *user* CA: public; names the user,
//!    roles, principals and cluster, and carries the validity (often hours);
//! 4. `@cert-authority` lines: the cluster's SSH host CAs, public;
//! 5. the cluster's TLS *host* CA certificates (PEM), public: they verify the Auth Service.
//!
//! Older versions interleaved items 4 and 5 per cluster; any order of CA entries is read. The
//! reader follows Teleport's own: lines are trimmed (CRLF, indentation and blank lines are
//! fine), PEM blocks are taken by position (1st = key, 2nd = TLS certificate, later = CAs)
//! whatever their labels say, and the key is tried as PKCS#8, PKCS#1 and SEC1 in turn. The TLS
//! user certificate does *not* chain to the file's CAs (they are host CAs) and is not required
//! to. A `PIV YUBIKEY PRIVATE KEY` block is a reference to a key inside a YubiKey and is refused
//! with [`IdentityError::HardwareKey`].
//!
//! Every failure is a specific [`IdentityError`] naming the line or PEM block; no error, `Debug`
//! or `Display` output contains key material.
//!
//! # Crypto provider (cargo features)
//!
//! Keys are loaded and TLS configurations built with one rustls crypto provider, chosen by
//! [`crypto_provider`]: a provider the application installed for the process
//! (`rustls::crypto::CryptoProvider::install_default`) if any, else the feature's: `ring` (the
//! default) or `aws-lc-rs` (which wins when both are on, so `features = ["aws-lc-rs"]` works
//! without `default-features = false`). With neither feature and nothing installed, parsing
//! fails with [`IdentityError::NoCryptoProvider`].
//!
//! # Example
//!
//! ```no_run
//! use teleport_identity::{AUTH_SERVER_NAME, AuthRoute, Identity};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The identity file's text, e.g. mounted from a secret store into an environment variable.
//! let text = std::env::var("TELEPORT_IDENTITY")?;
//! let identity = Identity::from_identity_str(&text)?;
//!
//! let summary = identity.summary();
//! println!(
//!     "{} on {} (roles {:?}, {} key) valid until {}",
//!     summary.username, summary.cluster_name, summary.roles, summary.key_algorithm, summary.not_after
//! );
//! identity.check_validity()?; // Expired / NotYetValid, with the times
//!
//! // Through the proxy's TLS routing on :443; `AuthRoute::Direct` for auth:3025.
//! let config = identity.tls_client_config(AuthRoute::ThroughProxy)?;
//! let server_name = teleport_identity::rustls::pki_types::ServerName::try_from(AUTH_SERVER_NAME)?;
//! let _tls = teleport_identity::rustls::ClientConnection::new(std::sync::Arc::new(config), server_name)?;
//! # Ok(())
//! # }
//! ```
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cert;
mod error;
mod identity;
mod key;
mod provider;
mod scan;
pub mod secret_text;
mod ssh;
mod summary;
mod tls;

pub use rustls;

pub use cert::{CLUSTER_NAME_OID, CertInfo, parse_teleport_certificate};
pub use error::IdentityError;
pub use identity::Identity;
pub use provider::crypto_provider;
pub use summary::{IdentitySummary, KeyAlgorithm};
pub use tls::AuthRoute;

/// The server name to verify on the Auth Service (its certificate is issued for
/// `*.teleport.cluster.local` and `teleport.cluster.local`).
pub const AUTH_SERVER_NAME: &str = "teleport.cluster.local";

/// The largest input accepted (1 MiB); identity files are a few KiB.
pub const MAX_IDENTITY_FILE_SIZE: usize = 1024 * 1024;

/// The ALPN protocol the proxy routes to the Auth Service of `cluster_name`:
/// `teleport-auth@<lowercase hex of the UTF-8 name>.teleport.cluster.local`.
pub fn auth_alpn_protocol(cluster_name: &str) -> String {
    format!(
        "teleport-auth@{}.{AUTH_SERVER_NAME}",
        hex::encode(cluster_name.as_bytes())
    )
}

#[cfg(test)]
mod tests;
