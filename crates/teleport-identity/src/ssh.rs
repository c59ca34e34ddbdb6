//! Light checks of the SSH lines: we only use TLS, but a damaged SSH line means a damaged file,
//! and saying so early beats a confusing failure elsewhere.
//!
//! Checked: the base64 decodes, and the blob's leading key-type string agrees with the line's
//! type token. Signatures and validity are not checked.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::IdentityError;
use crate::scan::Line;

/// The first SSH `string` of a wire blob (uint32 length, bytes).
fn leading_string(blob: &[u8]) -> Option<&[u8]> {
    let (len, rest) = blob.split_first_chunk::<4>()?;
    rest.get(..usize::try_from(u32::from_be_bytes(*len)).ok()?)
}

/// Decodes `data` and checks the blob's type string against `expected` (or its alias).
fn check_blob(expected: &str, data: Option<&str>) -> Result<(), String> {
    let data = data.ok_or("no base64 key data after the type")?;
    let blob = STANDARD
        .decode(data)
        .map_err(|_| "the key data is not valid base64".to_string())?;
    let found = leading_string(&blob).ok_or("the key data is too short to hold a key type")?;
    if found == expected.as_bytes()
        || rsa_sha2_alias(expected).is_some_and(|a| found == a.as_bytes())
    {
        Ok(())
    } else {
        Err(format!(
            "the line says {expected} but the key data holds {}",
            String::from_utf8_lossy(&found[..found.len().min(64)])
        ))
    }
}

/// `rsa-sha2-256[-cert-v01@openssh.com]` and `rsa-sha2-512...` name RSA signature algorithms;
/// the blob itself says `ssh-rsa[...]`.
fn rsa_sha2_alias(token: &str) -> Option<String> {
    ["rsa-sha2-256", "rsa-sha2-512"]
        .iter()
        .find_map(|prefix| token.strip_prefix(prefix))
        .map(|rest| format!("ssh-rsa{rest}"))
}

/// `<type>-cert-v01@openssh.com <base64> [comment]`.
pub(crate) fn check_certificate(line: &Line<'_>) -> Result<(), IdentityError> {
    let mut tokens = line.text.split_whitespace();
    let cert_type = tokens.next().unwrap_or_default();
    check_blob(cert_type, tokens.next()).map_err(|reason| IdentityError::InvalidSshCertificate {
        line: line.number,
        reason,
    })
}

/// `@cert-authority <hosts> <key type> <base64> [comment]`.
pub(crate) fn check_ca(line: &Line<'_>) -> Result<(), IdentityError> {
    let invalid = |reason: String| IdentityError::InvalidSshCa {
        line: line.number,
        reason,
    };
    let mut tokens = line.text.split_whitespace();
    if tokens.next() != Some("@cert-authority") {
        return Err(invalid(
            "the marker must be @cert-authority followed by a space".to_string(),
        ));
    }
    tokens
        .next()
        .ok_or_else(|| invalid("no host patterns".to_string()))?;
    let key_type = tokens
        .next()
        .ok_or_else(|| invalid("no key type".to_string()))?;
    check_blob(key_type, tokens.next()).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(key_type: &str) -> String {
        let mut bytes = (key_type.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(key_type.as_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 1, 7]);
        STANDARD.encode(bytes)
    }

    fn line(text: &str) -> Line<'_> {
        Line { number: 9, text }
    }

    #[test]
    fn certificate_lines() {
        let t = "ssh-ed25519-cert-v01@openssh.com";
        assert!(check_certificate(&line(&format!("{t} {} alice", blob(t)))).is_ok());
        let rsa = format!(
            "rsa-sha2-256-cert-v01@openssh.com {}",
            blob("ssh-rsa-cert-v01@openssh.com")
        );
        assert!(check_certificate(&line(&rsa)).is_ok(), "rsa-sha2 alias");
        for (text, needle) in [
            (t.to_string(), "no base64"),
            (format!("{t} !!!"), "not valid base64"),
            (format!("{t} AAAA"), "too short"),
            (
                format!("{t} {}", blob("ssh-rsa-cert-v01@openssh.com")),
                "holds ssh-rsa-cert-v01@openssh.com",
            ),
        ] {
            match check_certificate(&line(&text)) {
                Err(IdentityError::InvalidSshCertificate { line: 9, reason }) => {
                    assert!(reason.contains(needle), "{text}: {reason}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn ca_lines() {
        let ok = format!(
            "@cert-authority c,*.c ssh-ed25519 {} type=host",
            blob("ssh-ed25519")
        );
        assert!(check_ca(&line(&ok)).is_ok());
        for (text, needle) in [
            ("@cert-authority".to_string(), "no host patterns"),
            ("@cert-authority c,*.c".to_string(), "no key type"),
            ("@cert-authority c,*.c ssh-ed25519".to_string(), "no base64"),
            (
                format!("@cert-authority c ssh-rsa {}", blob("ssh-ed25519")),
                "holds ssh-ed25519",
            ),
            (
                format!("@cert-authorityx c ssh-ed25519 {}", blob("ssh-ed25519")),
                "marker",
            ),
        ] {
            match check_ca(&line(&text)) {
                Err(IdentityError::InvalidSshCa { line: 9, reason }) => {
                    assert!(reason.contains(needle), "{text}: {reason}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
