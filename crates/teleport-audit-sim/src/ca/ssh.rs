//! OpenSSH wire encoding (RFC 4251 section 5, OpenSSH PROTOCOL.certkeys) for the identity
//! file's SSH user certificate and `@cert-authority` lines.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

use super::der;

/// An SSH public key: its algorithm name and its wire blob.
#[derive(Clone, Debug)]
pub(crate) struct PublicKey {
    pub(crate) algorithm: &'static str,
    pub(crate) blob: Vec<u8>,
}

/// Appends an SSH `string` (uint32 length + bytes).
fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    // Everything we encode is a few KiB at most.
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

impl PublicKey {
    pub(crate) fn ed25519(raw: &[u8]) -> PublicKey {
        let mut blob = Vec::new();
        put_string(&mut blob, b"ssh-ed25519");
        put_string(&mut blob, raw);
        PublicKey {
            algorithm: "ssh-ed25519",
            blob,
        }
    }

    /// `curve` is `nistp256` or `nistp384`; `point` the uncompressed point.
    pub(crate) fn ecdsa(curve: &'static str, point: &[u8]) -> PublicKey {
        let algorithm = match curve {
            "nistp384" => "ecdsa-sha2-nistp384",
            _ => "ecdsa-sha2-nistp256",
        };
        let mut blob = Vec::new();
        put_string(&mut blob, algorithm.as_bytes());
        put_string(&mut blob, curve.as_bytes());
        put_string(&mut blob, point);
        PublicKey { algorithm, blob }
    }

    /// From a PKCS#1 `RSAPublicKey` DER. A DER INTEGER's content is already the minimal
    /// two's-complement big-endian form an SSH `mpint` wants.
    pub(crate) fn rsa_from_pkcs1(pkcs1: &[u8]) -> Option<PublicKey> {
        let (fields, _) = der::expect(pkcs1, der::TAG_SEQUENCE)?;
        let (n, fields) = der::expect(fields, der::TAG_INTEGER)?;
        let (e, _) = der::expect(fields, der::TAG_INTEGER)?;
        let mut blob = Vec::new();
        put_string(&mut blob, b"ssh-rsa");
        put_string(&mut blob, e);
        put_string(&mut blob, n);
        Some(PublicKey {
            algorithm: "ssh-rsa",
            blob,
        })
    }

    /// The key's public fields: the blob without its leading algorithm string.
    fn fields(&self) -> &[u8] {
        &self.blob[4 + self.algorithm.len()..]
    }

    /// `<algorithm> <base64>`, as in `authorized_keys` / `known_hosts`.
    pub(crate) fn to_line(&self) -> String {
        format!("{} {}", self.algorithm, STANDARD.encode(&self.blob))
    }
}

/// An SSH certificate authority key (Ed25519, as Teleport's v17+ `balanced` suite uses).
pub(crate) struct CaKey {
    key: Ed25519KeyPair,
}

impl std::fmt::Debug for CaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaKey")
            .field("public", &self.public().to_line())
            .finish()
    }
}

impl CaKey {
    pub(crate) fn generate() -> Result<CaKey, ring::error::Unspecified> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)?;
        let key =
            Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| ring::error::Unspecified)?;
        Ok(CaKey { key })
    }

    pub(crate) fn public(&self) -> PublicKey {
        PublicKey::ed25519(self.key.public_key().as_ref())
    }
}

/// What goes into a user certificate.
#[derive(Debug)]
pub(crate) struct UserCertificate<'a> {
    pub(crate) key: &'a PublicKey,
    pub(crate) serial: u64,
    pub(crate) key_id: &'a str,
    pub(crate) principals: &'a [String],
    pub(crate) valid_after: u64,
    pub(crate) valid_before: u64,
    /// `(name, value)`; an empty value is a flag. Sorted by name on output.
    pub(crate) extensions: Vec<(&'a str, String)>,
}

impl UserCertificate<'_> {
    /// The certificate type name, e.g. `ssh-ed25519-cert-v01@openssh.com`.
    pub(crate) fn type_name(&self) -> String {
        format!("{}-cert-v01@openssh.com", self.key.algorithm)
    }

    /// Signs the certificate and returns its `authorized_keys`-style line.
    pub(crate) fn sign(&self, ca: &CaKey, nonce: &[u8]) -> String {
        let type_name = self.type_name();
        let mut body = Vec::new();
        put_string(&mut body, type_name.as_bytes());
        put_string(&mut body, nonce);
        body.extend_from_slice(self.key.fields());
        body.extend_from_slice(&self.serial.to_be_bytes());
        body.extend_from_slice(&1u32.to_be_bytes()); // SSH_CERT_TYPE_USER
        put_string(&mut body, self.key_id.as_bytes());
        let mut principals = Vec::new();
        for principal in self.principals {
            put_string(&mut principals, principal.as_bytes());
        }
        put_string(&mut body, &principals);
        body.extend_from_slice(&self.valid_after.to_be_bytes());
        body.extend_from_slice(&self.valid_before.to_be_bytes());
        put_string(&mut body, &[]); // critical options
        let mut extensions = self.extensions.clone();
        extensions.sort_by(|a, b| a.0.cmp(b.0));
        let mut encoded = Vec::new();
        for (name, value) in &extensions {
            put_string(&mut encoded, name.as_bytes());
            let mut data = Vec::new();
            if !value.is_empty() {
                put_string(&mut data, value.as_bytes());
            }
            put_string(&mut encoded, &data);
        }
        put_string(&mut body, &encoded);
        put_string(&mut body, &[]); // reserved
        put_string(&mut body, &ca.public().blob);
        let signature = ca.key.sign(&body);
        let mut signature_blob = Vec::new();
        put_string(&mut signature_blob, b"ssh-ed25519");
        put_string(&mut signature_blob, signature.as_ref());
        put_string(&mut body, &signature_blob);
        format!("{type_name} {}", STANDARD.encode(&body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ED25519, UnparsedPublicKey};

    /// Reads SSH `string`s back, to check the layout independently of the writer.
    fn take_string(input: &mut &[u8]) -> Vec<u8> {
        let (len, rest) = input.split_at(4);
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        let (value, rest) = rest.split_at(len);
        *input = rest;
        value.to_vec()
    }

    fn take_u64(input: &mut &[u8]) -> u64 {
        let (value, rest) = input.split_at(8);
        *input = rest;
        u64::from_be_bytes(value.try_into().unwrap())
    }

    #[test]
    fn user_certificate_layout_and_signature() {
        let ca = CaKey::generate().unwrap();
        let subject = CaKey::generate().unwrap().public();
        let principals = vec!["root".to_string(), "alice".to_string()];
        let cert = UserCertificate {
            key: &subject,
            serial: 7,
            key_id: "alice",
            principals: &principals,
            valid_after: 100,
            valid_before: 200,
            extensions: vec![
                ("permit-pty", String::new()),
                ("permit-agent-forwarding", String::new()),
            ],
        };
        let line = cert.sign(&ca, &[9u8; 32]);
        let (name, b64) = line.split_once(' ').unwrap();
        assert_eq!(name, "ssh-ed25519-cert-v01@openssh.com");
        let blob = STANDARD.decode(b64).unwrap();
        let mut rest = &blob[..];
        assert_eq!(take_string(&mut rest), b"ssh-ed25519-cert-v01@openssh.com");
        assert_eq!(take_string(&mut rest), [9u8; 32]);
        let pk = take_string(&mut rest);
        assert_eq!(pk.len(), 32);
        assert_eq!(take_u64(&mut rest), 7);
        let (cert_type, after) = rest.split_at(4);
        assert_eq!(cert_type, [0, 0, 0, 1]);
        rest = after;
        assert_eq!(take_string(&mut rest), b"alice");
        let mut principals_blob = &take_string(&mut rest)[..];
        assert_eq!(take_string(&mut principals_blob), b"root");
        assert_eq!(take_string(&mut principals_blob), b"alice");
        assert_eq!(take_u64(&mut rest), 100);
        assert_eq!(take_u64(&mut rest), 200);
        assert!(take_string(&mut rest).is_empty());
        let mut extensions = &take_string(&mut rest)[..];
        assert_eq!(take_string(&mut extensions), b"permit-agent-forwarding");
        assert!(take_string(&mut extensions).is_empty());
        assert_eq!(take_string(&mut extensions), b"permit-pty");
        assert!(take_string(&mut extensions).is_empty());
        assert!(take_string(&mut rest).is_empty());
        assert_eq!(take_string(&mut rest), ca.public().blob);
        let signed_len = blob.len() - rest.len();
        let mut signature = &take_string(&mut rest)[..];
        assert!(rest.is_empty());
        assert_eq!(take_string(&mut signature), b"ssh-ed25519");
        let sig = take_string(&mut signature);
        let mut ca_blob = &ca.public().blob[..];
        let _ = take_string(&mut ca_blob);
        let ca_raw = take_string(&mut ca_blob);
        UnparsedPublicKey::new(&ED25519, ca_raw)
            .verify(&blob[..signed_len], &sig)
            .expect("signature verifies");
    }

    #[test]
    fn rsa_public_key_from_pkcs1() {
        let pkcs1 = der::sequence(&[
            der::unsigned_integer(&[0xc1, 0x02]),
            der::unsigned_integer(&[1, 0, 1]),
        ]);
        let key = PublicKey::rsa_from_pkcs1(&pkcs1).unwrap();
        let mut rest = &key.blob[..];
        assert_eq!(take_string(&mut rest), b"ssh-rsa");
        assert_eq!(take_string(&mut rest), [1, 0, 1]);
        assert_eq!(
            take_string(&mut rest),
            [0x00, 0xc1, 0x02],
            "mpint keeps the sign byte"
        );
        assert!(rest.is_empty());
    }
}
