//! Every typed view returns the right values on the right fixture events and `None` on others.

mod common;

use common::*;
use teleport_audit_types::AuditEvent;
use teleport_audit_types::views::*;

/// Whether view `V` exists for `event`.
fn has<'a, V: View<'a>>(event: &'a AuditEvent) -> bool {
    event.view::<V>().is_some()
}

#[test]
fn each_view_matches_exactly_its_event_types() {
    let lines = all_fixture_lines();
    let events: Vec<_> = lines.iter().map(|l| parse(l)).collect();
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for event in &events {
        let t = event.event_type();
        let checks: [(&str, bool, &[&str]); 14] = [
            ("login", has::<UserLogin<'_>>(event), UserLogin::EVENT_TYPES),
            (
                "auth",
                has::<AuthFailure<'_>>(event),
                AuthFailure::EVENT_TYPES,
            ),
            (
                "session",
                has::<SessionEvent<'_>>(event),
                SessionEvent::EVENT_TYPES,
            ),
            ("exec", has::<Exec<'_>>(event), Exec::EVENT_TYPES),
            (
                "kube",
                has::<KubeRequest<'_>>(event),
                KubeRequest::EVENT_TYPES,
            ),
            ("app", has::<AppSession<'_>>(event), AppSession::EVENT_TYPES),
            (
                "db_session",
                has::<DbSession<'_>>(event),
                DbSession::EVENT_TYPES,
            ),
            ("db_query", has::<DbQuery<'_>>(event), DbQuery::EVENT_TYPES),
            (
                "desktop",
                has::<DesktopSession<'_>>(event),
                DesktopSession::EVENT_TYPES,
            ),
            (
                "access_request",
                has::<AccessRequest<'_>>(event),
                AccessRequest::EVENT_TYPES,
            ),
            (
                "resource",
                has::<ResourceChange<'_>>(event),
                ResourceChange::EVENT_TYPES,
            ),
            (
                "cert",
                has::<CertIssued<'_>>(event),
                CertIssued::EVENT_TYPES,
            ),
            ("join", has::<Join<'_>>(event), Join::EVENT_TYPES),
            (
                "unknown",
                has::<UnknownEvent<'_>>(event),
                UnknownEvent::EVENT_TYPES,
            ),
        ];
        for (name, present, types) in checks {
            assert_eq!(present, types.contains(&t), "view {name} on {t}");
            if present {
                *seen.entry(name).or_default() += 1;
            }
        }
        // The named accessors agree with the generic one.
        assert_eq!(event.user_login().is_some(), has::<UserLogin<'_>>(event));
        assert_eq!(
            event.resource_change().is_some(),
            has::<ResourceChange<'_>>(event)
        );
        assert_eq!(
            event.kube_session().is_some(),
            event.session().is_some() && event.protocol() == Some("kube")
        );
        assert_eq!(event.bot_join().is_some(), t == "bot.join");
    }
    // Every family is exercised by at least one fixture.
    assert_eq!(seen.len(), 14, "{seen:?}");
}

#[test]
fn user_login_view() {
    let events = events();
    let local = find(&events, "T1000I", |_| true);
    let login = local.user_login().unwrap_or_else(|| panic!("no view"));
    assert_eq!(login.kind(), LoginKind::Local);
    assert!(login.succeeded());
    assert_eq!(login.user(), Some("alice@acme.example"));
    assert_eq!(login.method(), Some("local"));
    assert!(login.used_mfa());
    assert_eq!(login.mfa_device_name(), Some("yubikey-5c"));
    assert_eq!(login.mfa_device_type(), Some("WebAuthn"));
    assert_eq!(login.remote_addr(), Some("198.51.100.23:51234"));
    assert!(login.user_agent().is_some_and(|ua| ua.contains("Firefox")));

    let failed = find(&events, "T1000W", |_| true);
    let login = failed.user_login().unwrap_or_else(|| panic!("no view"));
    assert!(!login.succeeded());
    assert!(!login.used_mfa());
    assert_eq!(
        login.error(),
        Some("invalid username, password or second factor")
    );

    let sso = find(&events, "T1001I", |_| true);
    let login = sso.user_login().unwrap_or_else(|| panic!("no view"));
    assert_eq!(
        (login.kind(), login.method()),
        (LoginKind::Sso, Some("saml"))
    );
    assert!(login.attributes().is_some_and(|a| a.contains_key("groups")));
    assert_eq!(sso.roles(), ["access", "editor"]);

    let sso_failed = find(&events, "T1001W", |_| true);
    let login = sso_failed.user_login().unwrap_or_else(|| panic!("no view"));
    assert!(!login.succeeded());
    assert_eq!(login.user(), None);
    assert_eq!(
        login.error(),
        Some("No roles mapped from claims \"groups\".")
    );

    let headless = find(&events, "T1012I", |_| true);
    let login = headless.user_login().unwrap_or_else(|| panic!("no view"));
    assert_eq!(login.kind(), LoginKind::HeadlessRequest);
    let test_flow = find(&events, "T1011W", |_| true);
    let login = test_flow.user_login().unwrap_or_else(|| panic!("no view"));
    assert_eq!(
        (login.kind(), login.method()),
        (LoginKind::SsoTestFlow, Some("github"))
    );
}

#[test]
fn auth_failure_view() {
    let events = events();
    let event = find(&events, "T3007W", |_| true);
    let auth = event.auth_failure().unwrap_or_else(|| panic!("no view"));
    assert_eq!(auth.user(), Some("dave@acme.example"));
    assert_eq!(auth.login(), Some("root"));
    assert_eq!(auth.remote_addr(), Some("192.0.2.99:60001"));
    assert!(
        auth.error()
            .is_some_and(|e| e.starts_with("ssh: principal \"root\""))
    );
    assert!(event.is_failure());
}

#[test]
fn session_view() {
    let events = events();
    let start = find(&events, "T2000I", |e| e.protocol() == Some("ssh"));
    let session = start.session().unwrap_or_else(|| panic!("no view"));
    assert_eq!(session.phase(), SessionPhase::Start);
    assert_eq!(session.login(), Some("ubuntu"));
    assert_eq!(session.server_hostname(), Some("web-01"));
    assert_eq!(session.terminal_size(), Some("120:40"));
    assert!(!session.is_kubernetes());
    assert!(start.kube_session().is_none());
    assert_eq!(start.time().nanosecond(), 123_456_789);

    let end = find(&events, "T2004I", |e| e.protocol() == Some("ssh"));
    let session = end.session().unwrap_or_else(|| panic!("no view"));
    assert_eq!(session.phase(), SessionPhase::End);
    assert_eq!(session.session_id(), start.session_id());
    assert_eq!(
        session.participants(),
        ["alice@acme.example", "bob@acme.example"]
    );
    assert_eq!(session.interactive(), Some(true));
    assert_eq!(session.enhanced_recording(), Some(true));
    assert_eq!(session.recording_mode(), Some("node"));
    // 10:15:00.123456789 to 10:45:30.987654321
    assert_eq!(
        session.duration(),
        Some(time::Duration::new(30 * 60 + 30, 864_197_532))
    );

    let join = find(&events, "T2001I", |_| true);
    assert_eq!(join.session().map(|s| s.phase()), Some(SessionPhase::Join));
    let leave = find(&events, "T2003I", |_| true);
    assert_eq!(
        leave.session().map(|s| s.phase()),
        Some(SessionPhase::Leave)
    );

    let kube = find(&events, "T2000I", |e| e.protocol() == Some("kube"));
    let session = kube
        .kube_session()
        .unwrap_or_else(|| panic!("no kube view"));
    assert!(session.is_kubernetes());
    assert_eq!(session.kubernetes_cluster(), Some("prod-eks"));
    assert_eq!(session.kubernetes_pod_name(), Some("api-7d9f8b6c5-x2kqp"));
    assert_eq!(session.kubernetes_pod_namespace(), Some("payments"));
}

#[test]
fn exec_view() {
    let events = events();
    let ok = find(&events, "T3002I", |e| e.protocol().is_none());
    let exec = ok.exec().unwrap_or_else(|| panic!("no view"));
    assert_eq!(exec.command(), Some("systemctl restart nginx"));
    assert_eq!(exec.exit_code(), Some(0));
    assert!(exec.succeeded());
    assert!(!exec.is_kubernetes());

    let failed = find(&events, "T3002E", |_| true);
    let exec = failed.exec().unwrap_or_else(|| panic!("no view"));
    assert_eq!(exec.exit_code(), Some(127));
    assert_eq!(exec.exit_error(), Some("exit status 127"));
    assert!(!exec.succeeded());

    let kube = find(&events, "T3002I", |e| e.protocol() == Some("kube"));
    let exec = kube.exec().unwrap_or_else(|| panic!("no view"));
    assert!(exec.is_kubernetes());
    assert_eq!(exec.kubernetes_pod_name(), Some("api-7d9f8b6c5-x2kqp"));
}

#[test]
fn kube_request_view() {
    let events = events();
    let allowed = find(&events, "T3009I", |e| {
        e.get_i64("response_code") == Some(200)
    });
    let request = allowed.kube_request().unwrap_or_else(|| panic!("no view"));
    assert_eq!(request.verb(), Some("GET"));
    assert_eq!(request.response_code(), Some(200));
    assert!(request.succeeded());
    assert_eq!(request.resource_kind(), Some("pods"));
    assert_eq!(
        request.kubernetes_groups(),
        ["system:authenticated", "devs"]
    );

    let denied = find(&events, "T3009I", |e| {
        e.get_i64("response_code") == Some(403)
    });
    let request = denied.kube_request().unwrap_or_else(|| panic!("no view"));
    assert!(!request.succeeded());
    assert_eq!(request.resource_name(), Some("admin-token"));
    assert_eq!(request.resource_namespace(), Some("kube-system"));
}

#[test]
fn app_session_view() {
    let events = events();
    let start = find(&events, "T2007I", |_| true);
    let app = start.app_session().unwrap_or_else(|| panic!("no view"));
    assert_eq!(app.phase(), AppSessionPhase::Start);
    assert_eq!(app.app_name(), Some("grafana"));
    assert_eq!(app.public_addr(), Some("grafana.acme.teleport.sh"));
    assert!(app.succeeded());

    let failed = find(&events, "T2007E", |_| true);
    let app = failed.app_session().unwrap_or_else(|| panic!("no view"));
    assert!(!app.succeeded());
    assert_eq!(app.error(), Some("access to app denied"));

    let chunk = find(&events, "T2008I", |_| true);
    let app = chunk.app_session().unwrap_or_else(|| panic!("no view"));
    assert_eq!(app.phase(), AppSessionPhase::Chunk);
    assert_eq!(
        app.aws_role_arn(),
        Some("arn:aws:iam::111122223333:role/ReadOnly")
    );

    // The seed's older sample uses `public_addr`.
    let samples: Vec<_> = fixture_lines("sample-events.ndjson")
        .iter()
        .map(|l| parse(l))
        .collect();
    let old = find(&samples, "T2007I", |_| true);
    assert_eq!(
        old.app_session().and_then(|a| a.public_addr()),
        Some("dumper.test.domain.com")
    );
}

#[test]
fn database_views() {
    let events = events();
    let start = find(&events, "TDB00I", |_| true);
    let db = start.db_session().unwrap_or_else(|| panic!("no view"));
    assert_eq!(db.phase(), DbSessionPhase::Start);
    assert_eq!(db.db_service(), Some("orders-pg"));
    assert_eq!(db.db_protocol(), Some("postgres"));
    assert_eq!(db.db_roles(), ["reader", "reporting"]);
    assert!(db.succeeded());
    assert!(start.db_query().is_none());

    let denied = find(&events, "TDB00W", |_| true);
    assert!(!denied.db_session().is_some_and(|d| d.succeeded()));

    let query = find(&events, "TDB02I", |_| true);
    let q = query.db_query().unwrap_or_else(|| panic!("no view"));
    assert_eq!(
        q.query(),
        Some("SELECT id, total\nFROM orders\nWHERE created_at > $1")
    );
    assert_eq!(q.query_parameters(), ["2025-11-01"]);
    assert!(query.db_session().is_none());

    let failed = find(&events, "TDB02W", |_| true);
    let q = failed.db_query().unwrap_or_else(|| panic!("no view"));
    assert!(!q.succeeded());
    assert_eq!(q.db_protocol(), Some("mysql"));

    let parse_event = find(&events, "TPG00I", |_| true);
    let q = parse_event.db_query().unwrap_or_else(|| panic!("no view"));
    assert_eq!(q.statement_name(), Some("upd_status"));
    assert!(q.query().is_some_and(|t| t.starts_with("UPDATE orders")));

    let spanner = find(&events, "TSPN001I", |_| true);
    let q = spanner.db_query().unwrap_or_else(|| panic!("no view"));
    assert_eq!(q.query(), Some("SELECT * FROM Accounts WHERE Balance < 0"));
    assert_eq!(q.procedure(), Some("ExecuteStreamingSql"));
}

#[test]
fn desktop_view() {
    let events = events();
    let start = find(&events, "TDP00I", |_| true);
    let desktop = start.desktop_session().unwrap_or_else(|| panic!("no view"));
    assert_eq!(
        (desktop.phase(), desktop.platform()),
        (DesktopSessionPhase::Start, DesktopPlatform::Windows)
    );
    assert_eq!(desktop.desktop_name(), Some("dc-01"));
    assert_eq!(desktop.desktop_user(), Some("Administrator"));
    assert_eq!(desktop.windows_domain(), Some("corp.acme.example"));
    assert!(
        desktop
            .desktop_labels()
            .is_some_and(|l| l.get("env").and_then(|v| v.as_str()) == Some("corp"))
    );
    assert!(desktop.succeeded());

    let denied = find(&events, "TDP00W", |_| true);
    assert!(!denied.desktop_session().is_some_and(|d| d.succeeded()));
    let end = find(&events, "TDP01I", |_| true);
    let desktop = end.desktop_session().unwrap_or_else(|| panic!("no view"));
    assert_eq!(desktop.phase(), DesktopSessionPhase::End);
    assert_eq!(desktop.recorded(), Some(true));
    let linux = find(&events, "TDP07I", |_| true);
    let desktop = linux.desktop_session().unwrap_or_else(|| panic!("no view"));
    assert_eq!(desktop.platform(), DesktopPlatform::Linux);
    assert_eq!(desktop.desktop_user(), Some("dev"));
}

#[test]
fn access_request_view() {
    let events = events();
    let create = find(&events, "T5000I", |_| true);
    let request = create.access_request().unwrap_or_else(|| panic!("no view"));
    assert_eq!(request.action(), AccessRequestAction::Create);
    assert_eq!(request.user(), Some("ivan"));
    assert_eq!(request.state(), Some("PENDING"));
    assert_eq!(request.roles(), ["db-admin"]);
    assert_eq!(request.resource_ids().len(), 1);
    assert!(request.reason().is_some_and(|r| r.contains("INC-4821")));
    assert_eq!(request.max_duration().map(|t| t.hour()), Some(23));

    let review = find(&events, "T5002I", |_| true);
    let request = review.access_request().unwrap_or_else(|| panic!("no view"));
    assert_eq!(request.action(), AccessRequestAction::Review);
    assert_eq!(request.reviewer(), Some("judy"));
    assert_eq!(request.proposed_state(), Some("APPROVED"));
    assert_eq!(request.request_id(), create.get_str("id"));

    let update = find(&events, "T5001I", |_| true);
    let request = update.access_request().unwrap_or_else(|| panic!("no view"));
    assert_eq!(request.action(), AccessRequestAction::Update);
    assert_eq!(request.updated_by(), Some("access-plugin-slack"));
    assert_eq!(request.delegator(), Some("judy"));
    let expire = find(&events, "T5005I", |_| true);
    assert_eq!(
        expire.access_request().map(|r| r.action()),
        Some(AccessRequestAction::Expire)
    );
}

#[test]
fn resource_change_view() {
    let events = events();
    let cases = [
        ("T9000I", "role", ChangeAction::Create, Some("db-admin")),
        ("T9002I", "role", ChangeAction::Update, Some("db-admin")),
        ("T9001I", "role", ChangeAction::Delete, Some("legacy-ops")),
        ("T1002I", "user", ChangeAction::Create, Some("kate")),
        ("T1003I", "user", ChangeAction::Update, Some("kate")),
        ("T1004I", "user", ChangeAction::Delete, Some("zoë")),
        ("TLK01I", "lock", ChangeAction::Delete, None),
        (
            "TJT00I",
            "join_token",
            ChangeAction::Create,
            Some("******************4f1a"),
        ),
        (
            "T6000I",
            "reset_password_token",
            ChangeAction::Create,
            Some("kate"),
        ),
        (
            "T8000I",
            "github_connector",
            ChangeAction::Create,
            Some("github-acme"),
        ),
        (
            "T1006I",
            "mfa_device",
            ChangeAction::Create,
            Some("touch-id"),
        ),
        (
            "TAL001E",
            "access_list",
            ChangeAction::Create,
            Some("break-glass"),
        ),
    ];
    for (code, kind, action, name) in cases {
        let event = find(&events, code, |_| true);
        let change = event
            .resource_change()
            .unwrap_or_else(|| panic!("no view for {code}"));
        assert_eq!((change.kind(), change.action()), (kind, action), "{code}");
        if let Some(name) = name {
            assert_eq!(change.name(), Some(name), "{code}");
        }
    }

    let user = find(&events, "T1002I", |_| true);
    let change = user.resource_change().unwrap_or_else(|| panic!("no view"));
    assert_eq!(change.roles(), ["access", "auditor"]);
    assert_eq!(change.actor(), Some("admin"));
    assert_eq!(change.expires(), None, "Go's zero time means no expiry");

    let lock = find(&events, "TLK00I", |_| true);
    let change = lock.resource_change().unwrap_or_else(|| panic!("no view"));
    assert_eq!(change.actor(), Some("security-bot"));
    assert_eq!(change.expires().map(|t| t.day()), Some(5));
    assert_eq!(lock.user_kind(), Some(teleport_audit_types::UserKind::Bot));

    let token = find(&events, "TJT00I", |_| true);
    let change = token.resource_change().unwrap_or_else(|| panic!("no view"));
    assert_eq!(change.roles(), ["Node", "App"]);
    assert_eq!(change.join_method(), Some("token"));

    let members = find(&events, "TAL005I", |_| true);
    let change = members
        .resource_change()
        .unwrap_or_else(|| panic!("no view"));
    assert_eq!(
        (change.kind(), change.members()),
        ("access_list_member", vec!["leo", "mia"])
    );
    assert_eq!(change.actor(), Some("judy"));
    assert!(change.succeeded());
    let failed = find(&events, "TAL001E", |_| true);
    assert!(!failed.resource_change().is_some_and(|c| c.succeeded()));
}

#[test]
fn cert_issued_view() {
    let events = events();
    let event = find(&events, "TC000I", |_| true);
    let cert = event.cert_issued().unwrap_or_else(|| panic!("no view"));
    assert_eq!(cert.cert_type(), Some("user"));
    assert_eq!(cert.subject(), Some("alice@acme.example"));
    assert_eq!(cert.roles(), ["access", "editor"]);
    assert_eq!(cert.logins(), ["ubuntu", "root", "-teleport-internal-join"]);
    assert_eq!(cert.client_ip(), Some("198.51.100.23"));
    assert_eq!(cert.kubernetes_groups(), ["devs"]);
    assert_eq!(cert.route_to_cluster(), Some("acme.teleport.sh"));
    assert_eq!(
        cert.expires().map(|t| t - event.time()),
        Some(time::Duration::new(12 * 3600 - 1, 1_000_000))
    );
    assert_eq!(cert.impersonator(), None);
}

#[test]
fn join_views() {
    let events = events();
    let bot = find(&events, "TJ001I", |_| true);
    let join = bot.bot_join().unwrap_or_else(|| panic!("no view"));
    assert_eq!(join.kind(), JoinKind::Bot);
    assert!(join.succeeded());
    assert_eq!(join.bot_name(), Some("deployer"));
    assert_eq!(join.method(), Some("github"));
    assert_eq!(join.token_name(), Some("github-deployer"));
    assert!(
        join.attributes()
            .is_some_and(|a| a.get("repository").and_then(|v| v.as_str()) == Some("acme/infra"))
    );

    let failed = find(&events, "TJ001E", |_| true);
    let join = failed.bot_join().unwrap_or_else(|| panic!("no view"));
    assert!(!join.succeeded());
    assert_eq!(
        join.error(),
        Some("id token claims did not match any allow rules")
    );

    let instance = find(&events, "TJ002I", |_| true);
    let join = instance.join().unwrap_or_else(|| panic!("no view"));
    assert_eq!(join.kind(), JoinKind::Instance);
    assert_eq!(
        (join.node_name(), join.role()),
        (Some("ip-10-0-9-9"), Some("Instance"))
    );
    assert!(instance.bot_join().is_none());
}

#[test]
fn unknown_events_are_kept_and_flagged() {
    let events = events();
    let unknown = find(&events, "TCC00E", |_| true);
    assert!(!unknown.is_known());
    let view = unknown.unknown().unwrap_or_else(|| panic!("no view"));
    assert_eq!(view.unknown_type(), Some("quantum.entangle"));
    assert_eq!(view.unknown_code(), Some("TQ001I"));
    assert!(view.data().is_some_and(|d| d.contains("\"TQ001I\"")));

    let future = find(&events, "TFUT001I", |_| true);
    assert!(!future.is_known());
    assert_eq!(future.code_info(), None);
    assert_eq!(
        future.severity(),
        Some(teleport_audit_types::codes::Severity::Info)
    );
    assert_eq!(future.get_str("feature"), Some("teleport-next"));
}
