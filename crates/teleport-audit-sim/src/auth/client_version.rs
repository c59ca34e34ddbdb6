//! Teleport's check of the client version a call announces (`Middleware.ValidateClientVersion`
//! in lib/auth/middleware.go), as a pure rule.
//!
//! Teleport's Go API client sends its version in the `version` gRPC metadata of every call
//! (api/metadata: `VersionKey`). An Auth Service that checks it closes the connection of a
//! client older than `<its major - 1>.0.0-aa` (`teleport.MinClientSemVersion`), and of one whose
//! version does not parse, before the `AccessDenied` it returns can be sent: the client sees the
//! connection drop (tsh prints `error reading from server: EOF`). Whether it checks depends on
//! the version (see [`OldClients`]).

use crate::OldClients;
use crate::shared::Version;

/// The metadata key of the client's version (`metadata.VersionKey`).
pub(crate) const VERSION_KEY: &str = "version";

/// First major version whose Auth Service rejects old clients unless told not to
/// (`TELEPORT_UNSTABLE_ALLOW_OLD_CLIENTS=yes`). Before it the check was opt-in
/// (`TELEPORT_UNSTABLE_REJECT_OLD_CLIENTS=yes`, backported in February 2024, after 13.3.8 and
/// 14.2.3, which have no check at all).
pub(crate) const REJECTS_BY_DEFAULT_FROM_MAJOR: u64 = 16;

/// Whether a server of `server` version, configured with `policy`, checks client versions.
pub(crate) fn enforced(policy: OldClients, server: &Version) -> bool {
    match policy {
        OldClients::Allow => false,
        OldClients::Reject => true,
        OldClients::AsVersion => server.major() >= REJECTS_BY_DEFAULT_FROM_MAJOR,
    }
}

/// Whether a call with these `version` metadata values is served, given the oldest client
/// version accepted (`None`: no check). Teleport reads the version only when the key has
/// exactly one value (`metadata.ClientVersionFromContext`); a call without one, or with several,
/// is not checked. The value is parsed as `coreos/go-semver` does: `MAJOR.MINOR.PATCH` with an
/// optional `-PRE` and `+BUILD`, no leading `v`.
pub(crate) fn accepted(oldest: Option<&Version>, values: &[&[u8]]) -> bool {
    let Some(oldest) = oldest else {
        return true;
    };
    let [value] = values else {
        return true;
    };
    std::str::from_utf8(value)
        .ok()
        .filter(|text| !text.starts_with('v'))
        .and_then(Version::parse)
        .is_some_and(|client| client >= *oldest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn the_check_is_on_by_default_from_16_and_switchable_both_ways() {
        for (server, default) in [
            ("13.3.8", false),
            ("14.2.3", false),
            ("15.4.22", false),
            ("16.0.0", true),
            ("18.2.0", true),
        ] {
            assert_eq!(
                enforced(OldClients::AsVersion, &v(server)),
                default,
                "{server}"
            );
            assert!(!enforced(OldClients::Allow, &v(server)), "{server}");
            assert!(enforced(OldClients::Reject, &v(server)), "{server}");
        }
    }

    #[test]
    fn clients_from_the_previous_major_on_are_served() {
        let oldest = v("18.2.0").min_client();
        let ok = |text: &str| accepted(Some(&oldest), &[text.as_bytes()]);
        assert!(ok("17.0.0"));
        assert!(ok("17.0.0-alpha.1"), "pre-releases of the previous major");
        assert!(ok("18.2.0"));
        assert!(
            ok("19.0.0"),
            "newer clients are not checked against a maximum"
        );
        assert!(ok("17.4.2+build.5"));
        assert!(!ok("16.4.9"));
        assert!(!ok("13.3.8"), "the Go api client of v13.3.8");
        assert!(!ok("14.2.3"));
    }

    #[test]
    fn a_version_that_does_not_parse_is_refused() {
        let oldest = v("18.2.0").min_client();
        for bad in ["", "18", "18.2", "v18.2.0", "eighteen", "18.2.0.1"] {
            assert!(!accepted(Some(&oldest), &[bad.as_bytes()]), "{bad:?}");
        }
        assert!(!accepted(Some(&oldest), &[b"\xff18.2.0"]), "not UTF-8");
    }

    #[test]
    fn no_value_or_several_values_are_not_checked() {
        let oldest = v("18.2.0").min_client();
        assert!(accepted(Some(&oldest), &[]));
        assert!(accepted(Some(&oldest), &[b"1.0.0", b"2.0.0"]));
    }

    #[test]
    fn without_the_check_every_value_is_served() {
        assert!(accepted(None, &[b"1.0.0"]));
        assert!(accepted(None, &[b"not a version"]));
    }
}
