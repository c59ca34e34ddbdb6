//! The code catalogue covers every typed view, and events are flagged known or unknown by it.

mod common;

use std::collections::BTreeSet;

use common::*;
use teleport_audit_types::codes::{self, Severity};
use teleport_audit_types::views::*;

fn check_view<'a, V: View<'a>>(name: &str) {
    let types: BTreeSet<&str> = V::EVENT_TYPES.iter().copied().collect();
    assert_eq!(
        types.len(),
        V::EVENT_TYPES.len(),
        "{name}: repeated event type"
    );
    for code in V::CODES {
        let info =
            codes::lookup(code).unwrap_or_else(|| panic!("{name}: {code} is not in the catalogue"));
        assert!(
            types.contains(info.event_type),
            "{name}: {code} belongs to {}, not to the view's types",
            info.event_type
        );
    }
    // Complete: every catalogue code of the view's types is listed.
    let listed: BTreeSet<&str> = V::CODES.iter().copied().collect();
    for event_type in &types {
        let of_type: Vec<_> = codes::codes_of_type(event_type).collect();
        assert!(
            !of_type.is_empty(),
            "{name}: {event_type} has no code in the catalogue"
        );
        for info in of_type {
            assert!(
                listed.contains(info.code),
                "{name}: {} ({event_type}) missing from CODES",
                info.code
            );
        }
    }
}

#[test]
fn every_view_code_is_in_the_catalogue() {
    check_view::<UserLogin<'_>>("UserLogin");
    check_view::<AuthFailure<'_>>("AuthFailure");
    check_view::<SessionEvent<'_>>("SessionEvent");
    check_view::<Exec<'_>>("Exec");
    check_view::<KubeRequest<'_>>("KubeRequest");
    check_view::<AppSession<'_>>("AppSession");
    check_view::<DbSession<'_>>("DbSession");
    check_view::<DbQuery<'_>>("DbQuery");
    check_view::<DesktopSession<'_>>("DesktopSession");
    check_view::<AccessRequest<'_>>("AccessRequest");
    check_view::<ResourceChange<'_>>("ResourceChange");
    check_view::<CertIssued<'_>>("CertIssued");
    check_view::<Join<'_>>("Join");
    check_view::<UnknownEvent<'_>>("UnknownEvent");
}

#[test]
fn catalogue_has_no_duplicates_and_is_sorted() {
    let all = codes::all();
    assert!(all.len() >= 330);
    let unique: BTreeSet<&str> = all.iter().map(|c| c.code).collect();
    assert_eq!(unique.len(), all.len());
    assert!(all.windows(2).all(|w| w[0].code < w[1].code));
    for info in all {
        assert_eq!(
            Severity::from_code(info.code),
            Some(info.severity),
            "{}",
            info.code
        );
    }
}

#[test]
fn fixture_events_are_known_unless_teleport_does_not_define_them() {
    let mut unknown = Vec::new();
    for line in all_fixture_lines() {
        let event = parse(&line);
        if event.is_known() {
            let info = event
                .code_info()
                .unwrap_or_else(|| panic!("known without info: {line}"));
            assert_eq!(event.severity(), Some(info.severity));
        } else {
            unknown.push(format!(
                "{}/{}",
                event.event_type(),
                event.code().unwrap_or("-")
            ));
        }
    }
    unknown.sort();
    assert_eq!(
        unknown,
        [
            "account.settings.updated/T543I", // the seed's sample: not an open-source code
            "future.feature.enabled/TFUT001I",
            "unknown/TCC00E",
        ]
    );
}

#[test]
fn severity_and_failure_follow_code_and_success() {
    let events = events();
    let denied = find(&events, "T1006W", |_| true);
    assert_eq!(denied.severity(), Some(Severity::Warning));
    assert!(
        denied.is_failure(),
        "a warning code without `success` is a failure"
    );
    let query = find(&events, "TDB02I", |_| true);
    assert_eq!(query.severity(), Some(Severity::Info));
    assert!(!query.is_failure());
    let exec = find(&events, "T3002E", |_| true);
    assert_eq!(exec.severity(), Some(Severity::Error));
    assert!(exec.is_failure());
    // The port-forward codes are shared by port.local and friends.
    let port = find(&events, "T3003I", |_| true);
    assert_eq!(port.event_type(), "port.local");
    assert!(port.is_known());
}
