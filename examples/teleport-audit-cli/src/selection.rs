//! What `tail` reads, from its flags, checked before anything is opened or dialed: the event
//! types (`--types`, `--skip-types`, against the catalogue), the recording event types to skip
//! (`--skip-session-types`, also for `session`) and the time range (`--backfill-start`,
//! `--until`).

use teleport_audit::types::type_list::{UnknownTypes, resolve_type_list};
use teleport_audit::{Error, SettingError};

use crate::args::TailArgs;

/// The event types `tail` asks for and skips.
#[derive(Debug)]
pub(crate) struct Selection {
    /// For `StreamConfig::event_types` (the server's filter).
    pub(crate) types: Vec<String>,
    /// For `StreamConfig::skip_event_types` (filtered here).
    pub(crate) skip_types: Vec<String>,
}

/// Resolves `--types` and `--skip-types` (codes to their type, names checked against the
/// catalogue), and checks that `--until` is not before `--backfill-start`. Names not in the
/// catalogue are refused unless `--allow-unknown-types`; then each is logged once.
pub(crate) fn select(args: &TailArgs) -> Result<Selection, Error> {
    let selection = Selection {
        types: resolve("--types", &args.types, args.allow_unknown_types, ALLOW_HINT)?,
        skip_types: resolve(
            "--skip-types",
            &args.skip_types,
            args.allow_unknown_types,
            ALLOW_HINT,
        )?,
    };
    if let (Some(start), Some(until)) = (args.backfill_start, args.until)
        && until.time() < start.time()
    {
        return Err(Error::Setting(SettingError::config(
            "--until",
            format!("{until} is before the backfill start {start}"),
        )));
    }
    Ok(selection)
}

/// What a refusal of `--types` or `--skip-types` adds.
const ALLOW_HINT: &str =
    "; with --allow-unknown-types, names newer than the catalogue are taken as given";

/// Recording event types without an event code, so not in the catalogue: `print` (terminal
/// output) and `desktop.recording` (desktop frames).
const UNCODED_RECORDING_TYPES: [&str; 2] = ["print", "desktop.recording"];

/// Checks `--skip-session-types`: each a recording event type without a code
/// ([`UNCODED_RECORDING_TYPES`]), or a catalogue name or code (a code stands for its type). A
/// typo is refused with the closest known names (it would otherwise skip nothing, silently:
/// `prnt` would let every `print` through); with `allow_unknown`, it is taken as given.
pub(crate) fn skip_session_types(
    items: &[String],
    allow_unknown: bool,
) -> Result<Vec<String>, Error> {
    let (uncoded, rest): (Vec<String>, Vec<String>) = items
        .iter()
        .cloned()
        .partition(|t| UNCODED_RECORDING_TYPES.contains(&t.as_str()));
    let named = resolve(
        "--skip-session-types",
        &rest,
        allow_unknown,
        "; `print` and `desktop.recording` (no event code) are recording types too",
    )?;
    Ok(uncoded.into_iter().chain(named).collect())
}

/// Resolves one flag's type list against the catalogue (codes to their type). A name not in
/// it is refused (naming the closest known ones, then `hint`) unless `allow_unknown`; then it
/// is taken as given and logged once.
fn resolve(
    field: &'static str,
    items: &[String],
    allow_unknown: bool,
    hint: &str,
) -> Result<Vec<String>, Error> {
    let unknown = if allow_unknown {
        UnknownTypes::Allow
    } else {
        UnknownTypes::Refuse
    };
    let list = resolve_type_list(items, unknown)
        .map_err(|error| Error::Setting(SettingError::config(field, format!("{error}{hint}"))))?;
    if !list.unknown().is_empty() {
        tracing::warn!(
            "{field}: not in the event catalogue, taken as given: {}",
            list.unknown().join(", ")
        );
    }
    Ok(list.into_types())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip(items: &[&str], allow_unknown: bool) -> Result<Vec<String>, Error> {
        let items: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
        skip_session_types(&items, allow_unknown)
    }

    #[test]
    fn recording_types_without_a_code_catalogue_names_and_codes_are_taken() {
        assert_eq!(
            skip(
                &["print", "T2002I", "session.join", "desktop.recording"],
                false
            )
            .unwrap(),
            ["print", "desktop.recording", "resize", "session.join"]
        );
        assert!(skip(&[], false).unwrap().is_empty());
    }

    #[test]
    fn a_typo_is_refused_with_the_closest_names_unless_unknown_types_are_allowed() {
        let error = skip(&["print", "sesion.end"], false).unwrap_err();
        assert_eq!(error.code(), "invalid_config");
        let text = error.to_string();
        assert!(text.contains("--skip-session-types"), "{text}");
        assert!(text.contains("closest: session.end"), "{text}");
        assert!(text.contains("`print`"), "{text}");
        assert_eq!(
            skip(&["print", "future.recording.type"], true).unwrap(),
            ["print", "future.recording.type"]
        );
    }
}
