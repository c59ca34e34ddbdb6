//! The private key: decoding the first PEM block, and keeping the key zeroized.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use rustls::sign::SigningKey;
use zeroize::{Zeroize as _, Zeroizing};

use crate::IdentityError;
use crate::provider::Chosen;
use crate::scan::PemBlock;

/// The PEM label Teleport uses for a reference to a key held on a YubiKey.
const HARDWARE_KEY_LABEL: &str = "PIV YUBIKEY PRIVATE KEY";

/// A private key that is wiped from memory when dropped. No `Clone`, no `Debug`.
pub(crate) struct SecretKey(PrivateKeyDer<'static>);

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl SecretKey {
    /// The key as `provider` loads it.
    pub(crate) fn signing_key(
        &self,
        provider: &Chosen,
    ) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        provider.load_key(&self.0)
    }
}

/// Rebuilds a block under a label the PEM decoder knows, so its body is decoded whatever the
/// file's label says (Teleport's reader does not trust labels either).
fn normalized_pem(label: &str, body: &[&str]) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(
        body.iter().map(|l| l.len() + 1).sum::<usize>() + 64,
    ));
    text.push_str("-----BEGIN ");
    text.push_str(label);
    text.push_str("-----\n");
    for line in body {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("-----END ");
    text.push_str(label);
    text.push_str("-----\n");
    text
}

/// Decodes a certificate block's base64.
pub(crate) fn decode_certificate(
    block: &PemBlock<'_>,
) -> Result<CertificateDer<'static>, IdentityError> {
    let text = normalized_pem("CERTIFICATE", &block.body);
    CertificateDer::from_pem_slice(text.as_bytes()).map_err(|_| IdentityError::InvalidBase64 {
        block: block.number,
        line: block.line,
    })
}

/// Decodes the key block: base64, then PKCS#8, PKCS#1 and SEC1 in turn whatever the label
/// says, keeping the first encoding `provider` accepts (RSA, ECDSA P-256/P-384, Ed25519).
pub(crate) fn decode_private_key(
    block: &PemBlock<'_>,
    provider: &Chosen,
) -> Result<SecretKey, IdentityError> {
    let unsupported = |reason| IdentityError::UnsupportedKey {
        block: block.number,
        line: block.line,
        label: block.label.to_string(),
        reason,
    };
    if block.label == HARDWARE_KEY_LABEL {
        return Err(IdentityError::HardwareKey {
            block: block.number,
            line: block.line,
        });
    }
    const ENCRYPTED: &str = "the key is encrypted; identity files carry unencrypted keys";
    // Legacy OpenSSL encryption headers would otherwise read as bad base64.
    if block.body.iter().any(|l| l.starts_with("Proc-Type:")) {
        return Err(unsupported(ENCRYPTED));
    }
    let text = normalized_pem("PRIVATE KEY", &block.body);
    let decoded = PrivatePkcs8KeyDer::from_pem_slice(text.as_bytes()).map_err(|_| {
        IdentityError::InvalidBase64 {
            block: block.number,
            line: block.line,
        }
    })?;
    let bytes = decoded.secret_pkcs8_der();
    let candidates = [
        SecretKey(PrivateKeyDer::Pkcs8(decoded.clone_key())),
        SecretKey(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(
            bytes.to_vec(),
        ))),
        SecretKey(PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(bytes.to_vec()))),
    ];
    let mut decoded = PrivateKeyDer::Pkcs8(decoded);
    decoded.zeroize();
    candidates
        .into_iter()
        .find(|candidate| candidate.signing_key(provider).is_ok())
        .ok_or_else(|| {
            unsupported(match block.label {
                label if label.contains("ENCRYPTED") => ENCRYPTED,
                "CERTIFICATE" => {
                    "the first PEM block must be the private key, as tctl auth sign writes it; found a certificate"
                }
                _ => {
                    "not a PKCS#8, PKCS#1 or SEC1 encoding of an RSA (2048 bits or more), ECDSA P-256/P-384 or Ed25519 key"
                }
            })
        })
}
