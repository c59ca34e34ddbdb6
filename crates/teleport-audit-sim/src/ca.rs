//! The simulated cluster's certificate authorities, and identity files issued the way
//! `tctl auth sign --format=file` writes them.
//!
//! A [`ClusterCa`] holds what a Teleport cluster holds:
//!
//! - a **host CA** (TLS + SSH): signs the Auth Service's server certificate
//!   ([`ClusterCa::auth_server_tls`]); identity files carry it so clients can verify the server;
//! - a **user CA** (TLS + SSH): signs users' certificates; the Auth Service verifies client
//!   certificates against it ([`ClusterCa::user_ca_certificate`]); identity files do NOT carry it;
//! - a separate **web CA** standing in for the public CA behind the proxy's HTTPS certificate
//!   ([`ClusterCa::web_tls`], [`ClusterCa::web_ca_pem`]).
//!
//! [`ClusterCa::issue_identity`] writes an identity file for an [`IdentitySpec`]: the private
//! key, the SSH user certificate, the TLS user certificate (subject laid out as Teleport's
//! `lib/tlsca` writes it: CN user, multi-valued O roles, L principals, STREET route-to-cluster,
//! POSTALCODE traits JSON, OU usage, cluster name as the subject attribute 1.3.9999.1.7), the
//! `@cert-authority` lines and the TLS host CA certificates. The spec can also ask for the broken
//! files tests need: expired, not yet valid, signed by a foreign CA, trusting a foreign host CA,
//! other key encodings and labels, CRLF, the old interleaved layout.
//!
//! ```
//! use teleport_audit_sim::ca::{ClusterCa, IdentitySpec, KeyType};
//!
//! let ca = ClusterCa::new("sim.example.com")?;
//! let text = ca.issue_identity(
//!     &IdentitySpec::default().username("auditor").roles(["audit-reader"]).key_type(KeyType::Ed25519),
//! )?;
//! assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
//! # Ok::<(), teleport_audit_sim::ca::CaError>(())
//! ```

mod der;
mod ssh;

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData as _, SigningKey as _,
};
use ring::rand::SecureRandom as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

/// Teleport's subject attribute for the cluster that issued a certificate (`lib/tlsca`,
/// `TeleportClusterASN1ExtensionOID`).
pub const CLUSTER_NAME_OID: [u64; 5] = [1, 3, 9999, 1, 7];

/// The server name clients verify on the Auth Service (`teleport.cluster.local`).
const AUTH_SERVER_NAMES: [&str; 2] = ["*.teleport.cluster.local", "teleport.cluster.local"];

const OID_COMMON_NAME: [u64; 4] = [2, 5, 4, 3];
const OID_LOCALITY: [u64; 4] = [2, 5, 4, 7];
const OID_STREET_ADDRESS: [u64; 4] = [2, 5, 4, 9];
const OID_ORGANIZATION: [u64; 4] = [2, 5, 4, 10];
const OID_ORGANIZATIONAL_UNIT: [u64; 4] = [2, 5, 4, 11];
const OID_POSTAL_CODE: [u64; 4] = [2, 5, 4, 17];
const OID_KEY_USAGE: [u64; 4] = [2, 5, 29, 15];
const OID_BASIC_CONSTRAINTS: [u64; 4] = [2, 5, 29, 19];
const OID_EXT_KEY_USAGE: [u64; 4] = [2, 5, 29, 37];
const OID_SERVER_AUTH: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 3, 1];
const OID_CLIENT_AUTH: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 3, 2];
const OID_EC_PUBLIC_KEY: [u64; 6] = [1, 2, 840, 10045, 2, 1];
const OID_P256: [u64; 7] = [1, 2, 840, 10045, 3, 1, 7];
const OID_P384: [u64; 5] = [1, 3, 132, 0, 34];

/// Errors from the simulated CA.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// Generating a key failed.
    #[error("could not generate the {what} key")]
    KeyGeneration {
        /// Which key.
        what: &'static str,
    },
    /// rcgen refused to build or sign a certificate.
    #[error("could not issue the {what} certificate")]
    Certificate {
        /// Which certificate.
        what: &'static str,
        /// rcgen's reason.
        #[source]
        source: rcgen::Error,
    },
    /// The spec asks for something that cannot be written.
    #[error("invalid identity spec: {field}: {reason}")]
    InvalidSpec {
        /// The offending setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// The key type of an issued identity (the TLS and SSH user certificates share it).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyType {
    /// RSA 2048 (Teleport before v17).
    Rsa2048,
    /// ECDSA P-256 (Teleport v17+ default for TLS user keys).
    #[default]
    EcdsaP256,
    /// ECDSA P-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
}

/// How the private key is encoded in its PEM block.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyEncoding {
    /// What Teleport writes: PKCS#1 `RSA PRIVATE KEY` for RSA, PKCS#8 `PRIVATE KEY` otherwise.
    #[default]
    Teleport,
    /// PKCS#8 (`PRIVATE KEY`), any key type.
    Pkcs8,
    /// PKCS#1 (`RSA PRIVATE KEY`), RSA only.
    Pkcs1,
    /// SEC1 (`EC PRIVATE KEY`), ECDSA only.
    Sec1,
}

/// Order of the CA entries in the file.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// Current `tctl`: every SSH CA line, then every TLS CA PEM.
    #[default]
    Current,
    /// Older writers: SSH line and TLS PEM of each CA in turn.
    Interleaved,
}

/// Line endings of the file.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LineEndings {
    /// `\n`.
    #[default]
    Lf,
    /// `\r\n` (a file that went through a Windows editor or a secret store that rewrote it).
    Crlf,
}

/// Which CA signs the user certificates.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Signer {
    /// The cluster's user CA: the Auth Service accepts the certificate.
    #[default]
    UserCa,
    /// A CA of another cluster (`foreign.<cluster>`): the Auth Service rejects the certificate.
    ForeignCa,
}

/// Which host CA the file tells the client to trust.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FileHostCa {
    /// The cluster's host CA: the client accepts the Auth Service's certificate.
    #[default]
    Cluster,
    /// Another cluster's host CA only: the client rejects the server (unknown issuer).
    Foreign,
}

/// A usage restriction (subject OU) as Teleport writes it for app, database and Kubernetes
/// certificates. The Auth API refuses certificates carrying one.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// `usage:apps`.
    Apps,
    /// `usage:db`.
    Database,
    /// `usage:kube`.
    Kube,
}

impl Usage {
    /// The OU value.
    pub fn as_str(self) -> &'static str {
        match self {
            Usage::Apps => "usage:apps",
            Usage::Database => "usage:db",
            Usage::Kube => "usage:kube",
        }
    }
}

/// What to put in an identity file. `Default` is a healthy 12-hour ECDSA P-256 identity for
/// user `audit-exporter` with role `audit-reader`.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct IdentitySpec {
    /// Teleport user name (certificate CN, SSH key id).
    pub username: String,
    /// Roles (multi-valued O; SSH `teleport-roles` extension).
    pub roles: Vec<String>,
    /// Principals / logins (multi-valued L; SSH principals).
    pub principals: Vec<String>,
    /// Route-to-cluster (STREET); empty when `None`, as Teleport writes it.
    pub route_to_cluster: Option<String>,
    /// User traits (POSTALCODE, JSON).
    pub traits: BTreeMap<String, Vec<String>>,
    /// Start of validity; `None`: one minute ago (Teleport backdates by a minute).
    pub not_before: Option<OffsetDateTime>,
    /// End of validity; `None`: now + `ttl`.
    pub not_after: Option<OffsetDateTime>,
    /// Lifetime used when `not_after` is `None`.
    pub ttl: Duration,
    /// Key type.
    pub key_type: KeyType,
    /// Key encoding.
    pub key_encoding: KeyEncoding,
    /// PEM label override for the key block (e.g. PKCS#8 under `RSA PRIVATE KEY`).
    pub key_label: Option<String>,
    /// CA entry order.
    pub layout: Layout,
    /// Line endings.
    pub line_endings: LineEndings,
    /// Whether to write the SSH user certificate line.
    pub include_ssh_cert: bool,
    /// Extra host CAs (other clusters' or a rotation's), written after the cluster's own.
    pub extra_host_cas: usize,
    /// Who signs the user certificates.
    pub signer: Signer,
    /// Which host CA the file carries.
    pub file_host_ca: FileHostCa,
    /// Usage restrictions (OU).
    pub usage: Vec<Usage>,
    /// Whether the leaf carries the cluster-name attribute (1.3.9999.1.7). Without it, readers
    /// fall back to the issuer's O.
    pub cluster_name_attribute: bool,
}

impl Default for IdentitySpec {
    fn default() -> Self {
        IdentitySpec {
            username: "audit-exporter".to_string(),
            roles: vec!["audit-reader".to_string()],
            principals: vec!["-teleport-internal-join".to_string()],
            route_to_cluster: None,
            traits: BTreeMap::new(),
            not_before: None,
            not_after: None,
            ttl: Duration::hours(12),
            key_type: KeyType::default(),
            key_encoding: KeyEncoding::default(),
            key_label: None,
            layout: Layout::default(),
            line_endings: LineEndings::default(),
            include_ssh_cert: true,
            extra_host_cas: 0,
            signer: Signer::default(),
            file_host_ca: FileHostCa::default(),
            usage: Vec::new(),
            cluster_name_attribute: true,
        }
    }
}

fn strings<I: IntoIterator<Item = S>, S: Into<String>>(values: I) -> Vec<String> {
    values.into_iter().map(Into::into).collect()
}

impl IdentitySpec {
    /// Sets the user name.
    #[must_use]
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = username.into();
        self
    }
    /// Sets the roles.
    #[must_use]
    pub fn roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.roles = strings(roles);
        self
    }
    /// Sets the principals.
    #[must_use]
    pub fn principals<I: IntoIterator<Item = S>, S: Into<String>>(mut self, principals: I) -> Self {
        self.principals = strings(principals);
        self
    }
    /// Sets the route-to-cluster.
    #[must_use]
    pub fn route_to_cluster(mut self, cluster: impl Into<String>) -> Self {
        self.route_to_cluster = Some(cluster.into());
        self
    }
    /// Sets the traits.
    #[must_use]
    pub fn traits(mut self, traits: BTreeMap<String, Vec<String>>) -> Self {
        self.traits = traits;
        self
    }
    /// Sets the start of validity.
    #[must_use]
    pub fn not_before(mut self, at: OffsetDateTime) -> Self {
        self.not_before = Some(at);
        self
    }
    /// Sets the end of validity.
    #[must_use]
    pub fn not_after(mut self, at: OffsetDateTime) -> Self {
        self.not_after = Some(at);
        self
    }
    /// Sets the lifetime (from now).
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
    /// Valid from 13 hours ago until an hour ago.
    #[must_use]
    pub fn expired(self) -> Self {
        let now = OffsetDateTime::now_utc();
        self.not_before(now - Duration::hours(13))
            .not_after(now - Duration::hours(1))
    }
    /// Valid from an hour from now for 12 hours.
    #[must_use]
    pub fn not_yet_valid(self) -> Self {
        let now = OffsetDateTime::now_utc();
        self.not_before(now + Duration::hours(1))
            .not_after(now + Duration::hours(13))
    }
    /// Sets the key type.
    #[must_use]
    pub fn key_type(mut self, key_type: KeyType) -> Self {
        self.key_type = key_type;
        self
    }
    /// Sets the key encoding.
    #[must_use]
    pub fn key_encoding(mut self, encoding: KeyEncoding) -> Self {
        self.key_encoding = encoding;
        self
    }
    /// Overrides the key block's PEM label.
    #[must_use]
    pub fn key_label(mut self, label: impl Into<String>) -> Self {
        self.key_label = Some(label.into());
        self
    }
    /// Sets the CA entry order.
    #[must_use]
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }
    /// Sets the line endings.
    #[must_use]
    pub fn line_endings(mut self, line_endings: LineEndings) -> Self {
        self.line_endings = line_endings;
        self
    }
    /// Whether to write the SSH user certificate.
    #[must_use]
    pub fn include_ssh_cert(mut self, include: bool) -> Self {
        self.include_ssh_cert = include;
        self
    }
    /// Adds `count` unrelated host CAs after the cluster's own.
    #[must_use]
    pub fn extra_host_cas(mut self, count: usize) -> Self {
        self.extra_host_cas = count;
        self
    }
    /// Sets who signs the user certificates.
    #[must_use]
    pub fn signer(mut self, signer: Signer) -> Self {
        self.signer = signer;
        self
    }
    /// Sets which host CA the file carries.
    #[must_use]
    pub fn file_host_ca(mut self, host_ca: FileHostCa) -> Self {
        self.file_host_ca = host_ca;
        self
    }
    /// Adds a usage restriction.
    #[must_use]
    pub fn usage(mut self, usage: Usage) -> Self {
        self.usage.push(usage);
        self
    }
    /// Whether the leaf carries the cluster-name attribute.
    #[must_use]
    pub fn cluster_name_attribute(mut self, present: bool) -> Self {
        self.cluster_name_attribute = present;
        self
    }
}

/// A TLS certificate authority: self-signed ECDSA P-256 certificate, CN = O = its cluster name,
/// as Teleport's `tlsca.GenerateSelfSignedCA` writes.
struct TlsAuthority {
    issuer: Issuer<'static, KeyPair>,
    certificate: CertificateDer<'static>,
    /// The DER `Name` of the certificate's subject (the issuer of what it signs).
    subject: Vec<u8>,
}

impl TlsAuthority {
    fn new(cluster_name: &str, what: &'static str) -> Result<TlsAuthority, CaError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|source| CaError::Certificate { what, source })?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, cluster_name);
        params
            .distinguished_name
            .push(DnType::CommonName, cluster_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::minutes(1);
        params.not_after = now + Duration::days(3650);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&random_serial()?));
        let certificate = params
            .self_signed(&key)
            .map_err(|source| CaError::Certificate { what, source })?
            .der()
            .clone();
        let subject = subject_of(&certificate).ok_or(CaError::Certificate {
            what,
            source: rcgen::Error::CouldNotParseCertificate,
        })?;
        Ok(TlsAuthority {
            issuer: Issuer::new(params, key),
            certificate,
            subject,
        })
    }

    fn pem(&self) -> String {
        pem_block("CERTIFICATE", &self.certificate)
    }

    /// Signs a server certificate for `names` (DNS names or IP addresses).
    fn issue_server(
        &self,
        names: &[&str],
        subject: DistinguishedName,
        what: &'static str,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), CaError> {
        let cert_error = |source| CaError::Certificate { what, source };
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(cert_error)?;
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .map_err(cert_error)?;
        params.distinguished_name = subject;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::minutes(1);
        params.not_after = now + Duration::days(365);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&random_serial()?));
        let certificate = params.signed_by(&key, &self.issuer).map_err(cert_error)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![certificate.der().clone()], key))
    }

    /// Signs a Teleport user certificate: `subject` is a DER `Name`, `spki` a DER
    /// `SubjectPublicKeyInfo`. Written by hand because the subject has multi-valued RDNs.
    fn issue_user(
        &self,
        subject: &[u8],
        spki: &[u8],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<CertificateDer<'static>, CaError> {
        let signature_algorithm = der::sequence(&[der::oid(&[1, 2, 840, 10045, 4, 3, 2])]);
        let extension = |oid: &[u64], critical: bool, value: Vec<u8>| {
            let mut parts = vec![der::oid(oid)];
            if critical {
                parts.push(der::tlv(0x01, &[0xff]));
            }
            parts.push(der::tlv(der::TAG_OCTET_STRING, &value));
            der::sequence(&parts)
        };
        let extensions = der::sequence(&[
            // digitalSignature | keyEncipherment, Go's default for tlsca certificates.
            extension(&OID_KEY_USAGE, true, der::bit_string(&[0xa0], 5)),
            extension(
                &OID_EXT_KEY_USAGE,
                false,
                der::sequence(&[der::oid(&OID_SERVER_AUTH), der::oid(&OID_CLIENT_AUTH)]),
            ),
            extension(&OID_BASIC_CONSTRAINTS, true, der::sequence(&[])),
        ]);
        let tbs = der::sequence(&[
            der::explicit(0, &der::tlv(der::TAG_INTEGER, &[2])),
            der::unsigned_integer(&random_serial()?),
            signature_algorithm.clone(),
            self.subject.clone(),
            der::sequence(&[der::time(not_before), der::time(not_after)]),
            subject.to_vec(),
            spki.to_vec(),
            der::explicit(3, &extensions),
        ]);
        let signature = self
            .issuer
            .key()
            .sign(&tbs)
            .map_err(|source| CaError::Certificate {
                what: "user",
                source,
            })?;
        let certificate =
            der::sequence(&[tbs, signature_algorithm, der::bit_string(&signature, 0)]);
        Ok(CertificateDer::from(certificate))
    }
}

/// A TLS CA with its SSH counterpart.
struct Authority {
    tls: TlsAuthority,
    ssh: ssh::CaKey,
    cluster_name: String,
}

impl Authority {
    fn new(cluster_name: &str, what: &'static str) -> Result<Authority, CaError> {
        Ok(Authority {
            tls: TlsAuthority::new(cluster_name, what)?,
            ssh: ssh::CaKey::generate().map_err(|_| CaError::KeyGeneration { what })?,
            cluster_name: cluster_name.to_string(),
        })
    }

    /// `@cert-authority <cluster>,*.<cluster> <key> type=host`, as `tctl` writes host CAs.
    fn known_hosts_line(&self) -> String {
        let name = &self.cluster_name;
        format!(
            "@cert-authority {name},*.{name} {} type=host",
            self.ssh.public().to_line()
        )
    }
}

/// The certificate authorities of one simulated cluster.
pub struct ClusterCa {
    cluster_name: String,
    host: Authority,
    user: Authority,
    web: TlsAuthority,
}

impl fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCa")
            .field("cluster_name", &self.cluster_name)
            .finish_non_exhaustive()
    }
}

impl ClusterCa {
    /// Generates the host, user and web CAs of a cluster.
    ///
    /// # Errors
    /// [`CaError`] when key generation or signing fails.
    pub fn new(cluster_name: &str) -> Result<ClusterCa, CaError> {
        if cluster_name.is_empty() {
            return Err(CaError::InvalidSpec {
                field: "cluster_name",
                reason: "must not be empty".to_string(),
            });
        }
        Ok(ClusterCa {
            cluster_name: cluster_name.to_string(),
            host: Authority::new(cluster_name, "host CA")?,
            user: Authority::new(cluster_name, "user CA")?,
            web: TlsAuthority::new(&format!("{cluster_name} web"), "web CA")?,
        })
    }

    /// The cluster name.
    pub fn cluster_name(&self) -> &str {
        &self.cluster_name
    }

    /// The user CA certificate: verify client certificates against it.
    pub fn user_ca_certificate(&self) -> CertificateDer<'static> {
        self.user.tls.certificate.clone()
    }

    /// The host CA certificate (what identity files carry as TLS CA).
    pub fn host_ca_certificate(&self) -> CertificateDer<'static> {
        self.host.tls.certificate.clone()
    }

    /// The Auth Service's server certificate (`*.teleport.cluster.local`,
    /// `teleport.cluster.local`), signed by the host CA, and its key. The chain is the leaf
    /// alone, as the Auth Service sends it.
    ///
    /// # Errors
    /// [`CaError::Certificate`] when signing fails.
    pub fn auth_server_tls(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), CaError> {
        let mut subject = DistinguishedName::new();
        subject.push(DnType::OrganizationName, "Admin");
        subject.push(DnType::CommonName, format!("auth.{}", self.cluster_name));
        subject.push(
            DnType::CustomDnType(CLUSTER_NAME_OID.to_vec()),
            self.cluster_name.as_str(),
        );
        self.host
            .tls
            .issue_server(&AUTH_SERVER_NAMES, subject, "auth server")
    }

    /// The proxy's public HTTPS certificate for `names` (e.g. `localhost`, `127.0.0.1`),
    /// signed by the web CA.
    ///
    /// # Errors
    /// [`CaError::Certificate`] when a name is invalid or signing fails.
    pub fn web_tls(
        &self,
        names: &[&str],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), CaError> {
        let mut subject = DistinguishedName::new();
        subject.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("proxy"),
        );
        self.web.issue_server(names, subject, "web")
    }

    /// The web CA certificate as PEM: what a client adds as an extra trusted root for the
    /// proxy's public TLS.
    pub fn web_ca_pem(&self) -> String {
        self.web.pem()
    }

    /// The web CA certificate.
    pub fn web_ca_certificate(&self) -> CertificateDer<'static> {
        self.web.certificate.clone()
    }

    /// Writes an identity file, laid out as `tctl auth sign --format=file` writes it.
    ///
    /// # Errors
    /// [`CaError::InvalidSpec`] for impossible combinations (empty user, validity ending before
    /// it starts, PKCS#1 for a non-RSA key, SEC1 for a non-ECDSA key); [`CaError`] when key
    /// generation or signing fails.
    pub fn issue_identity(&self, spec: &IdentitySpec) -> Result<String, CaError> {
        if spec.username.is_empty() {
            return Err(CaError::InvalidSpec {
                field: "username",
                reason: "must not be empty".to_string(),
            });
        }
        let now = OffsetDateTime::now_utc();
        let not_before = spec.not_before.unwrap_or(now - Duration::minutes(1));
        let not_after = spec.not_after.unwrap_or(now + spec.ttl);
        if not_after <= not_before {
            return Err(CaError::InvalidSpec {
                field: "not_after",
                reason: format!("{not_after} is not after not_before {not_before}"),
            });
        }
        let key = UserKey::generate(spec.key_type)?;

        let foreign;
        let signer = match spec.signer {
            Signer::UserCa => &self.user,
            Signer::ForeignCa => {
                foreign =
                    Authority::new(&format!("foreign.{}", self.cluster_name), "foreign user CA")?;
                &foreign
            }
        };
        let subject = self.user_subject(spec);
        let leaf = signer
            .tls
            .issue_user(&subject, &key.spki, not_before, not_after)?;

        let foreign_host;
        let mut host_cas: Vec<&Authority> = match spec.file_host_ca {
            FileHostCa::Cluster => vec![&self.host],
            FileHostCa::Foreign => {
                foreign_host =
                    Authority::new(&format!("foreign.{}", self.cluster_name), "foreign host CA")?;
                vec![&foreign_host]
            }
        };
        let extra = (1..=spec.extra_host_cas)
            .map(|i| Authority::new(&format!("leaf{i}.{}", self.cluster_name), "extra host CA"))
            .collect::<Result<Vec<_>, _>>()?;
        host_cas.extend(extra.iter());

        let mut out = String::new();
        out.push_str(&key.pem(spec)?);
        if spec.include_ssh_cert {
            out.push_str(&self.ssh_certificate(spec, &key, signer, not_before, not_after)?);
            out.push('\n');
        }
        out.push_str(&pem_block("CERTIFICATE", &leaf));
        match spec.layout {
            Layout::Current => {
                for ca in &host_cas {
                    out.push_str(&ca.known_hosts_line());
                    out.push('\n');
                }
                for ca in &host_cas {
                    out.push_str(&ca.tls.pem());
                }
            }
            Layout::Interleaved => {
                for ca in &host_cas {
                    out.push_str(&ca.known_hosts_line());
                    out.push('\n');
                    out.push_str(&ca.tls.pem());
                }
            }
        }
        Ok(match spec.line_endings {
            LineEndings::Lf => out,
            LineEndings::Crlf => out.replace('\n', "\r\n"),
        })
    }

    /// The user certificate's subject, attribute for attribute in the order Go's
    /// `pkix.Name.ToRDNSequence` writes Teleport's `tlsca.Identity.Subject()`.
    fn user_subject(&self, spec: &IdentitySpec) -> Vec<u8> {
        let rdn = |oid: &[u64], values: &[String]| -> Option<Vec<u8>> {
            if values.is_empty() {
                return None;
            }
            Some(der::set_of(
                values
                    .iter()
                    .map(|v| der::sequence(&[der::oid(oid), der::directory_string(v)]))
                    .collect(),
            ))
        };
        let route = vec![spec.route_to_cluster.clone().unwrap_or_default()];
        // Go's encoding/json of a map[string][]string: keys sorted, as BTreeMap serializes.
        let traits = vec![serde_json::to_string(&spec.traits).unwrap_or_else(|_| "{}".to_string())];
        let usage: Vec<String> = spec.usage.iter().map(|u| u.as_str().to_string()).collect();
        let mut rdns: Vec<Vec<u8>> = [
            rdn(&OID_LOCALITY, &spec.principals),
            rdn(&OID_STREET_ADDRESS, &route),
            rdn(&OID_POSTAL_CODE, &traits),
            rdn(&OID_ORGANIZATION, &spec.roles),
            rdn(&OID_ORGANIZATIONAL_UNIT, &usage),
            rdn(&OID_COMMON_NAME, std::slice::from_ref(&spec.username)),
        ]
        .into_iter()
        .flatten()
        .collect();
        if spec.cluster_name_attribute {
            rdns.extend(rdn(
                &CLUSTER_NAME_OID,
                std::slice::from_ref(&self.cluster_name),
            ));
        }
        der::sequence(&rdns)
    }

    fn ssh_certificate(
        &self,
        spec: &IdentitySpec,
        key: &UserKey,
        signer: &Authority,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<String, CaError> {
        let public = key.ssh_public()?;
        let mut nonce = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CaError::KeyGeneration {
                what: "SSH certificate nonce",
            })?;
        let roles = serde_json::json!({ "version": "v1", "roles": spec.roles }).to_string();
        let mut extensions = vec![
            ("permit-agent-forwarding", String::new()),
            ("permit-port-forwarding", String::new()),
            ("permit-pty", String::new()),
            ("teleport-roles", roles),
        ];
        if let Some(route) = &spec.route_to_cluster {
            extensions.push(("teleport-route-to-cluster", route.clone()));
        }
        let unix = |at: OffsetDateTime| u64::try_from(at.unix_timestamp()).unwrap_or(0);
        let serial = u64::from_be_bytes(nonce[..8].try_into().unwrap_or_default());
        let certificate = ssh::UserCertificate {
            key: &public,
            serial,
            key_id: &spec.username,
            principals: &spec.principals,
            valid_after: unix(not_before),
            valid_before: unix(not_after),
            extensions,
        };
        Ok(certificate.sign(&signer.ssh, &nonce))
    }
}

/// A freshly generated user key.
struct UserKey {
    key_type: KeyType,
    /// PKCS#8 DER.
    pkcs8: Vec<u8>,
    /// PKCS#1 DER, RSA only.
    pkcs1: Option<Vec<u8>>,
    spki: Vec<u8>,
    /// rcgen's raw public key: the point (ECDSA), 32 bytes (Ed25519), PKCS#1 (RSA).
    public_raw: Vec<u8>,
}

impl Drop for UserKey {
    fn drop(&mut self) {
        self.pkcs8.fill(0);
        if let Some(pkcs1) = &mut self.pkcs1 {
            pkcs1.fill(0);
        }
    }
}

impl UserKey {
    fn generate(key_type: KeyType) -> Result<UserKey, CaError> {
        let failed = |_| CaError::KeyGeneration { what: "user" };
        let (pair, pkcs1) = match key_type {
            KeyType::Rsa2048 => {
                use rsa::pkcs1::EncodeRsaPrivateKey as _;
                use rsa::pkcs8::EncodePrivateKey as _;
                let key = rsa::PrivateKey::new(&mut RingRng(ring::rand::SystemRandom::new()), 2048)
                    .map_err(|_| CaError::KeyGeneration { what: "RSA user" })?;
                let pkcs8 = key
                    .to_pkcs8_der()
                    .map_err(|_| CaError::KeyGeneration { what: "RSA user" })?;
                let pkcs1 = key
                    .to_pkcs1_der()
                    .map_err(|_| CaError::KeyGeneration { what: "RSA user" })?;
                let pair = KeyPair::from_pkcs8_der_and_sign_algo(
                    &PrivatePkcs8KeyDer::from(pkcs8.as_bytes()),
                    &rcgen::PKCS_RSA_SHA256,
                )
                .map_err(failed)?;
                (pair, Some(pkcs1.as_bytes().to_vec()))
            }
            KeyType::EcdsaP256 => (
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(failed)?,
                None,
            ),
            KeyType::EcdsaP384 => (
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).map_err(failed)?,
                None,
            ),
            KeyType::Ed25519 => (
                KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(failed)?,
                None,
            ),
        };
        Ok(UserKey {
            key_type,
            pkcs8: pair.serialize_der(),
            pkcs1,
            spki: pair.subject_public_key_info(),
            public_raw: pair.public_key_raw().to_vec(),
        })
    }

    fn ssh_public(&self) -> Result<ssh::PublicKey, CaError> {
        Ok(match self.key_type {
            KeyType::Rsa2048 => {
                ssh::PublicKey::rsa_from_pkcs1(&self.public_raw).ok_or(CaError::KeyGeneration {
                    what: "RSA user (public key)",
                })?
            }
            KeyType::EcdsaP256 => ssh::PublicKey::ecdsa("nistp256", &self.public_raw),
            KeyType::EcdsaP384 => ssh::PublicKey::ecdsa("nistp384", &self.public_raw),
            KeyType::Ed25519 => ssh::PublicKey::ed25519(&self.public_raw),
        })
    }

    /// The key block, encoded and labelled as the spec asks.
    fn pem(&self, spec: &IdentitySpec) -> Result<String, CaError> {
        let invalid = |reason: &str| CaError::InvalidSpec {
            field: "key_encoding",
            reason: format!("{reason} (key type {:?})", self.key_type),
        };
        let (label, der) = match (spec.key_encoding, &self.pkcs1) {
            (KeyEncoding::Teleport | KeyEncoding::Pkcs1, Some(pkcs1)) => {
                ("RSA PRIVATE KEY", pkcs1.clone())
            }
            (KeyEncoding::Pkcs1, None) => return Err(invalid("PKCS#1 holds RSA keys only")),
            (KeyEncoding::Sec1, _) => (
                "EC PRIVATE KEY",
                self.sec1()
                    .ok_or_else(|| invalid("SEC1 holds ECDSA keys only"))?,
            ),
            (KeyEncoding::Teleport | KeyEncoding::Pkcs8, _) => ("PRIVATE KEY", self.pkcs8.clone()),
        };
        let mut der = der;
        let pem = pem_block(spec.key_label.as_deref().unwrap_or(label), &der);
        der.fill(0);
        Ok(pem)
    }

    /// SEC1 `ECPrivateKey` with the curve named, rebuilt from the PKCS#8 wrapper
    /// (ring's PKCS#8 leaves the inner structure's parameters out).
    fn sec1(&self) -> Option<Vec<u8>> {
        let curve = match self.key_type {
            KeyType::EcdsaP256 => der::oid(&OID_P256),
            KeyType::EcdsaP384 => der::oid(&OID_P384),
            KeyType::Rsa2048 | KeyType::Ed25519 => return None,
        };
        let (fields, _) = der::expect(&self.pkcs8, der::TAG_SEQUENCE)?;
        let (_version, fields) = der::expect(fields, der::TAG_INTEGER)?;
        let (algorithm, fields) = der::expect(fields, der::TAG_SEQUENCE)?;
        if !algorithm.starts_with(&der::oid(&OID_EC_PUBLIC_KEY)) {
            return None;
        }
        let (inner, _) = der::expect(fields, der::TAG_OCTET_STRING)?;
        let (ec_fields, _) = der::expect(inner, der::TAG_SEQUENCE)?;
        let (_version, ec_fields) = der::expect(ec_fields, der::TAG_INTEGER)?;
        let (private, _) = der::expect(ec_fields, der::TAG_OCTET_STRING)?;
        Some(der::sequence(&[
            der::tlv(der::TAG_INTEGER, &[1]),
            der::tlv(der::TAG_OCTET_STRING, private),
            der::explicit(0, &curve),
            der::explicit(1, &der::bit_string(&self.public_raw, 0)),
        ]))
    }
}

/// PEM with 64-column base64 lines, each line ending in `\n`.
fn pem_block(label: &str, der: &[u8]) -> String {
    let mut encoded = STANDARD.encode(der).into_bytes();
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in encoded.chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    // The intermediate may hold a private key's base64.
    encoded.fill(0);
    out
}

/// A 16-byte positive serial number, as Go's `rand.Int(2^128)` gives.
fn random_serial() -> Result<Vec<u8>, CaError> {
    let mut serial = vec![0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| CaError::KeyGeneration {
            what: "serial number",
        })?;
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    Ok(serial)
}

/// The DER subject `Name` of a certificate.
fn subject_of(certificate: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    Some(parsed.subject().as_raw().to_vec())
}

/// ring's system RNG behind the `rand_core` traits the `rsa` crate takes.
struct RingRng(ring::rand::SystemRandom);

#[derive(Debug)]
struct RngFailed;

impl fmt::Display for RngFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the system random number generator failed")
    }
}

impl std::error::Error for RngFailed {}

impl rsa::rand_core::TryRng for RingRng {
    type Error = RngFailed;

    fn try_next_u32(&mut self) -> Result<u32, RngFailed> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, RngFailed> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RngFailed> {
        self.0.fill(dst).map_err(|_| RngFailed)
    }
}

impl rsa::rand_core::TryCryptoRng for RingRng {}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::*;

    fn blocks(text: &str) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if let Some(label) = line.strip_prefix("-----BEGIN ") {
                let label = label.trim_end_matches('-').to_string();
                let mut body = String::new();
                for inner in lines.by_ref() {
                    if inner.starts_with("-----END ") {
                        break;
                    }
                    body.push_str(inner.trim());
                }
                out.push((label, STANDARD.decode(body).unwrap()));
            }
        }
        out
    }

    /// Checks an ECDSA P-256 signature with ring, independently of the writer.
    fn assert_signed_by(cert: &[u8], ca: &[u8]) {
        let (_, cert) = parse_x509_certificate(cert).unwrap();
        let (_, ca) = parse_x509_certificate(ca).unwrap();
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_ASN1,
            ca.public_key().subject_public_key.data.to_vec(),
        );
        key.verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
            .unwrap();
    }

    #[test]
    fn identity_file_layout_matches_tctl() {
        let ca = ClusterCa::new("sim.example.com").unwrap();
        let text = ca
            .issue_identity(&IdentitySpec::default().extra_host_cas(1))
            .unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN PRIVATE KEY-----");
        let ssh_index = lines
            .iter()
            .position(|l| l.starts_with("ecdsa-sha2-nistp256-cert-v01@openssh.com "))
            .unwrap();
        let cert_index = lines
            .iter()
            .position(|l| *l == "-----BEGIN CERTIFICATE-----")
            .unwrap();
        assert!(ssh_index < cert_index);
        let ca_lines: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.starts_with("@cert-authority "))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(ca_lines.len(), 2);
        assert!(
            lines[ca_lines[0]]
                .starts_with("@cert-authority sim.example.com,*.sim.example.com ssh-ed25519 AAAA")
        );
        assert!(lines[ca_lines[0]].ends_with(" type=host"));
        let pem = blocks(&text);
        assert_eq!(pem.len(), 4, "key, leaf, two host CAs");
        assert_eq!(pem[2].1, ca.host_ca_certificate().to_vec());
        // Current layout: both SSH CA lines come before the first TLS CA block.
        let last_begin = lines
            .iter()
            .rposition(|l| *l == "-----BEGIN CERTIFICATE-----")
            .unwrap();
        let second_ca_begin = lines[..last_begin]
            .iter()
            .rposition(|l| *l == "-----BEGIN CERTIFICATE-----")
            .unwrap();
        assert!(ca_lines[1] < second_ca_begin);
        assert!(text.ends_with("-----END CERTIFICATE-----\n"));
    }

    #[test]
    fn user_certificate_subject_is_teleports() {
        let ca = ClusterCa::new("sim.example.com").unwrap();
        let spec = IdentitySpec::default()
            .username("alice")
            .roles(["editor", "auditor"])
            .principals(["root", "alice"])
            .route_to_cluster("leaf.example.com")
            .traits(BTreeMap::from([(
                "logins".to_string(),
                vec!["root".to_string()],
            )]))
            .usage(Usage::Database);
        let text = ca.issue_identity(&spec).unwrap();
        let leaf = &blocks(&text)[1].1;
        let (_, cert) = parse_x509_certificate(leaf).unwrap();
        let subject = cert.subject();
        let values = |oid: &str| -> Vec<String> {
            subject
                .iter_attributes()
                .filter(|a| a.attr_type().to_id_string() == oid)
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(values("2.5.4.3"), ["alice"]);
        let mut roles = values("2.5.4.10");
        roles.sort();
        assert_eq!(roles, ["auditor", "editor"]);
        assert_eq!(values("2.5.4.7").len(), 2);
        assert_eq!(values("2.5.4.9"), ["leaf.example.com"]);
        assert_eq!(values("2.5.4.17"), [r#"{"logins":["root"]}"#]);
        assert_eq!(values("2.5.4.11"), ["usage:db"]);
        assert_eq!(values("1.3.9999.1.7"), ["sim.example.com"]);
        // Roles share one multi-valued RDN, as Go writes a []string attribute.
        let org_rdn = subject
            .iter()
            .find(|rdn| {
                rdn.iter()
                    .any(|a| a.attr_type().to_id_string() == "2.5.4.10")
            })
            .unwrap();
        assert_eq!(org_rdn.iter().count(), 2);
        assert_eq!(
            cert.issuer().as_raw(),
            parse_x509_certificate(&ca.user_ca_certificate())
                .unwrap()
                .1
                .subject()
                .as_raw()
        );
        assert!(!cert.is_ca());
        assert_signed_by(leaf, &ca.user_ca_certificate());
    }

    #[test]
    fn key_encodings_and_labels() {
        let ca = ClusterCa::new("sim").unwrap();
        let first_line = |spec: IdentitySpec| {
            let text = ca.issue_identity(&spec).unwrap();
            text.lines().next().unwrap().to_string()
        };
        assert_eq!(
            first_line(IdentitySpec::default().key_type(KeyType::Rsa2048)),
            "-----BEGIN RSA PRIVATE KEY-----"
        );
        assert_eq!(
            first_line(IdentitySpec::default().key_encoding(KeyEncoding::Sec1)),
            "-----BEGIN EC PRIVATE KEY-----"
        );
        assert_eq!(
            first_line(
                IdentitySpec::default()
                    .key_type(KeyType::Ed25519)
                    .key_label("RSA PRIVATE KEY")
            ),
            "-----BEGIN RSA PRIVATE KEY-----"
        );
        let err = ca
            .issue_identity(
                &IdentitySpec::default()
                    .key_type(KeyType::Ed25519)
                    .key_encoding(KeyEncoding::Sec1),
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                CaError::InvalidSpec {
                    field: "key_encoding",
                    ..
                }
            ),
            "{err}"
        );
        let err = ca
            .issue_identity(&IdentitySpec::default().key_encoding(KeyEncoding::Pkcs1))
            .unwrap_err();
        assert!(
            matches!(
                err,
                CaError::InvalidSpec {
                    field: "key_encoding",
                    ..
                }
            ),
            "{err}"
        );
        // The SEC1 key is what rustls (and so ring) accepts as SEC1, with the curve named.
        let text = ca
            .issue_identity(&IdentitySpec::default().key_encoding(KeyEncoding::Sec1))
            .unwrap();
        let sec1 = blocks(&text).remove(0).1;
        let key = PrivateKeyDer::Sec1(sec1.into());
        rustls::crypto::ring::sign::any_ecdsa_type(&key).unwrap();
    }

    #[test]
    fn validity_crlf_and_interleaving() {
        let ca = ClusterCa::new("sim").unwrap();
        let text = ca
            .issue_identity(
                &IdentitySpec::default()
                    .expired()
                    .line_endings(LineEndings::Crlf)
                    .layout(Layout::Interleaved),
            )
            .unwrap();
        assert!(text.split_inclusive('\n').all(|l| l.ends_with("\r\n")));
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        let ca_line = lines
            .iter()
            .position(|l| l.starts_with("@cert-authority"))
            .unwrap();
        assert_eq!(lines[ca_line + 1], "-----BEGIN CERTIFICATE-----");
        let pem = blocks(&text.replace('\r', ""));
        let (_, cert) = parse_x509_certificate(&pem[1].1).unwrap();
        assert!(cert.validity().not_after.to_datetime() < OffsetDateTime::now_utc());
        let err = ca
            .issue_identity(
                &IdentitySpec::default().not_after(OffsetDateTime::now_utc() - Duration::days(1)),
            )
            .unwrap_err();
        assert!(matches!(
            err,
            CaError::InvalidSpec {
                field: "not_after",
                ..
            }
        ));
    }

    #[test]
    fn server_certificates_chain_to_their_cas() {
        let ca = ClusterCa::new("sim").unwrap();
        let (chain, _key) = ca.auth_server_tls().unwrap();
        assert_eq!(chain.len(), 1);
        assert_signed_by(&chain[0], &ca.host_ca_certificate());
        let (_, leaf) = parse_x509_certificate(&chain[0]).unwrap();
        let sans = leaf.subject_alternative_name().unwrap().unwrap();
        assert_eq!(sans.value.general_names.len(), 2);
        let (chain, _key) = ca.web_tls(&["localhost", "127.0.0.1"]).unwrap();
        assert_signed_by(&chain[0], &ca.web_ca_certificate());
        assert!(ca.web_ca_pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
    }
}
