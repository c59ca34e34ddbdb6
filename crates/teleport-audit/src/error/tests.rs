//! Tests of [`Error`]'s classification, shared samples of every variant, and the checks of
//! `docs/troubleshooting.md` against the code.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::*;
use crate::rpc_name::Rpc;

fn io() -> Arc<std::io::Error> {
    Arc::new(std::io::Error::other("boom"))
}

/// One error of each variant (two of `ServerError::Status`: a status retried and one not).
pub(crate) fn samples() -> Vec<Error> {
    let rpc = Rpc::GetUnstructuredEvents;
    let addr = || "proxy.example.com:443".to_owned();
    let message = || "m".to_owned();
    let path = || PathBuf::from("/var/lib/teleport-audit/cursor.json");
    let time = OffsetDateTime::UNIX_EPOCH;
    let expired = IdentityError::Expired {
        not_after: time,
        now: time,
    };
    vec![
        SettingError::InvalidAddress {
            input: "x".into(),
            reason: "no port",
        }
        .into(),
        SettingError::config("page_size", "0").into(),
        SettingError::config_caused_by(
            "identity",
            "the identity's CA certificates cannot verify servers",
            std::io::Error::other("no root certificates"),
        )
        .into(),
        SettingError::ProxyCa {
            reason: "x".into(),
            source: None,
        }
        .into(),
        SettingError::Listen {
            what: "metrics server",
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 9464)),
            source: io(),
        }
        .into(),
        Error::Identity(IdentityError::Empty),
        Error::Identity(expired),
        Error::Identity(IdentityError::NotYetValid {
            not_before: time,
            now: time,
        }),
        Error::Identity(IdentityError::NoCryptoProvider),
        ConnectError::Resolve {
            host: "h".into(),
            source: io(),
        }
        .into(),
        ConnectError::Refused {
            addr: addr(),
            source: io(),
        }
        .into(),
        ConnectError::Timeout {
            addr: addr(),
            step: "connecting to",
            after: Duration::from_secs(1),
        }
        .into(),
        ConnectError::Network {
            addr: addr(),
            source: io(),
        }
        .into(),
        ConnectError::Transport {
            rpc,
            source: Arc::new(std::io::Error::other("connection reset")),
        }
        .into(),
        ConnectError::HttpProxy {
            proxy: addr(),
            target: addr(),
            status: Some(407),
            reason: message(),
        }
        .into(),
        ConnectError::AlpnNotRouted {
            addr: addr(),
            presented: message(),
        }
        .into(),
        ConnectError::NoHttp2 {
            addr: addr(),
            negotiated: "none".into(),
        }
        .into(),
        ConnectError::UnknownCluster {
            addr: addr(),
            cluster: "c".into(),
        }
        .into(),
        ConnectError::Tls {
            addr: addr(),
            source: rustls::Error::General("x".into()),
        }
        .into(),
        ConnectError::Upgrade {
            addr: addr(),
            status: Some(404),
            reason: message(),
            source: None,
        }
        .into(),
        AuthError::UntrustedServer {
            addr: addr(),
            presented: message(),
            source: rustls::Error::General("x".into()),
        }
        .into(),
        AuthError::CertificateRejected {
            addr: addr(),
            alert: "BadCertificate".into(),
        }
        .into(),
        AuthError::ClusterMismatch {
            identity: "a".into(),
            server: "b".into(),
        }
        .into(),
        AuthError::Unauthenticated {
            rpc,
            message: message(),
        }
        .into(),
        PermissionError::new(rpc, message()).into(),
        ServerError::Unimplemented {
            rpc,
            message: message(),
        }
        .into(),
        ServerError::InvalidArgument {
            rpc,
            message: message(),
        }
        .into(),
        ServerError::Unavailable {
            rpc,
            message: message(),
        }
        .into(),
        ServerError::ResourceExhausted {
            rpc,
            message: message(),
        }
        .into(),
        ServerError::Timeout {
            rpc,
            after: Duration::from_secs(1),
        }
        .into(),
        ServerError::Status {
            rpc,
            code: tonic::Code::Internal,
            message: message(),
        }
        .into(),
        ServerError::Status {
            rpc,
            code: tonic::Code::FailedPrecondition,
            message: message(),
        }
        .into(),
        ServerError::RecordingNotFound {
            rpc: Rpc::StreamSessionEvents,
            session_id: "5b2d8a2e-0b4c-4f7e-9a0d-3c1f2e4d5a6b".into(),
            waited: Duration::from_secs(600),
            source: Arc::new(Error::from(ServerError::Status {
                rpc: Rpc::StreamSessionEvents,
                code: tonic::Code::NotFound,
                message: message(),
            })),
        }
        .into(),
        ServerError::RecordingCorrupt {
            rpc: Rpc::StreamUnstructuredSessionEvents,
            session_id: "5b2d8a2e-0b4c-4f7e-9a0d-3c1f2e4d5a6b".into(),
            next_index: 7,
            reason: "the server failed reading it twice at the same place".into(),
            source: None,
        }
        .into(),
        InternalError::TaskFailed { task: "page fetch" }.into(),
        CursorError::Invalid {
            reason: message(),
            source: None,
        }
        .into(),
        CursorError::FromOtherCluster {
            cursor: "a".into(),
            client: "b".into(),
        }
        .into(),
        CursorError::Ahead {
            field: "watermark",
            time,
            server_now: time,
            tolerance: Duration::from_secs(60),
        }
        .into(),
        CursorError::File {
            path: path(),
            action: "read",
            source: io(),
        }
        .into(),
        CursorError::FileUnusable {
            path: path(),
            reason: message(),
        }
        .into(),
        CursorError::Locked { path: path() }.into(),
        OutputError::File {
            path: path(),
            action: "write",
            source: io(),
        }
        .into(),
        OutputError::NotRecorded {
            path: path(),
            reason: message(),
        }
        .into(),
        OutputError::Locked { path: path() }.into(),
    ]
}

/// Why a cursor is invalid: the parse error's text when it did not parse, else the reason.
pub(crate) fn why(reason: String, source: Option<Arc<serde_json::Error>>) -> String {
    source.map_or(reason, |source| source.to_string())
}

/// An error's text and its sources' texts, joined by ": ", as the command prints them.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The codes the `code` functions in `sources` can return: the quoted names in their bodies.
fn codes_in(sources: &[&'static str]) -> Vec<&'static str> {
    let mut codes = Vec::new();
    for source in sources {
        for (start, _) in source
            .match_indices("fn code(&self) -> &'static str {")
            .chain(source.match_indices("fn identity_code("))
        {
            let body = &source[start + 10..];
            let body = &body[..body.find("fn ").unwrap_or(body.len())];
            codes.extend(body.split('"').skip(1).step_by(2).filter(|name| {
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            }));
        }
    }
    codes.sort_unstable();
    codes.dedup();
    codes
}

/// The codes `Error::code` can return, read from the sources of the detail types.
pub(crate) fn all_codes() -> Vec<&'static str> {
    codes_in(&[
        include_str!("../error.rs"),
        include_str!("setting.rs"),
        include_str!("connect.rs"),
        include_str!("auth.rs"),
        include_str!("server.rs"),
        include_str!("storage.rs"),
    ])
}

#[test]
fn the_samples_hold_every_code() {
    let codes = all_codes();
    assert!(codes.len() >= 32, "found only {codes:?}");
    let sampled: Vec<&str> = samples().iter().map(Error::code).collect();
    let missing: Vec<&str> = codes
        .into_iter()
        .filter(|code| !sampled.contains(code))
        .collect();
    assert!(missing.is_empty(), "no sample error with code {missing:?}");
}

/// Every code `Error::code` (and `Notice::code`) can return has an entry in the
/// troubleshooting guide.
#[test]
fn every_code_is_documented() {
    let mut codes = all_codes();
    let notices = codes_in(&[include_str!("../notice.rs")]);
    assert_eq!(notices.len(), 9, "{notices:?}");
    codes.extend(notices);
    let guide = include_str!("../../../../docs/troubleshooting.md");
    let missing: Vec<&&str> = codes
        .iter()
        .filter(|code| !guide.contains(&format!("`{code}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/troubleshooting.md: {missing:?}"
    );
}

/// docs/troubleshooting.md's table of kinds lists each code in its kind's row.
#[test]
fn the_kind_table_lists_every_code_in_its_kind() {
    let guide = include_str!("../../../../docs/troubleshooting.md");
    let start = guide
        .find("## Error kinds")
        .expect("docs/troubleshooting.md has an `## Error kinds` section");
    let section = &guide[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut wrong = Vec::new();
    for error in samples() {
        let name = format!("| `{:?}` |", error.kind());
        let row = section.lines().find(|line| line.starts_with(&name));
        if !row.is_some_and(|row| row.contains(&format!("`{}`", error.code()))) {
            wrong.push((error.code(), error.kind()));
        }
    }
    assert!(
        wrong.is_empty(),
        "codes not listed in their kind's row of the table of kinds: {wrong:?}"
    );
}

#[test]
fn the_kind_is_the_phase() {
    let kinds: Vec<ErrorKind> = samples().iter().map(Error::kind).collect();
    for kind in [
        ErrorKind::Setting,
        ErrorKind::Identity,
        ErrorKind::Connect,
        ErrorKind::Auth,
        ErrorKind::Permission,
        ErrorKind::Server,
        ErrorKind::Cursor,
        ErrorKind::Output,
        ErrorKind::Internal,
    ] {
        assert!(kinds.contains(&kind), "no sample of {kind:?}");
    }
    let denied: Error = PermissionError::new(Rpc::Ping, "no").into();
    assert_eq!(denied.kind(), ErrorKind::Permission);
}

/// `Display` says our words once: no error's message holds its cause's text, and no text of the
/// chain appears twice in it.
#[test]
fn the_cause_is_only_the_source() {
    for error in samples() {
        let mut texts = vec![error.to_string()];
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            let text = cause.to_string();
            assert!(
                !texts.iter().any(|earlier| earlier.contains(&text)),
                "{error:?}: {text:?} is already in {texts:?}"
            );
            texts.push(text);
            source = cause.source();
        }
    }
}

#[test]
fn only_connection_and_server_failures_are_retried() {
    for error in samples() {
        if error.is_retryable() {
            assert!(
                matches!(error.kind(), ErrorKind::Connect | ErrorKind::Server),
                "{error:?}"
            );
        }
        assert_eq!(error.is_fatal(), !error.is_retryable());
    }
}

#[test]
fn classification_is_consistent() {
    let unavailable: Error = ServerError::Unavailable {
        rpc: Rpc::GetUnstructuredEvents,
        message: "connection reset".into(),
    }
    .into();
    assert!(unavailable.is_retryable());
    assert!(!unavailable.is_fatal());
    assert!(!unavailable.is_auth());
    assert_eq!(unavailable.code(), "unavailable");

    let denied: Error = PermissionError::new(
        Rpc::GetUnstructuredEvents,
        "access denied to perform action \"list\" on \"event\"",
    )
    .into();
    assert!(!denied.is_retryable());
    assert!(denied.is_fatal());
    assert!(denied.is_auth());
    assert!(denied.advice().contains("`event`"));
}

#[test]
fn advice_on_a_status_fits_whether_it_is_retried() {
    let retried: Error = ServerError::Status {
        rpc: Rpc::GetUnstructuredEvents,
        code: tonic::Code::Internal,
        message: "boom".into(),
    }
    .into();
    assert!(retried.is_retryable());
    assert!(retried.advice().starts_with("Transient"));
    let final_status: Error = ServerError::Status {
        rpc: Rpc::GetUnstructuredEvents,
        code: tonic::Code::FailedPrecondition,
        message: "no".into(),
    }
    .into();
    assert!(final_status.is_fatal());
    assert!(
        !final_status.advice().contains("retries by itself"),
        "{}",
        final_status.advice()
    );
}

#[test]
fn unimplemented_export_gets_export_advice() {
    let export: Error = ServerError::Unimplemented {
        rpc: Rpc::GetEventExportChunks,
        message: "unknown method GetEventExportChunks".into(),
    }
    .into();
    assert!(export.is_fatal());
    assert!(
        export.advice().contains("Mode::Search"),
        "{}",
        export.advice()
    );
    let search: Error = ServerError::Unimplemented {
        rpc: Rpc::GetUnstructuredEvents,
        message: "unknown method".into(),
    }
    .into();
    assert!(search.advice().contains("v13+"));
}

#[test]
fn a_recording_failure_is_told_by_its_kind_and_says_the_session() {
    let kinds: Vec<_> = samples()
        .iter()
        .filter_map(|e| e.recording_failure().map(|kind| (kind, e.clone())))
        .collect();
    assert_eq!(kinds.len(), 2);
    for (kind, error) in kinds {
        assert!(error.is_fatal(), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("5b2d8a2e-0b4c-4f7e-9a0d-3c1f2e4d5a6b"),
            "{error}"
        );
        match kind {
            RecordingFailure::NotFound => {
                assert_eq!(error.code(), "recording_not_found");
                assert_eq!(error.class(), crate::error_class::ErrorClass::Unavailable);
                assert!(error.advice().contains("recording_wait"));
            }
            RecordingFailure::Corrupt => {
                assert_eq!(error.code(), "recording_corrupt");
                assert_eq!(error.class(), crate::error_class::ErrorClass::Data);
            }
        }
    }
    let session: Error = ServerError::Unimplemented {
        rpc: Rpc::StreamSessionEvents,
        message: "unknown method".into(),
    }
    .into();
    assert!(session.advice().contains("StreamSessionEvents"));
    assert_eq!(session.recording_failure(), None);
}

#[test]
fn display_is_one_line_in_our_words() {
    let error: Error = ServerError::Timeout {
        rpc: Rpc::GetUnstructuredEvents,
        after: Duration::from_secs(30),
    }
    .into();
    assert_eq!(
        error.to_string(),
        "GetUnstructuredEvents: no answer within 30s"
    );
    let error: Error = AuthError::ClusterMismatch {
        identity: "a.example.com".into(),
        server: "b.example.com".into(),
    }
    .into();
    assert_eq!(
        error.to_string(),
        "cluster mismatch: the identity is for \"a.example.com\" but the Auth Service serves \"b.example.com\""
    );
}

/// A setting refused because of another error names the setting in our words and keeps that
/// error as the source, unformatted; a refusal of our own has no source.
#[test]
fn a_config_error_keeps_its_cause_only_as_the_source() {
    let caused: Error = SettingError::config_caused_by(
        "identity",
        "the identity's CA certificates cannot verify servers",
        std::io::Error::other("no root certificates"),
    )
    .into();
    assert_eq!(caused.code(), "invalid_config");
    assert_eq!(
        caused.to_string(),
        "invalid configuration: identity: the identity's CA certificates cannot verify servers"
    );
    let source = std::error::Error::source(&caused).map(ToString::to_string);
    assert_eq!(source.as_deref(), Some("no root certificates"));

    let own: Error = SettingError::config("page_size", "0 is outside 1 to 10000").into();
    assert_eq!(
        own.to_string(),
        "invalid configuration: page_size: 0 is outside 1 to 10000"
    );
    assert!(std::error::Error::source(&own).is_none());
}
