//! Reading Teleport's fields out of X.509 certificates.
//!
//! Teleport (`lib/tlsca`, `Identity.Subject`) encodes a user in the certificate subject:
//! CN = user name, O = roles, OU = usage restrictions, L = principals, STREET =
//! route-to-cluster, POSTALCODE = traits (JSON), and the issuing cluster's name as the subject
//! attribute 1.3.9999.1.7. Certificates without that attribute name the cluster in the issuer's
//! O (Teleport's CA subjects are CN = O = cluster name).

use time::OffsetDateTime;
use x509_parser::oid_registry;
use x509_parser::prelude::{AttributeTypeAndValue, FromDer as _, X509Certificate, X509Name};
use x509_parser::public_key::PublicKey;

use crate::IdentityError;
use crate::summary::KeyAlgorithm;

/// Teleport's subject attribute for the issuing cluster (`TeleportClusterASN1ExtensionOID`).
pub const CLUSTER_NAME_OID: &str = "1.3.9999.1.7";

const OID_STREET_ADDRESS: &str = "2.5.4.9";
const OID_ED25519: &str = "1.3.101.112";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";

/// The Teleport identity a certificate carries.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CertInfo {
    /// Teleport user (subject CN).
    pub username: String,
    /// Roles (subject O).
    pub roles: Vec<String>,
    /// Principals / logins (subject L).
    pub principals: Vec<String>,
    /// Issuing cluster (attribute 1.3.9999.1.7, else the issuer's O).
    pub cluster_name: String,
    /// Route-to-cluster (subject STREET), `None` when empty.
    pub route_to_cluster: Option<String>,
    /// Usage restrictions (subject OU, e.g. `usage:apps`); the Auth API refuses restricted
    /// certificates.
    pub usage: Vec<String>,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

/// Reads the Teleport user, roles, cluster and validity from a DER certificate (for example
/// the client certificate a server received).
///
/// # Errors
/// [`IdentityError::InvalidCertificateDer`] when `der` is not X.509;
/// [`IdentityError::MissingUsername`], [`IdentityError::MissingClusterName`] or
/// [`IdentityError::InvalidSubjectAttribute`] when it is not a Teleport user certificate.
pub fn parse_teleport_certificate(der: &[u8]) -> Result<CertInfo, IdentityError> {
    let certificate =
        parse(der).map_err(|reason| IdentityError::InvalidCertificateDer { reason })?;
    cert_info(&certificate)
}

/// Parses a whole DER certificate (trailing bytes are an error).
pub(crate) fn parse(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    match X509Certificate::from_der(der) {
        Ok((rest, _)) if !rest.is_empty() => Err(format!(
            "{} unexpected bytes after the certificate",
            rest.len()
        )),
        Ok((_, certificate)) => Ok(certificate),
        Err(err) => Err(err.to_string()),
    }
}

/// Every string value of one attribute type, in order.
fn strings<'a>(
    name: &X509Name<'a>,
    matches: impl Fn(&AttributeTypeAndValue<'a>) -> bool,
    attribute: &'static str,
) -> Result<Vec<String>, IdentityError> {
    name.iter_attributes()
        .filter(|attr| matches(attr))
        .map(|attr| {
            attr.as_str()
                .map(str::to_string)
                .map_err(|_| IdentityError::InvalidSubjectAttribute { attribute })
        })
        .collect()
}

fn by_oid<'a>(oid: &'static str) -> impl Fn(&AttributeTypeAndValue<'a>) -> bool {
    move |attr| attr.attr_type().to_id_string() == oid
}

pub(crate) fn cert_info(certificate: &X509Certificate<'_>) -> Result<CertInfo, IdentityError> {
    let subject = certificate.subject();
    let common_name =
        |a: &AttributeTypeAndValue<'_>| a.attr_type() == &oid_registry::OID_X509_COMMON_NAME;
    let username = strings(subject, common_name, "CN")?
        .into_iter()
        .next()
        .unwrap_or_default();
    if username.is_empty() {
        return Err(IdentityError::MissingUsername);
    }
    let organization =
        |a: &AttributeTypeAndValue<'_>| a.attr_type() == &oid_registry::OID_X509_ORGANIZATION_NAME;
    let roles = strings(subject, organization, "O")?;
    let usage = strings(
        subject,
        |a| a.attr_type() == &oid_registry::OID_X509_ORGANIZATIONAL_UNIT,
        "OU",
    )?;
    let principals = strings(
        subject,
        |a| a.attr_type() == &oid_registry::OID_X509_LOCALITY_NAME,
        "L",
    )?;
    let route_to_cluster = strings(subject, by_oid(OID_STREET_ADDRESS), "STREET")?
        .into_iter()
        .find(|route| !route.is_empty());
    let cluster_name = match strings(subject, by_oid(CLUSTER_NAME_OID), CLUSTER_NAME_OID)?
        .into_iter()
        .find(|name| !name.is_empty())
    {
        Some(name) => name,
        None => strings(certificate.issuer(), organization, "issuer O")?
            .into_iter()
            .find(|name| !name.is_empty())
            .ok_or(IdentityError::MissingClusterName)?,
    };
    let validity = certificate.validity();
    Ok(CertInfo {
        username,
        roles,
        principals,
        cluster_name,
        route_to_cluster,
        usage,
        not_before: validity.not_before.to_datetime(),
        not_after: validity.not_after.to_datetime(),
    })
}

/// The algorithm of a certificate's public key, when it is one we support.
pub(crate) fn key_algorithm(certificate: &X509Certificate<'_>) -> Option<KeyAlgorithm> {
    let spki = certificate.public_key();
    let algorithm = spki.algorithm.algorithm.to_id_string();
    if algorithm == OID_ED25519 {
        return Some(KeyAlgorithm::Ed25519);
    }
    match spki.parsed().ok()? {
        PublicKey::RSA(rsa) => Some(KeyAlgorithm::Rsa {
            bits: rsa.key_size(),
        }),
        PublicKey::EC(_) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()?
                .as_oid()
                .ok()?
                .to_id_string();
            match curve.as_str() {
                OID_P256 => Some(KeyAlgorithm::EcdsaP256),
                OID_P384 => Some(KeyAlgorithm::EcdsaP384),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether a certificate is a CA (basicConstraints CA:TRUE).
pub(crate) fn is_ca(certificate: &X509Certificate<'_>) -> bool {
    matches!(certificate.basic_constraints(), Ok(Some(constraints)) if constraints.value.ca)
}
