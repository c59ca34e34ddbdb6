//! Broken identity files: each one gets its own error variant, naming the line or PEM block.

use teleport_audit_sim::ca::{ClusterCa, IdentitySpec};
use teleport_identity::{Identity, IdentityError, MAX_IDENTITY_FILE_SIZE};

fn issue(spec: &IdentitySpec) -> String {
    ClusterCa::new("sim.example.com")
        .unwrap()
        .issue_identity(spec)
        .unwrap()
}

fn parse_err(text: &str) -> IdentityError {
    Identity::from_identity_str(text).unwrap_err()
}

/// 1-based numbers of the lines equal to `wanted`.
fn lines_equal(text: &str, wanted: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == wanted)
        .map(|(i, _)| i + 1)
        .collect()
}

/// The text up to and including line `n`.
fn first_lines(text: &str, n: usize) -> String {
    text.lines().take(n).map(|l| format!("{l}\n")).collect()
}

/// The base64 lines of the private key block (the secret).
fn key_lines(text: &str) -> Vec<String> {
    let end = text
        .lines()
        .position(|l| l.starts_with("-----END"))
        .unwrap();
    text.lines()
        .skip(1)
        .take(end - 1)
        .map(str::to_string)
        .collect()
}

#[test]
fn empty_input() {
    assert!(matches!(parse_err(""), IdentityError::Empty));
    assert!(matches!(parse_err("\n \r\n"), IdentityError::Empty));
    assert!(matches!(
        Identity::from_identity_bytes(b""),
        Err(IdentityError::Empty)
    ));
}

#[test]
fn only_a_key() {
    let text = issue(&IdentitySpec::default());
    let key_end = lines_equal(&text, "-----END PRIVATE KEY-----")[0];
    assert!(matches!(
        parse_err(&first_lines(&text, key_end)),
        IdentityError::NoCertificate
    ));
}

#[test]
fn no_tls_certificate() {
    // Key, SSH certificate and SSH CA, but every certificate block stripped.
    let text = issue(&IdentitySpec::default());
    let mut kept = String::new();
    let mut in_cert = false;
    for line in text.lines() {
        match line {
            "-----BEGIN CERTIFICATE-----" => in_cert = true,
            "-----END CERTIFICATE-----" => in_cert = false,
            _ if !in_cert => kept.push_str(&format!("{line}\n")),
            _ => {}
        }
    }
    assert!(kept.contains("@cert-authority"));
    assert!(matches!(parse_err(&kept), IdentityError::NoCertificate));
}

#[test]
fn no_pem_at_all() {
    assert!(matches!(
        parse_err("this is not an identity file\n"),
        IdentityError::NoPrivateKey
    ));
}

#[test]
fn unterminated_pem_block() {
    let text = issue(&IdentitySpec::default());
    let leaf_begin = lines_equal(&text, "-----BEGIN CERTIFICATE-----")[0];
    let cut = first_lines(&text, leaf_begin + 3);
    let err = parse_err(&cut);
    assert!(
        matches!(err, IdentityError::UnterminatedPem { block: 2, line } if line == leaf_begin),
        "{err:?}"
    );
    assert_eq!(err.code(), "unterminated_pem");
}

#[test]
fn garbage_base64() {
    let text = issue(&IdentitySpec::default());
    let leaf_begin = lines_equal(&text, "-----BEGIN CERTIFICATE-----")[0];
    let broken: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == leaf_begin + 2 {
                "@@not~base64@@\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let err = parse_err(&broken);
    assert!(
        matches!(err, IdentityError::InvalidBase64 { block: 2, line } if line == leaf_begin),
        "{err:?}"
    );
}

#[test]
fn key_and_certificate_from_different_files() {
    let first = issue(&IdentitySpec::default());
    let second = issue(&IdentitySpec::default());
    let key_end = lines_equal(&first, "-----END PRIVATE KEY-----")[0];
    let mixed = format!(
        "{}{}",
        first_lines(&first, key_end),
        second
            .lines()
            .skip(key_end)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
    let err = parse_err(&mixed);
    assert!(
        matches!(
            err,
            IdentityError::KeyMismatch {
                key_block: 1,
                cert_block: 2
            }
        ),
        "{err:?}"
    );
    assert!(err.is_auth());
}

#[test]
fn expired_and_not_yet_valid() {
    let expired = Identity::from_identity_str(&issue(&IdentitySpec::default().expired())).unwrap();
    let now = time::OffsetDateTime::now_utc();
    match expired.check_validity().unwrap_err() {
        IdentityError::Expired {
            not_after,
            now: checked,
        } => {
            assert!(not_after < now && checked >= now);
            assert_eq!(not_after, expired.summary().not_after);
        }
        other => panic!("{other:?}"),
    }
    let future =
        Identity::from_identity_str(&issue(&IdentitySpec::default().not_yet_valid())).unwrap();
    let err = future.check_validity().unwrap_err();
    assert!(
        matches!(err, IdentityError::NotYetValid { not_before, .. } if not_before > now),
        "{err:?}"
    );
    assert_eq!(err.code(), "not_yet_valid");
}

#[test]
fn ca_entry_that_is_not_a_ca() {
    let text = issue(&IdentitySpec::default());
    let begins = lines_equal(&text, "-----BEGIN CERTIFICATE-----");
    let ends = lines_equal(&text, "-----END CERTIFICATE-----");
    // Append the leaf again, where a CA is expected.
    let leaf: String = text
        .lines()
        .skip(begins[0] - 1)
        .take(ends[0] - begins[0] + 1)
        .map(|l| format!("{l}\n"))
        .collect();
    let appended_at = text.lines().count() + 1;
    let err = parse_err(&format!("{text}{leaf}"));
    assert!(
        matches!(err, IdentityError::NotACa { block: 4, line } if line == appended_at),
        "{err:?}"
    );
}

#[test]
fn ten_megabytes_of_junk() {
    let junk: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let err = Identity::from_identity_bytes(&junk).unwrap_err();
    assert!(
        matches!(err, IdentityError::TooLarge { size, limit } if size == junk.len() as u64 && limit == MAX_IDENTITY_FILE_SIZE)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk");
    std::fs::write(&path, &junk).unwrap();
    let err = Identity::from_identity_file(&path).unwrap_err();
    assert!(
        matches!(err, IdentityError::TooLarge { size, .. } if size == junk.len() as u64),
        "{err:?}"
    );
}

#[test]
fn piv_yubikey_block() {
    let text = issue(&IdentitySpec::default());
    let key_end = lines_equal(&text, "-----END PRIVATE KEY-----")[0];
    let piv = "-----BEGIN PIV YUBIKEY PRIVATE KEY-----\n\
               eyJzZXJpYWxfbnVtYmVyIjoxMjM0NTY3OCwic2xvdF9rZXkiOjE1NH0=\n\
               -----END PIV YUBIKEY PRIVATE KEY-----\n";
    let rest: String = text
        .lines()
        .skip(key_end)
        .map(|l| format!("{l}\n"))
        .collect();
    let err = parse_err(&format!("{piv}{rest}"));
    assert!(
        matches!(err, IdentityError::HardwareKey { block: 1, line: 1 }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("YubiKey") && message.contains("tctl auth sign"),
        "{message}"
    );
}

#[test]
fn invalid_utf8() {
    let text = issue(&IdentitySpec::default());
    let ssh_line = text
        .lines()
        .position(|l| l.contains("-cert-v01@openssh.com"))
        .unwrap()
        + 1;
    let offset = text
        .lines()
        .take(ssh_line - 1)
        .map(|l| l.len() + 1)
        .sum::<usize>();
    let mut bytes = text.into_bytes();
    bytes.insert(offset, 0xc3);
    bytes.insert(offset + 1, 0x28);
    let err = Identity::from_identity_bytes(&bytes).unwrap_err();
    assert!(
        matches!(err, IdentityError::InvalidUtf8 { offset: o, line } if o == offset && line == ssh_line),
        "{err:?}"
    );
}

#[test]
fn damaged_ssh_certificate_line() {
    let text = issue(&IdentitySpec::default());
    let ssh_line = text
        .lines()
        .position(|l| l.contains("-cert-v01@openssh.com"))
        .unwrap()
        + 1;
    let broken: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == ssh_line {
                let (kind, _) = l.split_once(' ').unwrap();
                format!("{kind} AAAAC3NzaC1lZDI1NTE5AAAAIA==\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let err = parse_err(&broken);
    assert!(
        matches!(err, IdentityError::InvalidSshCertificate { line, .. } if line == ssh_line),
        "{err:?}"
    );
}

#[test]
fn no_output_carries_key_material() {
    let text = issue(&IdentitySpec::default());
    let secret = key_lines(&text);
    let identity = Identity::from_identity_str(&text).unwrap();
    let other = issue(&IdentitySpec::default());
    let key_end = lines_equal(&text, "-----END PRIVATE KEY-----")[0];
    let broken = [
        first_lines(&text, key_end),
        first_lines(&text, key_end + 3),
        format!(
            "{}{}",
            first_lines(&text, key_end),
            other
                .lines()
                .skip(key_end)
                .map(|l| format!("{l}\n"))
                .collect::<String>()
        ),
        text.replacen(
            "-----END PRIVATE KEY-----",
            "-----END EC PRIVATE KEY-----",
            1,
        ),
        text.replacen("PRIVATE KEY-----\n", "PRIVATE KEY-----\n!", 1),
        text.replace(
            "-----BEGIN PRIVATE KEY-----",
            "-----BEGIN PIV YUBIKEY PRIVATE KEY-----",
        )
        .replace(
            "-----END PRIVATE KEY-----",
            "-----END PIV YUBIKEY PRIVATE KEY-----",
        ),
    ];
    let mut outputs = vec![format!("{identity:?}"), format!("{:?}", identity.summary())];
    for input in &broken {
        let err = parse_err(input);
        outputs.push(format!("{err:?}"));
        outputs.push(err.to_string());
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            outputs.push(cause.to_string());
            source = cause.source();
        }
    }
    for output in &outputs {
        for line in &secret {
            assert!(!output.contains(line.as_str()), "key material in {output}");
        }
        assert!(!output.contains("-----BEGIN"), "PEM text in {output}");
    }
}
