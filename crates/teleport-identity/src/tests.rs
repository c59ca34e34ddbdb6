//! Unit tests of the parser on inline text and on small certificates made with rcgen.
//! (Identity files exactly as Teleport lays them out are tested in `tests/tests/identity_*.rs`
//! against the simulated cluster's CA.)

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;

const CLUSTER: &str = "unit.example.com";
const NOT_BEFORE: OffsetDateTime = datetime!(2025-01-01 00:00:00 UTC);
const NOT_AFTER: OffsetDateTime = datetime!(2035-01-01 00:00:00 UTC);

/// Pieces of an identity file.
struct Fixture {
    key: String,
    cert: String,
    ca: String,
}

impl Fixture {
    fn text(&self) -> String {
        format!("{}{}{}", self.key, self.cert, self.ca)
    }
}

struct FixtureSpec {
    cluster_attribute: bool,
    ca_organization: bool,
    username: &'static str,
}

impl Default for FixtureSpec {
    fn default() -> Self {
        FixtureSpec {
            cluster_attribute: true,
            ca_organization: true,
            username: "alice",
        }
    }
}

fn fixture_with(spec: FixtureSpec) -> Fixture {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = DistinguishedName::new();
    if spec.ca_organization {
        ca_params
            .distinguished_name
            .push(DnType::OrganizationName, CLUSTER);
    }
    ca_params
        .distinguished_name
        .push(DnType::CommonName, CLUSTER);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();

    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::LocalityName, "root");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "auditor");
    params
        .distinguished_name
        .push(DnType::CommonName, spec.username);
    if spec.cluster_attribute {
        params
            .distinguished_name
            .push(DnType::CustomDnType(vec![1, 3, 9999, 1, 7]), CLUSTER);
    }
    params.not_before = NOT_BEFORE;
    params.not_after = NOT_AFTER;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params
        .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    Fixture {
        key: key.serialize_pem(),
        cert: cert.pem(),
        ca: ca_cert.pem(),
    }
}

fn fixture() -> Fixture {
    fixture_with(FixtureSpec::default())
}

fn parse_err(text: &str) -> IdentityError {
    Identity::from_identity_str(text).unwrap_err()
}

/// The base64 lines of the key block.
fn key_base64(fixture: &Fixture) -> Vec<String> {
    fixture
        .key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_string)
        .collect()
}

#[test]
fn parses_a_minimal_identity() {
    let identity = Identity::from_identity_str(&fixture().text()).unwrap();
    let summary = identity.summary();
    assert_eq!(summary.username, "alice");
    assert_eq!(summary.roles, ["auditor"]);
    assert_eq!(summary.principals, ["root"]);
    assert_eq!(summary.cluster_name, CLUSTER);
    assert_eq!(identity.cluster_name(), CLUSTER);
    assert_eq!(summary.route_to_cluster, None);
    assert_eq!(summary.key_algorithm, KeyAlgorithm::EcdsaP256);
    assert_eq!(
        (
            summary.tls_ca_count,
            summary.ssh_ca_count,
            summary.has_ssh_certificate
        ),
        (1, 0, false)
    );
    assert_eq!(
        (summary.not_before, summary.not_after),
        (NOT_BEFORE, NOT_AFTER)
    );
    assert_eq!(identity.tls_ca_certificates().len(), 1);
}

#[test]
fn debug_output_is_the_summary_with_the_key_redacted() {
    let identity = Identity::from_identity_str(&fixture().text()).unwrap();
    assert_eq!(
        format!("{identity:?}"),
        "Identity { summary: IdentitySummary { username: \"alice\", roles: [\"auditor\"], \
         principals: [\"root\"], cluster_name: \"unit.example.com\", route_to_cluster: None, \
         usage: [], not_before: 2025-01-01 0:00:00.0 +00:00:00, \
         not_after: 2035-01-01 0:00:00.0 +00:00:00, key_algorithm: EcdsaP256, tls_ca_count: 1, \
         ssh_ca_count: 0, has_ssh_certificate: false }, private_key: <redacted> }"
    );
}

#[test]
fn summary_serializes_times_as_rfc3339() {
    let identity = Identity::from_identity_str(&fixture().text()).unwrap();
    let json = serde_json::to_value(identity.summary()).unwrap();
    assert_eq!(json["not_before"], "2025-01-01T00:00:00Z");
    assert_eq!(json["not_after"], "2035-01-01T00:00:00Z");
    assert_eq!(json["key_algorithm"], "ECDSA-P256");
    assert_eq!(json["cluster_name"], CLUSTER);
}

#[test]
fn alpn_protocol_is_hex_of_the_cluster_name() {
    // "sim.example.com" byte by byte: s=73 i=69 m=6d .=2e e=65 x=78 a=61 m=6d p=70 l=6c e=65 .=2e c=63 o=6f m=6d
    assert_eq!(
        auth_alpn_protocol("sim.example.com"),
        "teleport-auth@73696d2e6578616d706c652e636f6d.teleport.cluster.local"
    );
    assert_eq!(
        auth_alpn_protocol("É"),
        "teleport-auth@c389.teleport.cluster.local"
    );
}

#[test]
fn client_config_alpn_per_route() {
    let identity = Identity::from_identity_str(&fixture().text()).unwrap();
    let proxy = identity.tls_client_config(AuthRoute::ThroughProxy).unwrap();
    assert_eq!(
        proxy.alpn_protocols,
        [auth_alpn_protocol(CLUSTER).into_bytes(), b"h2".to_vec()]
    );
    let direct = identity.tls_client_config(AuthRoute::Direct).unwrap();
    assert_eq!(direct.alpn_protocols, [b"h2".to_vec()]);
    assert!(direct.client_auth_cert_resolver.has_certs());
}

#[test]
fn validity_window() {
    let identity = Identity::from_identity_str(&fixture().text()).unwrap();
    identity
        .check_validity_at(datetime!(2030-06-01 00:00:00 UTC))
        .unwrap();
    identity.check_validity_at(NOT_AFTER).unwrap();
    let now = datetime!(2035-01-01 00:00:01 UTC);
    match identity.check_validity_at(now).unwrap_err() {
        IdentityError::Expired { not_after, now: at } => {
            assert_eq!((not_after, at), (NOT_AFTER, now))
        }
        other => panic!("{other:?}"),
    }
    let now = datetime!(2024-12-31 23:59:59 UTC);
    let err = identity.check_validity_at(now).unwrap_err();
    assert!(
        matches!(err, IdentityError::NotYetValid { not_before, .. } if not_before == NOT_BEFORE)
    );
    assert_eq!(
        err.to_string(),
        "the identity is not valid before 2025-01-01T00:00:00Z (now 2024-12-31T23:59:59Z): check this machine's clock"
    );
    assert!(err.is_auth() && !err.is_retryable());
}

#[test]
fn empty_input() {
    for text in ["", "  \n\r\n\t"] {
        assert!(matches!(parse_err(text), IdentityError::Empty));
    }
}

#[test]
fn too_large_is_refused_before_scanning() {
    let text = "a".repeat(MAX_IDENTITY_FILE_SIZE + 1);
    let err = parse_err(&text);
    assert!(
        matches!(err, IdentityError::TooLarge { size, limit } if size == text.len() as u64 && limit == MAX_IDENTITY_FILE_SIZE)
    );
    // A PEM-shaped input of the same size gets the same answer (no scanning happens).
    let pem_like = format!(
        "-----BEGIN PRIVATE KEY-----\n{}",
        "A".repeat(MAX_IDENTITY_FILE_SIZE)
    );
    assert!(matches!(
        parse_err(&pem_like),
        IdentityError::TooLarge { .. }
    ));
}

#[test]
fn invalid_utf8_names_the_offset_and_line() {
    let mut bytes = b"line one\nline two\nbad ".to_vec();
    bytes.push(0xff);
    let err = Identity::from_identity_bytes(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            IdentityError::InvalidUtf8 {
                offset: 22,
                line: 3
            }
        ),
        "{err:?}"
    );
}

#[test]
fn structure_errors() {
    let fixture = fixture();
    assert!(matches!(
        parse_err("just some text\n"),
        IdentityError::NoPrivateKey
    ));
    assert!(matches!(
        parse_err(&fixture.key),
        IdentityError::NoCertificate
    ));
    let unterminated = format!("{}-----BEGIN CERTIFICATE-----\nQUJD\n", fixture.key);
    let key_lines = fixture.key.lines().count();
    assert!(
        matches!(parse_err(&unterminated), IdentityError::UnterminatedPem { block: 2, line } if line == key_lines + 1)
    );
    let mismatch = fixture
        .key
        .replace("-----END PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----");
    assert!(matches!(
        parse_err(&format!("{mismatch}{}", fixture.cert)),
        IdentityError::PemLabelMismatch { block: 1, line, .. } if line == key_lines
    ));
}

#[test]
fn bad_base64_names_the_block() {
    let fixture = fixture();
    let text = format!(
        "\n-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n{}",
        fixture.cert
    );
    assert!(matches!(
        parse_err(&text),
        IdentityError::InvalidBase64 { block: 1, line: 2 }
    ));
    let text = format!(
        "{}-----BEGIN CERTIFICATE-----\nno*base64\n-----END CERTIFICATE-----\n",
        fixture.key
    );
    let line = fixture.key.lines().count() + 1;
    assert!(
        matches!(parse_err(&text), IdentityError::InvalidBase64 { block: 2, line: l } if l == line)
    );
}

#[test]
fn unusable_keys() {
    let fixture = fixture();
    let garbage = format!(
        "-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----\n{}",
        fixture.cert
    );
    match parse_err(&garbage) {
        IdentityError::UnsupportedKey {
            block: 1,
            line: 1,
            label,
            reason,
        } => {
            assert_eq!(label, "PRIVATE KEY");
            assert!(reason.contains("PKCS#8, PKCS#1 or SEC1"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let swapped = format!("{}{}", fixture.cert, fixture.key);
    assert!(
        matches!(parse_err(&swapped), IdentityError::UnsupportedKey { reason, .. } if reason.contains("found a certificate"))
    );
    let encrypted = format!(
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nQUJD\n-----END RSA PRIVATE KEY-----\n{}",
        fixture.cert
    );
    assert!(
        matches!(parse_err(&encrypted), IdentityError::UnsupportedKey { reason, .. } if reason.contains("encrypted"))
    );
    let hardware = format!(
        "\n\n-----BEGIN PIV YUBIKEY PRIVATE KEY-----\neyJzZXJpYWxfbnVtYmVyIjoxMjN9\n-----END PIV YUBIKEY PRIVATE KEY-----\n{}{}",
        fixture.cert, fixture.ca
    );
    let err = parse_err(&hardware);
    assert!(
        matches!(err, IdentityError::HardwareKey { block: 1, line: 3 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("tctl auth sign"));
}

#[test]
fn certificate_errors() {
    let fixture = fixture();
    let text = format!(
        "{}-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n",
        fixture.key
    );
    let line = fixture.key.lines().count() + 1;
    assert!(
        matches!(parse_err(&text), IdentityError::InvalidCertificate { block: 2, line: l, .. } if l == line)
    );

    // The leaf listed again as a CA.
    let text = format!(
        "{}{}{}{}",
        fixture.key, fixture.cert, fixture.ca, fixture.cert
    );
    let line =
        fixture.key.lines().count() + fixture.cert.lines().count() + fixture.ca.lines().count() + 1;
    assert!(matches!(parse_err(&text), IdentityError::NotACa { block: 4, line: l } if l == line));

    let other = self::fixture();
    let mixed = format!("{}{}{}", other.key, fixture.cert, fixture.ca);
    let err = parse_err(&mixed);
    assert!(matches!(
        err,
        IdentityError::KeyMismatch {
            key_block: 1,
            cert_block: 2
        }
    ));
    assert!(err.is_auth());
}

#[test]
fn cluster_name_falls_back_to_the_issuer_organization() {
    let fixture = fixture_with(FixtureSpec {
        cluster_attribute: false,
        ..FixtureSpec::default()
    });
    let identity = Identity::from_identity_str(&fixture.text()).unwrap();
    assert_eq!(identity.cluster_name(), CLUSTER);
    let fixture = fixture_with(FixtureSpec {
        cluster_attribute: false,
        ca_organization: false,
        ..FixtureSpec::default()
    });
    assert!(matches!(
        parse_err(&fixture.text()),
        IdentityError::MissingClusterName
    ));
    let fixture = fixture_with(FixtureSpec {
        username: "",
        ..FixtureSpec::default()
    });
    assert!(matches!(
        parse_err(&fixture.text()),
        IdentityError::MissingUsername
    ));
}

#[test]
fn ssh_lines_are_checked_and_counted() {
    let fixture = fixture();
    let bad_cert = format!(
        "{}ssh-ed25519-cert-v01@openssh.com !!notbase64\n{}{}",
        fixture.key, fixture.cert, fixture.ca
    );
    let line = fixture.key.lines().count() + 1;
    assert!(
        matches!(parse_err(&bad_cert), IdentityError::InvalidSshCertificate { line: l, .. } if l == line)
    );
    let bad_ca = format!("{}@cert-authority c,*.c ssh-ed25519\n", fixture.text());
    let line = fixture.text().lines().count() + 1;
    assert!(matches!(parse_err(&bad_ca), IdentityError::InvalidSshCa { line: l, .. } if l == line));
    // "ssh-ed25519" + 32 zero bytes, as an SSH public key blob.
    let mut blob = 11u32.to_be_bytes().to_vec();
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    blob.extend_from_slice(&[0; 32]);
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &blob);
    let good = format!(
        "{}@cert-authority c,*.c ssh-ed25519 {encoded} type=host\n",
        fixture.text()
    );
    let identity = Identity::from_identity_str(&good).unwrap();
    assert_eq!(identity.summary().ssh_ca_count, 1);
}

#[test]
fn no_tls_ca_means_no_client_config() {
    let fixture = fixture();
    let identity =
        Identity::from_identity_str(&format!("{}{}", fixture.key, fixture.cert)).unwrap();
    assert_eq!(identity.summary().tls_ca_count, 0);
    assert!(matches!(
        identity.tls_client_config(AuthRoute::Direct),
        Err(IdentityError::NoTrustedCa)
    ));
}

#[test]
fn file_errors_do_not_repeat_identity_text_given_as_the_path() {
    let fixture = fixture();
    let text = fixture.text();
    let err = Identity::from_identity_file(&text).unwrap_err();
    assert!(matches!(err, IdentityError::ReadFile { .. }), "{err:?}");
    for output in [err.to_string(), format!("{err:?}")] {
        assert!(output.contains("bytes, not shown"), "{output}");
        for line in key_base64(&fixture) {
            assert!(!output.contains(line.as_str()), "key material in {output}");
        }
        assert!(!output.contains("PRIVATE KEY"), "{output}");
    }
}

#[test]
fn file_errors_carry_the_path() {
    let path = std::env::temp_dir().join("teleport-identity-unit-test-does-not-exist/identity");
    match Identity::from_identity_file(&path).unwrap_err() {
        IdentityError::ReadFile { path: p, source } => {
            assert_eq!(p, path);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    let err = Identity::from_identity_file(&path).unwrap_err();
    assert!(
        err.to_string()
            .contains("teleport-identity-unit-test-does-not-exist")
    );
}

#[test]
fn parse_teleport_certificate_reads_a_leaf() {
    let identity = Identity::from_identity_str(&fixture().text()).unwrap();
    let info = parse_teleport_certificate(identity.certificate()).unwrap();
    assert_eq!(
        (info.username.as_str(), info.cluster_name.as_str()),
        ("alice", CLUSTER)
    );
    assert_eq!(info.roles, ["auditor"]);
    assert!(matches!(
        parse_teleport_certificate(b"not der"),
        Err(IdentityError::InvalidCertificateDer { .. })
    ));
}

#[test]
fn no_error_or_debug_output_leaks_the_key() {
    let fixture = fixture();
    let secret_lines = key_base64(&fixture);
    let identity = Identity::from_identity_str(&fixture.text()).unwrap();
    let other = self::fixture();
    let mut outputs = vec![format!("{identity:?}"), format!("{:?}", identity.summary())];
    let inputs = [
        String::new(),
        fixture.key.clone(),
        format!("{}{}", other.key, fixture.cert),
        format!("{}-----BEGIN CERTIFICATE-----\n", fixture.key),
        format!("{}{}{}", fixture.key, fixture.cert, fixture.cert),
        fixture
            .key
            .replace("-----END PRIVATE KEY-----", "-----END X-----"),
        fixture
            .key
            .replace("PRIVATE KEY", "PIV YUBIKEY PRIVATE KEY"),
        fixture
            .key
            .replace("PRIVATE KEY", "EC PRIVATE KEY")
            .replace('A', "!"),
        format!("{}{}", fixture.cert, fixture.key),
    ];
    for input in &inputs {
        let err = parse_err(input);
        outputs.push(format!("{err:?}"));
        outputs.push(err.to_string());
    }
    for output in &outputs {
        for line in &secret_lines {
            assert!(!output.contains(line.as_str()), "key material in {output}");
        }
        assert!(!output.contains("MIG"), "DER-looking base64 in {output}");
    }
}

#[test]
fn codes_are_distinct_snake_case() {
    let now = OffsetDateTime::UNIX_EPOCH;
    let errors = [
        IdentityError::Empty,
        IdentityError::TooLarge { size: 0, limit: 0 },
        IdentityError::InvalidUtf8 { offset: 0, line: 0 },
        IdentityError::MalformedPemBoundary { line: 0 },
        IdentityError::UnterminatedPem { block: 0, line: 0 },
        IdentityError::PemLabelMismatch {
            block: 0,
            line: 0,
            begin: String::new(),
            end: String::new(),
        },
        IdentityError::InvalidBase64 { block: 0, line: 0 },
        IdentityError::NoPrivateKey,
        IdentityError::NoCertificate,
        IdentityError::UnsupportedKey {
            block: 0,
            line: 0,
            label: String::new(),
            reason: "",
        },
        IdentityError::HardwareKey { block: 0, line: 0 },
        IdentityError::InvalidCertificate {
            block: 0,
            line: 0,
            reason: String::new(),
        },
        IdentityError::NotACa { block: 0, line: 0 },
        IdentityError::KeyMismatch {
            key_block: 0,
            cert_block: 0,
        },
        IdentityError::Expired {
            not_after: now,
            now,
        },
        IdentityError::NotYetValid {
            not_before: now,
            now,
        },
        IdentityError::MissingUsername,
        IdentityError::MissingClusterName,
        IdentityError::InvalidSubjectAttribute { attribute: "CN" },
        IdentityError::InvalidSshCertificate {
            line: 0,
            reason: String::new(),
        },
        IdentityError::InvalidSshCa {
            line: 0,
            reason: String::new(),
        },
        IdentityError::NoTrustedCa,
        IdentityError::TlsConfig {
            source: rustls::Error::General(String::new()),
        },
        IdentityError::ReadFile {
            path: "x".into(),
            source: std::sync::Arc::new(std::io::ErrorKind::NotFound.into()),
        },
    ];
    let mut codes: Vec<&str> = errors.iter().map(IdentityError::code).collect();
    assert!(codes.iter().all(|c| {
        c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }));
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), errors.len());
    assert!(errors.iter().all(|e| !e.is_retryable()));
}
