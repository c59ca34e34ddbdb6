//! Value pools the generated events draw from: names, hosts, commands, resources.

pub(super) const USERS: &[&str] = &[
    "alice@example.com",
    "bob@example.com",
    "carol",
    "dave",
    "erin@example.com",
    "frank",
    "grace@example.com",
    "heidi",
    "ivan",
    "judy@example.com",
];

pub(super) const ADMINS: &[&str] = &["admin@example.com", "sre-oncall@example.com", "system"];

pub(super) const BOTS: &[&str] = &["ci-deployer", "terraform", "argocd-sync"];

/// (hostname, private address).
pub(super) const HOSTS: &[(&str, &str)] = &[
    ("ip-10-0-1-12", "10.0.1.12"),
    ("ip-10-0-2-37", "10.0.2.37"),
    ("bastion-1", "10.0.0.5"),
    ("db-prod-1", "10.0.3.20"),
    ("web-3", "10.0.4.13"),
    ("build-agent-7", "10.0.5.71"),
];

pub(super) const LOGINS: &[&str] = &["root", "ubuntu", "ec2-user", "admin", "deploy"];

pub(super) const ROLES: &[&str] = &[
    "access",
    "editor",
    "auditor",
    "db-admin",
    "k8s-admin",
    "dev",
    "audit-reader",
];

pub(super) const COMMANDS: &[&str] = &[
    "ls -la",
    "sudo systemctl restart nginx",
    "cat /etc/hosts",
    "kubectl get pods -A",
    "psql -h localhost -U app",
    "tail -f /var/log/syslog",
    "df -h",
    "uptime",
    "git pull --ff-only",
    "docker ps --format '{{.Names}}'",
];

pub(super) const KUBE_CLUSTERS: &[&str] = &["prod-eks", "staging-gke", "dev-kind"];

/// (verb, path, resource kind, namespace, name).
pub(super) const KUBE_REQUESTS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "GET",
        "/api/v1/namespaces/default/pods",
        "pods",
        "default",
        "",
    ),
    (
        "GET",
        "/api/v1/namespaces/kube-system/pods/coredns-5d78c9869d-x2x7k",
        "pods",
        "kube-system",
        "coredns-5d78c9869d-x2x7k",
    ),
    (
        "LIST",
        "/apis/apps/v1/namespaces/payments/deployments",
        "deployments",
        "payments",
        "",
    ),
    (
        "PATCH",
        "/apis/apps/v1/namespaces/payments/deployments/api",
        "deployments",
        "payments",
        "api",
    ),
    (
        "DELETE",
        "/api/v1/namespaces/ci/pods/runner-7f9c",
        "pods",
        "ci",
        "runner-7f9c",
    ),
    (
        "GET",
        "/api/v1/namespaces/default/secrets/db-credentials",
        "secrets",
        "default",
        "db-credentials",
    ),
];

/// (app name, internal URI, public address).
pub(super) const APPS: &[(&str, &str, &str)] = &[
    (
        "grafana",
        "http://grafana.internal:3000",
        "grafana.teleport.example.com",
    ),
    (
        "jenkins",
        "http://jenkins.internal:8080",
        "jenkins.teleport.example.com",
    ),
    (
        "awsconsole",
        "https://console.aws.amazon.com/ec2/v2/home",
        "awsconsole.teleport.example.com",
    ),
    (
        "argocd",
        "https://argocd.internal",
        "argocd.teleport.example.com",
    ),
];

pub(super) const APP_PATHS: &[&str] = &[
    "/api/dashboards/uid/node-exporter",
    "/api/search",
    "/job/deploy/build",
    "/api/v1/applications",
    "/public/build/app.js",
];

/// (service, protocol, URI, type, database name).
pub(super) const DATABASES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "prod-postgres",
        "postgres",
        "prod-postgres.cluster-abc123.us-east-1.rds.amazonaws.com:5432",
        "rds",
        "orders",
    ),
    (
        "analytics",
        "mysql",
        "analytics.internal:3306",
        "self-hosted",
        "events",
    ),
    (
        "mongo-main",
        "mongodb",
        "mongo-main.internal:27017",
        "self-hosted",
        "app",
    ),
];

pub(super) const QUERIES: &[&str] = &[
    "SELECT id, email FROM users WHERE id = $1",
    "UPDATE orders SET status = 'shipped' WHERE id = 4217",
    "SELECT count(*) FROM events WHERE created_at > now() - interval '1 day'",
    "DELETE FROM sessions WHERE expires_at < now()",
    "INSERT INTO audit_notes (author, note) VALUES ($1, $2)",
    "BEGIN",
    "COMMIT",
];

/// (desktop name, address, domain).
pub(super) const DESKTOPS: &[(&str, &str, &str)] = &[
    ("WIN-DC01", "10.0.6.10:3389", "corp.example.com"),
    ("WIN-BUILD02", "10.0.6.22:3389", "corp.example.com"),
    ("WIN-JUMP", "10.0.6.5:3389", "corp.example.com"),
];

pub(super) const WINDOWS_USERS: &[&str] = &["Administrator", "svc-deploy", "alice"];

pub(super) const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "tsh/18.2.0",
    "tctl/18.2.0",
];

pub(super) const SSO_METHODS: &[(&str, &str)] =
    &[("saml", "okta"), ("oidc", "google"), ("github", "github")];

pub(super) const MFA_DEVICES: &[(&str, &str)] = &[
    ("yubikey-5c", "WebAuthn"),
    ("touch-id", "WebAuthn"),
    ("authenticator", "TOTP"),
];

pub(super) const LOGIN_ERRORS: &[&str] = &[
    "invalid username, password or second factor",
    "user(name=\"mallory\") not found",
    "MFA response validation failed",
];

pub(super) const AUTH_ERRORS: &[&str] = &[
    "ssh: principal \"root\" not in the set of valid principals for given certificate: [\"ubuntu\"]",
    "ssh: cert has expired",
    "ssh: certificate signed by unrecognized authority",
];

pub(super) const REQUEST_REASONS: &[&str] = &[
    "Investigating INC-4211 in payments",
    "Quarterly DB maintenance",
    "Need to restart the ingress controller",
    "On-call handover",
];

pub(super) const JOIN_METHODS: &[&str] = &["token", "iam", "github", "kubernetes"];

pub(super) const UNKNOWN_TYPES: &[(&str, &str)] = &[
    ("workload_identity.x509.issued", "TWID9I"),
    ("teleport.future.event", "TXX01I"),
];
