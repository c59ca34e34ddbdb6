//! Identity files issued by the simulated cluster's CA, in every shape `tctl` (old and new)
//! writes them and in the shapes files take after passing through editors and secret stores.

use std::collections::BTreeMap;

use teleport_audit_sim::ca::{
    ClusterCa, IdentitySpec, KeyEncoding, KeyType, Layout, LineEndings, Usage,
};
use teleport_identity::{Identity, KeyAlgorithm, parse_teleport_certificate};

const CLUSTER: &str = "sim.example.com";

fn ca() -> ClusterCa {
    ClusterCa::new(CLUSTER).unwrap()
}

#[test]
fn every_key_type_parses() {
    let ca = ca();
    for (key_type, algorithm, ssh_type) in [
        (
            KeyType::Rsa2048,
            KeyAlgorithm::Rsa { bits: 2048 },
            "ssh-rsa-cert-v01@openssh.com ",
        ),
        (
            KeyType::EcdsaP256,
            KeyAlgorithm::EcdsaP256,
            "ecdsa-sha2-nistp256-cert-v01@openssh.com ",
        ),
        (
            KeyType::EcdsaP384,
            KeyAlgorithm::EcdsaP384,
            "ecdsa-sha2-nistp384-cert-v01@openssh.com ",
        ),
        (
            KeyType::Ed25519,
            KeyAlgorithm::Ed25519,
            "ssh-ed25519-cert-v01@openssh.com ",
        ),
    ] {
        let text = ca
            .issue_identity(&IdentitySpec::default().key_type(key_type))
            .unwrap();
        assert!(
            text.lines().any(|l| l.starts_with(ssh_type)),
            "{key_type:?}: SSH certificate type"
        );
        let identity = Identity::from_identity_str(&text).unwrap();
        let summary = identity.summary();
        assert_eq!(summary.key_algorithm, algorithm, "{key_type:?}");
        assert!(summary.has_ssh_certificate);
        assert_eq!((summary.tls_ca_count, summary.ssh_ca_count), (1, 1));
        assert_eq!(identity.tls_ca_certificates(), [ca.host_ca_certificate()]);
        identity.check_validity().unwrap();
    }
}

#[test]
fn summary_fields_come_from_the_teleport_subject() {
    let ca = ca();
    let spec = IdentitySpec::default()
        .username("alice@example.com")
        .roles(["auditor", "access"])
        .principals(["root", "ubuntu"])
        .route_to_cluster("leaf.example.com")
        .traits(BTreeMap::from([(
            "logins".to_string(),
            vec!["root".to_string()],
        )]))
        .usage(Usage::Apps);
    let identity = Identity::from_identity_str(&ca.issue_identity(&spec).unwrap()).unwrap();
    let summary = identity.summary();
    assert_eq!(summary.username, "alice@example.com");
    let mut roles = summary.roles.clone();
    roles.sort();
    assert_eq!(roles, ["access", "auditor"]);
    let mut principals = summary.principals.clone();
    principals.sort();
    assert_eq!(principals, ["root", "ubuntu"]);
    assert_eq!(summary.cluster_name, CLUSTER);
    assert_eq!(identity.cluster_name(), CLUSTER);
    assert_eq!(
        summary.route_to_cluster.as_deref(),
        Some("leaf.example.com")
    );
    assert_eq!(summary.usage, ["usage:apps"]);
    let lifetime = summary.not_after - summary.not_before;
    assert!(
        lifetime > time::Duration::hours(12) && lifetime < time::Duration::hours(13),
        "{lifetime}"
    );

    // The same fields, read the way the simulated Auth Service reads a client certificate.
    let info = parse_teleport_certificate(identity.certificate()).unwrap();
    assert_eq!(info.username, summary.username);
    assert_eq!(info.roles, summary.roles);
    assert_eq!(info.cluster_name, CLUSTER);
    assert_eq!(info.not_after, summary.not_after);
}

#[test]
fn default_identity_has_no_route() {
    let identity =
        Identity::from_identity_str(&ca().issue_identity(&IdentitySpec::default()).unwrap())
            .unwrap();
    assert_eq!(identity.summary().route_to_cluster, None);
    assert!(identity.summary().usage.is_empty());
}

#[test]
fn cluster_name_falls_back_to_the_issuer_organization() {
    let ca = ca();
    let text = ca
        .issue_identity(&IdentitySpec::default().cluster_name_attribute(false))
        .unwrap();
    let identity = Identity::from_identity_str(&text).unwrap();
    assert_eq!(identity.cluster_name(), CLUSTER);
}

#[test]
fn interleaved_layout_with_several_cas() {
    let ca = ca();
    for layout in [Layout::Current, Layout::Interleaved] {
        let text = ca
            .issue_identity(&IdentitySpec::default().layout(layout).extra_host_cas(2))
            .unwrap();
        let identity = Identity::from_identity_str(&text).unwrap();
        let summary = identity.summary();
        assert_eq!(
            (summary.tls_ca_count, summary.ssh_ca_count),
            (3, 3),
            "{layout:?}"
        );
        assert_eq!(
            identity.tls_ca_certificates()[0],
            ca.host_ca_certificate(),
            "{layout:?}"
        );
    }
}

#[test]
fn crlf_blank_lines_and_indentation_are_tolerated() {
    let ca = ca();
    let crlf = ca
        .issue_identity(&IdentitySpec::default().line_endings(LineEndings::Crlf))
        .unwrap();
    assert!(crlf.contains("\r\n"));
    let identity = Identity::from_identity_str(&crlf).unwrap();
    assert!(identity.summary().has_ssh_certificate);

    let text = ca
        .issue_identity(&IdentitySpec::default().key_type(KeyType::Ed25519))
        .unwrap();
    let mangled: String = text
        .lines()
        .enumerate()
        .map(|(i, line)| format!("\n  {}{line} \t\n", if i % 2 == 0 { "\t" } else { "" }))
        .collect();
    let mangled = format!("\n\n{mangled}\n\n   ");
    let identity = Identity::from_identity_str(&mangled).unwrap();
    assert_eq!(identity.summary().key_algorithm, KeyAlgorithm::Ed25519);
    assert_eq!(identity.summary().ssh_ca_count, 1);
}

#[test]
fn key_encodings_whatever_the_label() {
    let ca = ca();
    for (spec, first_line, algorithm) in [
        (
            IdentitySpec::default()
                .key_type(KeyType::Rsa2048)
                .key_encoding(KeyEncoding::Pkcs8)
                .key_label("RSA PRIVATE KEY"),
            "-----BEGIN RSA PRIVATE KEY-----",
            KeyAlgorithm::Rsa { bits: 2048 },
        ),
        (
            IdentitySpec::default()
                .key_type(KeyType::Rsa2048)
                .key_encoding(KeyEncoding::Pkcs8),
            "-----BEGIN PRIVATE KEY-----",
            KeyAlgorithm::Rsa { bits: 2048 },
        ),
        (
            IdentitySpec::default()
                .key_type(KeyType::EcdsaP384)
                .key_encoding(KeyEncoding::Sec1),
            "-----BEGIN EC PRIVATE KEY-----",
            KeyAlgorithm::EcdsaP384,
        ),
        (
            IdentitySpec::default()
                .key_encoding(KeyEncoding::Sec1)
                .key_label("PRIVATE KEY"),
            "-----BEGIN PRIVATE KEY-----",
            KeyAlgorithm::EcdsaP256,
        ),
        (
            IdentitySpec::default()
                .key_type(KeyType::Ed25519)
                .key_label("EC PRIVATE KEY"),
            "-----BEGIN EC PRIVATE KEY-----",
            KeyAlgorithm::Ed25519,
        ),
    ] {
        let text = ca.issue_identity(&spec).unwrap();
        assert_eq!(text.lines().next().unwrap(), first_line);
        let identity =
            Identity::from_identity_str(&text).unwrap_or_else(|e| panic!("{first_line}: {e}"));
        assert_eq!(identity.summary().key_algorithm, algorithm, "{first_line}");
    }
}

#[test]
fn missing_ssh_certificate_is_reported_not_refused() {
    let text = ca()
        .issue_identity(&IdentitySpec::default().include_ssh_cert(false))
        .unwrap();
    let identity = Identity::from_identity_str(&text).unwrap();
    assert!(!identity.summary().has_ssh_certificate);
    assert_eq!(identity.summary().ssh_ca_count, 1);
}

#[test]
fn reads_from_a_file_and_from_bytes() {
    let text = ca().issue_identity(&IdentitySpec::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("identity");
    std::fs::write(&path, &text).unwrap();
    let from_file = Identity::from_identity_file(&path).unwrap();
    let from_bytes = Identity::from_identity_bytes(text.as_bytes()).unwrap();
    assert_eq!(from_file.summary(), from_bytes.summary());
    assert_eq!(from_file.certificate(), from_bytes.certificate());
}
