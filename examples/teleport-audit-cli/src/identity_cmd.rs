//! `teleport-audit identity [PATH]`: the identity's summary as JSON.

use std::io::Write as _;

use teleport_audit::{Error, Identity, SettingError};

use crate::args::IdentityArgs;

/// Loads the identity from a path, or from `TELEPORT_IDENTITY` (the file's contents).
pub(crate) fn load(path: Option<&std::path::Path>) -> Result<Identity, Error> {
    match path {
        Some(path) => Ok(Identity::from_identity_file(path)?),
        None => {
            let text = std::env::var("TELEPORT_IDENTITY").map_err(|_| Error::Setting(SettingError::config("identity", "give --identity-file PATH, or put the identity file's contents in TELEPORT_IDENTITY")))?;
            Ok(Identity::from_identity_str(&text)?)
        }
    }
}

pub(crate) fn run(args: IdentityArgs) -> Result<(), Error> {
    let identity = load(args.path.as_deref())?;
    let validity = identity.check_validity();
    let mut summary = serde_json::to_value(identity.summary()).map_err(|e| {
        Error::Setting(SettingError::config_caused_by(
            "identity",
            "the summary does not serialise",
            e,
        ))
    })?;
    if let Some(object) = summary.as_object_mut() {
        object.insert("valid_now".to_owned(), validity.is_ok().into());
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{summary:#}");
    validity.map_err(Error::from)
}
