//! Server certificate verification for the Auth Service, with a record of what a refused server
//! presented.
//!
//! Verification is done entirely by rustls' WebPKI verifier over the identity's host CAs; this
//! wrapper only remembers, when that verifier refuses a certificate, whose certificate it was.
//! That lets us tell "the proxy answered with its own web certificate" (TLS routing did not
//! happen) from "an Auth Service of another cluster answered" (wrong identity or rotated CA).

use std::fmt;
use std::sync::{Arc, Mutex};

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// What a server presented, summarised for an error message (no key material).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PresentedCertificate {
    /// DNS names and the subject CN.
    pub(crate) names: Vec<String>,
    /// The issuer's distinguished name.
    pub(crate) issuer: String,
}

impl PresentedCertificate {
    pub(crate) fn from_der(der: &[u8]) -> Self {
        match x509_parser::parse_x509_certificate(der) {
            Ok((_, cert)) => {
                let mut names: Vec<String> = cert
                    .subject()
                    .iter_common_name()
                    .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
                    .collect();
                if let Ok(Some(san)) = cert.subject_alternative_name() {
                    for name in &san.value.general_names {
                        if let x509_parser::extensions::GeneralName::DNSName(dns) = name
                            && !names.iter().any(|n| n == dns)
                        {
                            names.push((*dns).to_owned());
                        }
                    }
                }
                Self {
                    names,
                    issuer: cert.issuer().to_string(),
                }
            }
            Err(_) => Self {
                names: Vec::new(),
                issuer: "<unparsable certificate>".to_owned(),
            },
        }
    }

    /// Whether this is a Teleport Auth Service certificate (of some cluster).
    pub(crate) fn is_teleport_auth(&self) -> bool {
        self.names.iter().any(|name| {
            name == teleport_identity::AUTH_SERVER_NAME
                || name
                    .strip_prefix("*.")
                    .is_some_and(|rest| rest == teleport_identity::AUTH_SERVER_NAME)
        })
    }
}

impl fmt::Display for PresentedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.names.is_empty() {
            write!(f, "no names, issued by {}", self.issuer)
        } else {
            write!(
                f,
                "for {}, issued by {}",
                self.names.join(", "),
                self.issuer
            )
        }
    }
}

/// Delegates every decision to `inner`; records the end-entity certificate it refused.
pub(crate) struct RecordingVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    refused: Arc<Mutex<Option<PresentedCertificate>>>,
}

impl RecordingVerifier {
    pub(crate) fn new(
        inner: Arc<dyn ServerCertVerifier>,
        refused: Arc<Mutex<Option<PresentedCertificate>>>,
    ) -> Self {
        Self { inner, refused }
    }
}

impl fmt::Debug for RecordingVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingVerifier")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if verdict.is_err()
            && let Ok(mut slot) = self.refused.lock()
        {
            *slot = Some(PresentedCertificate::from_der(end_entity));
        }
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}
