//! The certificate a real proxy presents when no `https_keypairs` are configured: self-signed,
//! `CA:TRUE`, for `localhost` (measured on Teleport 13.3.8; see docs/real-teleport-findings.md).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::SimError;

/// A self-signed CA certificate used as the web server's own certificate, its PEM and key.
pub(crate) fn self_signed_ca_as_server()
-> Result<(CertificateDer<'static>, String, PrivateKeyDer<'static>), SimError> {
    let fail = |source| SimError::WebCertificate { source };
    let key = KeyPair::generate().map_err(fail)?;
    let names = ["localhost", "localhost.local", "127.0.0.1", "::1"].map(String::from);
    let mut params = CertificateParams::new(names.to_vec()).map_err(fail)?;
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, "localhost");
    subject.push(DnType::OrganizationName, "localhost");
    subject.push(DnType::CountryName, "US");
    params.distinguished_name = subject;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    let cert = params.self_signed(&key).map_err(fail)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((cert.der().clone(), cert.pem(), key))
}
