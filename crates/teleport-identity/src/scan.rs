//! The line scanner: splits an identity file into PEM blocks, the SSH certificate line and
//! `@cert-authority` lines, remembering where each one is.
//!
//! Semantics follow Teleport's reader (`api/identityfile`, `decodeIdentityFile`): lines are
//! trimmed (so CRLF, indentation and stray blank lines do not matter); a PEM block runs from a
//! `-----BEGIN` line to the next `-----END` line; a line whose first token is an OpenSSH
//! certificate type is the SSH certificate; `@cert-authority` lines are SSH CAs; anything else
//! is ignored. We are stricter where Go's reader produced confusing errors later: an END label
//! must match its BEGIN label, and a BEGIN inside an open block is reported as the unterminated
//! block it is.

use crate::IdentityError;

/// One PEM block, by position in the file. Its body may be a private key: `Debug` shows only
/// its size.
pub(crate) struct PemBlock<'a> {
    /// 1-based position among the file's PEM blocks.
    pub(crate) number: usize,
    /// Line of the BEGIN boundary.
    pub(crate) line: usize,
    /// The label between `-----BEGIN ` and `-----`.
    pub(crate) label: &'a str,
    /// The trimmed lines between the boundaries.
    pub(crate) body: Vec<&'a str>,
}

impl std::fmt::Debug for PemBlock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PemBlock")
            .field("number", &self.number)
            .field("line", &self.line)
            .field("label", &self.label)
            .field("body_lines", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// A non-PEM line we keep, with its line number.
#[derive(Debug)]
pub(crate) struct Line<'a> {
    pub(crate) number: usize,
    pub(crate) text: &'a str,
}

/// What the scanner found, in file order.
#[derive(Debug, Default)]
pub(crate) struct Scanned<'a> {
    pub(crate) blocks: Vec<PemBlock<'a>>,
    pub(crate) ssh_certificates: Vec<Line<'a>>,
    pub(crate) ssh_cas: Vec<Line<'a>>,
}

const BEGIN: &str = "-----BEGIN";
const END: &str = "-----END";

/// The label of a `-----BEGIN <LABEL>-----` / `-----END <LABEL>-----` line.
fn boundary_label<'a>(
    line: &'a str,
    prefix: &str,
    number: usize,
) -> Result<&'a str, IdentityError> {
    line.strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix("-----"))
        .filter(|label| label.starts_with(' ') || label.is_empty())
        .map(str::trim)
        .ok_or(IdentityError::MalformedPemBoundary { line: number })
}

/// Whether `token` matches `^[a-z0-9-]+-cert-v[0-9]{2}@openssh\.com$` (OpenSSH certificate
/// types, e.g. `ssh-ed25519-cert-v01@openssh.com`).
pub(crate) fn is_ssh_cert_type(token: &str) -> bool {
    let Some(rest) = token.strip_suffix("@openssh.com") else {
        return false;
    };
    let Some((key_type, version)) = rest.rsplit_once("-cert-v") else {
        return false;
    };
    version.len() == 2
        && version.bytes().all(|b| b.is_ascii_digit())
        && !key_type.is_empty()
        && key_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Scans `text` line by line.
pub(crate) fn scan(text: &str) -> Result<Scanned<'_>, IdentityError> {
    let mut scanned = Scanned::default();
    let mut open: Option<PemBlock<'_>> = None;
    for (index, raw) in text.split('\n').enumerate() {
        let number = index + 1;
        let line = raw.trim();
        if let Some(mut block) = open.take() {
            if line.starts_with(END) {
                let end = boundary_label(line, END, number)?;
                if end != block.label {
                    return Err(IdentityError::PemLabelMismatch {
                        block: block.number,
                        line: number,
                        begin: block.label.to_string(),
                        end: end.to_string(),
                    });
                }
                scanned.blocks.push(block);
            } else if line.starts_with(BEGIN) {
                return Err(IdentityError::UnterminatedPem {
                    block: block.number,
                    line: block.line,
                });
            } else {
                if !line.is_empty() {
                    block.body.push(line);
                }
                open = Some(block);
            }
            continue;
        }
        if line.starts_with(BEGIN) {
            open = Some(PemBlock {
                number: scanned.blocks.len() + 1,
                line: number,
                label: boundary_label(line, BEGIN, number)?,
                body: Vec::new(),
            });
        } else if line.starts_with(END) {
            // An END with no BEGIN: a block whose BEGIN line was lost.
            return Err(IdentityError::MalformedPemBoundary { line: number });
        } else if line.starts_with("@cert-authority") {
            scanned.ssh_cas.push(Line { number, text: line });
        } else if line.split_whitespace().next().is_some_and(is_ssh_cert_type) {
            scanned.ssh_certificates.push(Line { number, text: line });
        }
    }
    match open {
        Some(block) => Err(IdentityError::UnterminatedPem {
            block: block.number,
            line: block.line,
        }),
        None => Ok(scanned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blocks_and_lines_with_their_numbers() {
        let text = "\r\n  -----BEGIN PRIVATE KEY-----\r\n  QUJD\r\n\r\n  -----END PRIVATE KEY-----  \r\n\
                    ssh-ed25519-cert-v01@openssh.com AAAA comment\r\n\
                    some note\r\n\
                    -----BEGIN CERTIFICATE-----\nREVG\nR0hJ\n-----END CERTIFICATE-----\n\
                    @cert-authority c,*.c ssh-ed25519 AAAA type=host\n";
        let scanned = scan(text).unwrap();
        assert_eq!(scanned.blocks.len(), 2);
        let key = &scanned.blocks[0];
        assert_eq!((key.number, key.line, key.label), (1, 2, "PRIVATE KEY"));
        assert_eq!(key.body, ["QUJD"]);
        let cert = &scanned.blocks[1];
        assert_eq!((cert.number, cert.line, cert.label), (2, 8, "CERTIFICATE"));
        assert_eq!(cert.body, ["REVG", "R0hJ"]);
        assert_eq!(scanned.ssh_certificates.len(), 1);
        assert_eq!(scanned.ssh_certificates[0].number, 6);
        assert_eq!(scanned.ssh_cas.len(), 1);
        assert_eq!(scanned.ssh_cas[0].number, 12);
        // The key's body never reaches Debug output.
        assert_eq!(
            format!("{key:?}"),
            r#"PemBlock { number: 1, line: 2, label: "PRIVATE KEY", body_lines: 1, .. }"#
        );
        assert!(!format!("{scanned:?}").contains("QUJD"));
    }

    #[test]
    fn ssh_cert_type_pattern() {
        for ok in [
            "ssh-rsa-cert-v01@openssh.com",
            "ecdsa-sha2-nistp256-cert-v01@openssh.com",
            "ssh-ed25519-cert-v01@openssh.com",
            "rsa-sha2-256-cert-v01@openssh.com",
        ] {
            assert!(is_ssh_cert_type(ok), "{ok}");
        }
        for bad in [
            "ssh-rsa",
            "-cert-v01@openssh.com",
            "ssh-rsa-cert-v1@openssh.com",
            "ssh-rsa-cert-v001@openssh.com",
            "SSH-RSA-cert-v01@openssh.com",
            "ssh-rsa-cert-v01@openssh.comx",
            "ssh_rsa-cert-v01@openssh.com",
        ] {
            assert!(!is_ssh_cert_type(bad), "{bad}");
        }
    }

    #[test]
    fn unterminated_block_at_end_of_file() {
        let err = scan("x\n-----BEGIN PRIVATE KEY-----\nQUJD\n").unwrap_err();
        assert!(
            matches!(err, IdentityError::UnterminatedPem { block: 1, line: 2 }),
            "{err:?}"
        );
    }

    #[test]
    fn begin_inside_an_open_block_is_the_open_block_unterminated() {
        let text = "-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----\n\
                    -----BEGIN CERTIFICATE-----\nQUJD\n-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n";
        let err = scan(text).unwrap_err();
        assert!(
            matches!(err, IdentityError::UnterminatedPem { block: 2, line: 4 }),
            "{err:?}"
        );
    }

    #[test]
    fn end_label_must_match() {
        let err =
            scan("-----BEGIN PRIVATE KEY-----\nQUJD\n-----END CERTIFICATE-----\n").unwrap_err();
        match err {
            IdentityError::PemLabelMismatch {
                block,
                line,
                begin,
                end,
            } => {
                assert_eq!((block, line), (1, 3));
                assert_eq!(
                    (begin.as_str(), end.as_str()),
                    ("PRIVATE KEY", "CERTIFICATE")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_boundaries() {
        for (text, line) in [
            (
                "-----BEGIN PRIVATE KEY\nQUJD\n-----END PRIVATE KEY-----\n",
                1,
            ),
            ("-----BEGINPRIVATE KEY-----\n", 1),
            (
                "-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY\n",
                3,
            ),
            ("junk\n-----END PRIVATE KEY-----\n", 2),
        ] {
            let err = scan(text).unwrap_err();
            assert!(
                matches!(err, IdentityError::MalformedPemBoundary { line: l } if l == line),
                "{text:?}: {err:?}"
            );
        }
    }

    #[test]
    fn nothing_recognised() {
        let scanned = scan("hello\nworld\n").unwrap();
        assert!(
            scanned.blocks.is_empty()
                && scanned.ssh_certificates.is_empty()
                && scanned.ssh_cas.is_empty()
        );
    }
}
