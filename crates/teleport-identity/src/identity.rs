//! [`Identity`]: a parsed, checked identity file.

use std::fmt;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::key::{self, SecretKey};
use crate::provider::Chosen;
use crate::summary::IdentitySummary;
use crate::{IdentityError, MAX_IDENTITY_FILE_SIZE, cert, scan, ssh};

/// Credentials from a Teleport identity file (`tctl auth sign --format=file`): the private key,
/// the TLS user certificate, and the cluster's TLS host CAs.
///
/// Not `Clone` (it holds a private key, wiped from memory on drop). `Debug` prints the
/// [`IdentitySummary`] with the key redacted.
pub struct Identity {
    summary: IdentitySummary,
    key: SecretKey,
    certificate: CertificateDer<'static>,
    tls_cas: Vec<CertificateDer<'static>>,
    roots: Arc<RootCertStore>,
    /// The crypto provider the key was loaded with; TLS configurations use the same one.
    provider: Chosen,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("summary", &self.summary)
            .field("private_key", &format_args!("<redacted>"))
            .finish()
    }
}

impl Identity {
    /// Parses an identity file's text (what a secret store or an environment variable holds).
    ///
    /// # Errors
    /// The [`IdentityError`] of the first step that fails, naming the line or PEM block: size,
    /// PEM structure, key, certificate, key/certificate match, CA certificates, SSH lines.
    /// Validity is not checked here: see [`Identity::check_validity`].
    pub fn from_identity_str(text: &str) -> Result<Identity, IdentityError> {
        check_size(text.len() as u64)?;
        if text.trim().is_empty() {
            return Err(IdentityError::Empty);
        }
        parse(text)
    }

    /// Parses an identity file's bytes (must be UTF-8).
    ///
    /// # Errors
    /// As [`Identity::from_identity_str`], plus [`IdentityError::InvalidUtf8`]. The size limit
    /// is checked before anything is scanned.
    pub fn from_identity_bytes(bytes: &[u8]) -> Result<Identity, IdentityError> {
        check_size(bytes.len() as u64)?;
        let text = std::str::from_utf8(bytes).map_err(|err| {
            let offset = err.valid_up_to();
            let line = 1 + bytes[..offset].iter().filter(|b| **b == b'\n').count();
            IdentityError::InvalidUtf8 { offset, line }
        })?;
        Identity::from_identity_str(text)
    }

    /// Reads and parses an identity file. At most [`MAX_IDENTITY_FILE_SIZE`] + 1 bytes are read.
    ///
    /// # Errors
    /// [`IdentityError::ReadFile`] (with the path) when the file cannot be read;
    /// [`IdentityError::TooLarge`]; otherwise as [`Identity::from_identity_bytes`].
    pub fn from_identity_file(path: impl AsRef<Path>) -> Result<Identity, IdentityError> {
        let path = path.as_ref();
        let read_error = |source| IdentityError::ReadFile {
            path: crate::secret_text::shown_path(path),
            source: std::sync::Arc::new(source),
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        if let Ok(metadata) = file.metadata() {
            check_size(metadata.len())?;
        }
        let mut bytes = zeroize::Zeroizing::new(Vec::new());
        file.take(MAX_IDENTITY_FILE_SIZE as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        Identity::from_identity_bytes(&bytes)
    }

    /// What the identity is: user, roles, cluster, validity, key algorithm, CA counts.
    pub fn summary(&self) -> &IdentitySummary {
        &self.summary
    }

    /// The cluster that issued the certificate.
    pub fn cluster_name(&self) -> &str {
        &self.summary.cluster_name
    }

    /// Checks the certificate's validity against the current time.
    ///
    /// # Errors
    /// [`IdentityError::Expired`] or [`IdentityError::NotYetValid`].
    pub fn check_validity(&self) -> Result<(), IdentityError> {
        self.check_validity_at(OffsetDateTime::now_utc())
    }

    /// Checks the certificate's validity at `now`.
    ///
    /// # Errors
    /// [`IdentityError::Expired`] when `now` is after NotAfter, [`IdentityError::NotYetValid`]
    /// when it is before NotBefore.
    pub fn check_validity_at(&self, now: OffsetDateTime) -> Result<(), IdentityError> {
        if now > self.summary.not_after {
            return Err(IdentityError::Expired {
                not_after: self.summary.not_after,
                now,
            });
        }
        if now < self.summary.not_before {
            return Err(IdentityError::NotYetValid {
                not_before: self.summary.not_before,
                now,
            });
        }
        Ok(())
    }

    /// The TLS user certificate (DER).
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.certificate
    }

    /// The TLS CA certificates the file carries (the cluster's host CAs), in file order.
    pub fn tls_ca_certificates(&self) -> &[CertificateDer<'static>] {
        &self.tls_cas
    }

    pub(crate) fn key(&self) -> &SecretKey {
        &self.key
    }

    /// The root store built from [`Self::tls_ca_certificates`]: what verifies the Auth Service.
    pub fn tls_root_store(&self) -> &Arc<RootCertStore> {
        &self.roots
    }

    /// The crypto provider the key was loaded with (see [`crate::crypto_provider`]).
    pub(crate) fn provider(&self) -> &Chosen {
        &self.provider
    }
}

fn check_size(size: u64) -> Result<(), IdentityError> {
    if size > MAX_IDENTITY_FILE_SIZE as u64 {
        return Err(IdentityError::TooLarge {
            size,
            limit: MAX_IDENTITY_FILE_SIZE,
        });
    }
    Ok(())
}

fn parse(text: &str) -> Result<Identity, IdentityError> {
    let scanned = scan::scan(text)?;
    let mut blocks = scanned.blocks.iter();
    let key_block = blocks.next().ok_or(IdentityError::NoPrivateKey)?;
    let cert_block = blocks.next().ok_or(IdentityError::NoCertificate)?;

    let provider = Chosen::now()?;
    let key = key::decode_private_key(key_block, &provider)?;

    let invalid_certificate =
        |block: &scan::PemBlock<'_>, reason: String| IdentityError::InvalidCertificate {
            block: block.number,
            line: block.line,
            reason,
        };
    let certificate = key::decode_certificate(cert_block)?;
    let parsed =
        cert::parse(&certificate).map_err(|reason| invalid_certificate(cert_block, reason))?;
    let info = cert::cert_info(&parsed)?;
    let key_mismatch = || IdentityError::KeyMismatch {
        key_block: key_block.number,
        cert_block: cert_block.number,
    };
    let signing_key = key
        .signing_key(&provider)
        .map_err(|source| IdentityError::TlsConfig { source })?;
    match signing_key.public_key() {
        Some(spki) if spki.as_ref() == parsed.public_key().raw => {}
        _ => return Err(key_mismatch()),
    }
    // The key parsed and matches the certificate, so this only fails on exotic encodings.
    let key_algorithm =
        cert::key_algorithm(&parsed).ok_or_else(|| IdentityError::UnsupportedKey {
            block: key_block.number,
            line: key_block.line,
            label: key_block.label.to_string(),
            reason: "the certificate's key algorithm is not RSA, ECDSA P-256/P-384 or Ed25519",
        })?;

    let mut tls_cas = Vec::new();
    let mut roots = RootCertStore::empty();
    for block in blocks {
        let der = key::decode_certificate(block)?;
        let ca = cert::parse(&der).map_err(|reason| invalid_certificate(block, reason))?;
        if !cert::is_ca(&ca) {
            return Err(IdentityError::NotACa {
                block: block.number,
                line: block.line,
            });
        }
        roots
            .add(der.clone())
            .map_err(|err| invalid_certificate(block, err.to_string()))?;
        tls_cas.push(der);
    }

    for line in &scanned.ssh_certificates {
        ssh::check_certificate(line)?;
    }
    for line in &scanned.ssh_cas {
        ssh::check_ca(line)?;
    }

    let summary = IdentitySummary {
        username: info.username,
        roles: info.roles,
        principals: info.principals,
        cluster_name: info.cluster_name,
        route_to_cluster: info.route_to_cluster,
        usage: info.usage,
        not_before: info.not_before,
        not_after: info.not_after,
        key_algorithm,
        tls_ca_count: tls_cas.len(),
        ssh_ca_count: scanned.ssh_cas.len(),
        has_ssh_certificate: !scanned.ssh_certificates.is_empty(),
    };
    Ok(Identity {
        summary,
        key,
        certificate,
        tls_cas,
        roots: Arc::new(roots),
        provider,
    })
}
