//! What `tail` reads, from its flags, checked before anything is opened or dialed: the event
//! types (`--types`, `--skip-types`, against the catalogue) and the time range
//! (`--backfill-start`, `--until`).

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
    let unknown = if args.allow_unknown_types {
        UnknownTypes::Allow
    } else {
        UnknownTypes::Refuse
    };
    let resolve = |field: &'static str, items: &[String]| {
        let list = resolve_type_list(items, unknown).map_err(|error| {
            Error::Setting(SettingError::Config {
                field,
                reason: format!(
                    "{error}; with --allow-unknown-types, names newer than the catalogue are taken \
                 as given"
                ),
            })
        })?;
        if !list.unknown().is_empty() {
            tracing::warn!(
                "{field}: not in the event catalogue, taken as given: {}",
                list.unknown().join(", ")
            );
        }
        Ok::<_, Error>(list.into_types())
    };
    let selection = Selection {
        types: resolve("--types", &args.types)?,
        skip_types: resolve("--skip-types", &args.skip_types)?,
    };
    if let (Some(start), Some(until)) = (args.backfill_start, args.until)
        && until.time() < start.time()
    {
        return Err(Error::Setting(SettingError::Config {
            field: "--until",
            reason: format!("{until} is before the backfill start {start}"),
        }));
    }
    Ok(selection)
}
