//! The catalogue of Teleport audit event codes.
//!
//! Every event carries a `code` such as `T1000I`: a group (`T1000`: user login) and a suffix
//! letter giving its severity. One event type can have several codes (`user.login` has ten:
//! local, SSO, test-flow and headless logins, each succeeding or failing). The catalogue lists
//! every code Teleport defines with its event type, severity and a one-line meaning of our own
//! (390 codes, from Teleport's `lib/events/codes.go`, its web UI's code list and its audit event
//! reference, as of early 2026). A handful of the newest codes are left out because their event
//! type could not be confirmed from those sources (`T2019I`, `TAAC001I` to `TAAC004E`); events
//! carrying them, like any code not listed, are kept whole and reported by
//! [`AuditEvent::is_known`](crate::AuditEvent::is_known) as unknown.
//!
//! ```
//! use teleport_audit_types::codes::{self, Severity};
//!
//! let info = codes::lookup("T1000W").expect("a Teleport code");
//! assert_eq!(info.event_type, "user.login");
//! assert_eq!(info.severity, Severity::Warning);
//! assert!(codes::lookup("T9999X").is_none());
//! ```

mod catalogue;

use std::fmt;

/// How serious an event is, from the last letter of its code.
///
/// `I` is [`Info`](Severity::Info), `W` [`Warning`](Severity::Warning), `E`
/// [`Error`](Severity::Error). Teleport also uses two irregular letters: `S` (`T3003S`, port
/// forwarding stopped: the normal end of a forward) counts as `Info`, and `L` (`TJ001L`,
/// `TJ002L`, a join refused because a token's usage limit is exhausted) counts as `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Severity {
    /// Something happened as intended.
    Info,
    /// A denied or failed attempt worth attention.
    Warning,
    /// An operation failed.
    Error,
}

impl Severity {
    /// The severity the last letter of `code` denotes, or `None` for an unrecognised letter.
    pub fn from_code(code: &str) -> Option<Self> {
        match code.as_bytes().last()? {
            b'I' | b'S' => Some(Self::Info),
            b'W' | b'L' => Some(Self::Warning),
            b'E' => Some(Self::Error),
            _ => None,
        }
    }

    /// `"info"`, `"warning"` or `"error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct CodeInfo {
    /// The event code, e.g. `"T1000I"`.
    pub code: &'static str,
    /// The event type (`event` field) that carries this code, e.g. `"user.login"`.
    pub event_type: &'static str,
    /// Severity, from the code's last letter.
    pub severity: Severity,
    /// What the event means, in one line.
    pub description: &'static str,
}

/// The event type and code of Teleport's placeholder for events it cannot decode.
pub const UNKNOWN_EVENT_TYPE: &str = "unknown";
/// See [`UNKNOWN_EVENT_TYPE`].
pub const UNKNOWN_CODE: &str = "TCC00E";

/// Event types that share the codes of another type: Teleport emits the port-forwarding codes
/// (`T3003I/S/E`) under `port.local`, `port.remote` and `port.remote_conn` as well as `port`.
pub(crate) const TYPE_ALIASES: &[(&str, &str)] = &[
    ("port.local", "port"),
    ("port.remote", "port"),
    ("port.remote_conn", "port"),
];

/// Every code, sorted by code.
pub fn all() -> &'static [CodeInfo] {
    catalogue::CATALOGUE
}

/// The catalogue entry of `code`, if Teleport defines it.
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    let catalogue = catalogue::CATALOGUE;
    catalogue
        .binary_search_by(|entry| entry.code.cmp(code))
        .ok()
        .map(|index| &catalogue[index])
}

/// Every code whose event type is `event_type` (in code order).
pub fn codes_of_type(event_type: &str) -> impl Iterator<Item = &'static CodeInfo> + '_ {
    let canonical = canonical_type(event_type);
    catalogue::CATALOGUE
        .iter()
        .filter(move |entry| entry.event_type == canonical)
}

/// Whether an event of type `event_type` with code `code` is one Teleport defines: the code is in
/// the catalogue under that event type, and it is not Teleport's `unknown` placeholder.
pub fn is_known(event_type: &str, code: &str) -> bool {
    event_type != UNKNOWN_EVENT_TYPE
        && lookup(code).is_some_and(|entry| entry.event_type == canonical_type(event_type))
}

/// The type whose codes `event_type` uses (itself, unless it is an alias such as `port.local`).
fn canonical_type(event_type: &str) -> &str {
    TYPE_ALIASES
        .iter()
        .find(|(alias, _)| *alias == event_type)
        .map_or(event_type, |(_, canonical)| canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_sorted_without_duplicates() {
        let codes = all();
        assert!(codes.len() >= 330, "only {} codes", codes.len());
        for pair in codes.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} must sort before {} (and differ)",
                pair[0].code,
                pair[1].code
            );
        }
    }

    #[test]
    fn severity_matches_the_suffix_of_every_code() {
        for entry in all() {
            assert_eq!(
                Severity::from_code(entry.code),
                Some(entry.severity),
                "{}",
                entry.code
            );
        }
    }

    #[test]
    fn every_entry_is_well_formed() {
        for entry in all() {
            assert!(
                entry.code.len() >= 5 && entry.code.bytes().all(|b| b.is_ascii_alphanumeric()),
                "{}",
                entry.code
            );
            assert!(!entry.event_type.is_empty() && !entry.description.is_empty());
            assert!(!entry.description.contains('\n'));
        }
    }

    #[test]
    fn lookup_finds_codes_across_the_whole_table() {
        assert_eq!(lookup("T1000I").map(|e| e.event_type), Some("user.login"));
        assert_eq!(
            lookup("T80002I").map(|e| e.event_type),
            Some("github.updated")
        );
        assert_eq!(lookup("AUAR001I").map(|e| e.code), Some("AUAR001I"));
        assert_eq!(lookup("WID008I").map(|e| e.code), Some("WID008I"));
        assert_eq!(lookup("TCC00E").map(|e| e.event_type), Some("unknown"));
        assert_eq!(lookup("T1000"), None);
        assert_eq!(lookup(""), None);
        for entry in all() {
            assert_eq!(lookup(entry.code), Some(entry));
        }
    }

    #[test]
    fn severities_of_irregular_suffixes() {
        assert_eq!(Severity::from_code("T3003S"), Some(Severity::Info));
        assert_eq!(Severity::from_code("TJ001L"), Some(Severity::Warning));
        assert_eq!(Severity::from_code("T2007E"), Some(Severity::Error));
        assert_eq!(Severity::from_code("T2007X"), None);
        assert_eq!(Severity::from_code(""), None);
    }

    #[test]
    fn known_pairs() {
        assert!(is_known("user.login", "T1000W"));
        assert!(is_known("port.local", "T3003I"));
        assert!(!is_known("user.login", "T9000I"), "code of another type");
        assert!(
            !is_known("user.login", "T1099I"),
            "code not in the catalogue"
        );
        assert!(!is_known("unknown", "TCC00E"), "Teleport's placeholder");
        assert_eq!(codes_of_type("user.login").count(), 10);
        assert_eq!(codes_of_type("port.remote").count(), 3);
    }
}
