//! [`IdentitySummary`]: what an identity is, without its secret.

use std::fmt;

use time::OffsetDateTime;

/// The key algorithm of an identity.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// Modulus size.
        bits: usize,
    },
    /// ECDSA on P-256.
    EcdsaP256,
    /// ECDSA on P-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyAlgorithm::EcdsaP256 => f.write_str("ECDSA-P256"),
            KeyAlgorithm::EcdsaP384 => f.write_str("ECDSA-P384"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

impl serde::Serialize for KeyAlgorithm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What an identity file holds, minus the private key: safe to print and log.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IdentitySummary {
    /// Teleport user.
    pub username: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Principals (logins).
    pub principals: Vec<String>,
    /// Cluster that issued the certificate.
    pub cluster_name: String,
    /// Route-to-cluster, when the certificate targets a leaf cluster.
    pub route_to_cluster: Option<String>,
    /// Usage restrictions (certificate OU); the Auth API refuses restricted certificates.
    pub usage: Vec<String>,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Key algorithm.
    pub key_algorithm: KeyAlgorithm,
    /// Number of TLS CA certificates (the cluster's host CAs).
    pub tls_ca_count: usize,
    /// Number of `@cert-authority` lines.
    pub ssh_ca_count: usize,
    /// Whether the file has an SSH certificate (not needed here: only TLS is used).
    pub has_ssh_certificate: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_algorithm_names() {
        assert_eq!(KeyAlgorithm::Rsa { bits: 2048 }.to_string(), "RSA-2048");
        assert_eq!(KeyAlgorithm::EcdsaP256.to_string(), "ECDSA-P256");
        assert_eq!(KeyAlgorithm::EcdsaP384.to_string(), "ECDSA-P384");
        assert_eq!(KeyAlgorithm::Ed25519.to_string(), "Ed25519");
        assert_eq!(
            serde_json::to_string(&KeyAlgorithm::Rsa { bits: 4096 }).unwrap(),
            "\"RSA-4096\""
        );
    }
}
