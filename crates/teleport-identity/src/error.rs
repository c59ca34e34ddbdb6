//! [`IdentityError`]: one variant per step of reading an identity file that can fail.
//!
//! Messages name the place (line, PEM block, path) and never quote the file's contents: an
//! identity file holds a private key, and error text ends up in logs.

use std::path::PathBuf;
use std::sync::Arc;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Why an identity file could not be read or used.
///
/// Lines and PEM blocks are numbered from 1. Blocks are counted in file order: block 1 is the
/// private key, block 2 the TLS user certificate, later blocks the TLS CA certificates.
///
/// `Clone` (the I/O error is shared), so a copy can be handed to every reader of one failure.
#[non_exhaustive]
#[derive(Clone, Debug, thiserror::Error)]
pub enum IdentityError {
    /// The input is empty or only whitespace.
    #[error("the identity file is empty")]
    Empty,

    /// The input is larger than any identity file (a few KiB); refused before scanning.
    #[error(
        "the identity file is {size} bytes, over the {limit}-byte limit: this is not an identity file"
    )]
    TooLarge {
        /// Size of the input in bytes (for a file: at least this much).
        size: u64,
        /// The limit, [`crate::MAX_IDENTITY_FILE_SIZE`].
        limit: usize,
    },

    /// The input is not UTF-8 text.
    #[error("the identity file is not UTF-8 text: invalid byte at offset {offset} (line {line})")]
    InvalidUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
        /// Line holding it.
        line: usize,
    },

    /// A line starts like a PEM boundary but is not `-----BEGIN <LABEL>-----` /
    /// `-----END <LABEL>-----`.
    #[error(
        "line {line} looks like a PEM boundary but is not of the form -----BEGIN LABEL----- or -----END LABEL-----"
    )]
    MalformedPemBoundary {
        /// The line.
        line: usize,
    },

    /// A PEM block has no `-----END` line before the end of the file or the next `-----BEGIN`.
    #[error("PEM block {block} (BEGIN on line {line}) has no matching -----END line")]
    UnterminatedPem {
        /// Block number.
        block: usize,
        /// Line of its BEGIN.
        line: usize,
    },

    /// A PEM block's END label differs from its BEGIN label.
    #[error(
        "PEM block {block}: line {line} ends it with label {end:?} but it began with {begin:?}"
    )]
    PemLabelMismatch {
        /// Block number.
        block: usize,
        /// Line of the END.
        line: usize,
        /// BEGIN label.
        begin: String,
        /// END label.
        end: String,
    },

    /// A PEM block's body is not valid base64.
    #[error("PEM block {block} (BEGIN on line {line}) is not valid base64")]
    InvalidBase64 {
        /// Block number.
        block: usize,
        /// Line of its BEGIN.
        line: usize,
    },

    /// No PEM block at all: there is no private key.
    #[error(
        "no private key: the identity file has no PEM block (expected the private key first, as tctl auth sign writes it)"
    )]
    NoPrivateKey,

    /// Only one PEM block: there is no TLS certificate.
    #[error(
        "no TLS certificate: the identity file has only one PEM block (the private key); expected the TLS user certificate as the second block (an SSH-only identity cannot reach the Auth Service's gRPC API: issue one with tctl auth sign --format=file)"
    )]
    NoCertificate,

    /// The first PEM block is not a usable private key.
    #[error(
        "PEM block {block} (line {line}, label {label:?}) is not a usable private key: {reason}"
    )]
    UnsupportedKey {
        /// Block number (always 1).
        block: usize,
        /// Line of its BEGIN.
        line: usize,
        /// The block's label.
        label: String,
        /// Why.
        reason: &'static str,
    },

    /// The private key is a reference to a key held on a YubiKey (`PIV YUBIKEY PRIVATE KEY`).
    #[error(
        "PEM block {block} (line {line}) is a hardware key reference (PIV YUBIKEY PRIVATE KEY): the key never leaves the YubiKey and cannot be used here; issue a software-key identity with `tctl auth sign --format=file`"
    )]
    HardwareKey {
        /// Block number.
        block: usize,
        /// Line of its BEGIN.
        line: usize,
    },

    /// A certificate block does not parse as X.509.
    #[error("PEM block {block} (line {line}) is not a valid X.509 certificate: {reason}")]
    InvalidCertificate {
        /// Block number.
        block: usize,
        /// Line of its BEGIN.
        line: usize,
        /// The parser's reason.
        reason: String,
    },

    /// DER given to [`crate::parse_teleport_certificate`] is not a valid X.509 certificate.
    #[error("not a valid X.509 certificate: {reason}")]
    InvalidCertificateDer {
        /// The parser's reason.
        reason: String,
    },

    /// A TLS CA entry is not a CA certificate (no basicConstraints CA:TRUE).
    #[error(
        "PEM block {block} (line {line}) is listed as a CA but is not a CA certificate (basicConstraints CA is not TRUE)"
    )]
    NotACa {
        /// Block number.
        block: usize,
        /// Line of its BEGIN.
        line: usize,
    },

    /// The private key is not the key of the TLS certificate.
    #[error(
        "the private key (PEM block {key_block}) does not match the TLS certificate (PEM block {cert_block}): the file mixes pieces of different identities"
    )]
    KeyMismatch {
        /// The key's block.
        key_block: usize,
        /// The certificate's block.
        cert_block: usize,
    },

    /// The certificate has expired.
    #[error("the identity expired at {} (now {}): issue a new one with tctl auth sign", rfc3339(.not_after), rfc3339(.now))]
    Expired {
        /// The certificate's NotAfter.
        not_after: OffsetDateTime,
        /// The time checked against.
        now: OffsetDateTime,
    },

    /// The certificate is not valid yet (often a clock set wrong).
    #[error("the identity is not valid before {} (now {}): check this machine's clock", rfc3339(.not_before), rfc3339(.now))]
    NotYetValid {
        /// The certificate's NotBefore.
        not_before: OffsetDateTime,
        /// The time checked against.
        now: OffsetDateTime,
    },

    /// The certificate names no user (empty subject CN).
    #[error(
        "the TLS certificate names no user (empty subject common name): not a Teleport user certificate"
    )]
    MissingUsername,

    /// The certificate names no cluster: no 1.3.9999.1.7 attribute and no issuer O.
    #[error(
        "the TLS certificate names no cluster (no subject attribute 1.3.9999.1.7 and no issuer organization): not a Teleport user certificate"
    )]
    MissingClusterName,

    /// A subject attribute Teleport writes as a string is not a readable string.
    #[error("the TLS certificate's subject attribute {attribute} is not a readable string")]
    InvalidSubjectAttribute {
        /// Attribute name (`CN`, `O`, ...) or OID.
        attribute: &'static str,
    },

    /// The SSH certificate line is malformed.
    #[error("line {line}: the SSH certificate is malformed: {reason}")]
    InvalidSshCertificate {
        /// The line.
        line: usize,
        /// Why.
        reason: String,
    },

    /// An `@cert-authority` line is malformed.
    #[error("line {line}: the @cert-authority entry is malformed: {reason}")]
    InvalidSshCa {
        /// The line.
        line: usize,
        /// Why.
        reason: String,
    },

    /// The file carries no TLS CA certificate, so the Auth Service cannot be verified.
    #[error(
        "the identity file carries no TLS CA certificate: the Auth Service's certificate cannot be verified"
    )]
    NoTrustedCa,

    /// No rustls crypto provider: this crate was built without the `ring` and `aws-lc-rs`
    /// features and the application installed no process-wide provider (see
    /// [`crate::crypto_provider`]).
    #[error(
        "no TLS crypto provider: built without the ring and aws-lc-rs features, and no process-wide rustls CryptoProvider is installed"
    )]
    NoCryptoProvider,

    /// rustls refused the credentials.
    #[error("could not build the TLS client configuration")]
    TlsConfig {
        /// rustls' reason.
        #[source]
        source: rustls::Error,
    },

    /// The identity file could not be read.
    #[error("could not read the identity file {}", .path.display())]
    ReadFile {
        /// The path given; only its length (`<N bytes, not shown>`) when it
        /// [looks like a secret](crate::secret_text::looks_like_secret), e.g. the identity
        /// file's text given where its path belongs.
        path: PathBuf,
        /// The I/O error (shared, so that the error is `Clone`).
        #[source]
        source: Arc<std::io::Error>,
    },
}

fn rfc3339(at: &OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

impl IdentityError {
    /// Whether retrying the same operation could succeed. Never: the file must change.
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// Whether the credentials themselves are unusable (expired, not yet valid, key and
    /// certificate from different identities, hardware-bound key), as opposed to a damaged or
    /// unreadable file.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            IdentityError::Expired { .. }
                | IdentityError::NotYetValid { .. }
                | IdentityError::KeyMismatch { .. }
                | IdentityError::HardwareKey { .. }
        )
    }

    /// A stable snake_case identifier of the variant, for metrics and machine-readable output.
    pub fn code(&self) -> &'static str {
        match self {
            IdentityError::Empty => "empty",
            IdentityError::TooLarge { .. } => "too_large",
            IdentityError::InvalidUtf8 { .. } => "invalid_utf8",
            IdentityError::MalformedPemBoundary { .. } => "malformed_pem_boundary",
            IdentityError::UnterminatedPem { .. } => "unterminated_pem",
            IdentityError::PemLabelMismatch { .. } => "pem_label_mismatch",
            IdentityError::InvalidBase64 { .. } => "invalid_base64",
            IdentityError::NoPrivateKey => "no_private_key",
            IdentityError::NoCertificate => "no_certificate",
            IdentityError::UnsupportedKey { .. } => "unsupported_key",
            IdentityError::HardwareKey { .. } => "hardware_key",
            IdentityError::InvalidCertificate { .. }
            | IdentityError::InvalidCertificateDer { .. } => "invalid_certificate",
            IdentityError::NotACa { .. } => "not_a_ca",
            IdentityError::KeyMismatch { .. } => "key_mismatch",
            IdentityError::Expired { .. } => "expired",
            IdentityError::NotYetValid { .. } => "not_yet_valid",
            IdentityError::MissingUsername => "missing_username",
            IdentityError::MissingClusterName => "missing_cluster_name",
            IdentityError::InvalidSubjectAttribute { .. } => "invalid_subject_attribute",
            IdentityError::InvalidSshCertificate { .. } => "invalid_ssh_certificate",
            IdentityError::InvalidSshCa { .. } => "invalid_ssh_ca",
            IdentityError::NoTrustedCa => "no_trusted_ca",
            IdentityError::NoCryptoProvider => "no_crypto_provider",
            IdentityError::TlsConfig { .. } => "tls_config",
            IdentityError::ReadFile { .. } => "read_file",
        }
    }
}
