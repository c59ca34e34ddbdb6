//! The exit status of `teleport-audit`, by the class of what ended it: the numbers of BSD's
//! `sysexits.h` that supervisors and scripts know, listed in `--help` ([`HELP`]) and in
//! `docs/troubleshooting.md`.

use teleport_audit::ErrorClass;

/// Anything else: a failure of no [class](ErrorClass) below, or of [`ErrorClass::Other`].
pub const FAILURE: u8 = 1;
/// A usage or setting error (`EX_USAGE` is 64, but every command-line parser, clap's too,
/// says 2): the command line, an environment variable or the `--config` file.
pub const USAGE: u8 = 2;
/// `EX_DATAERR`: a cursor or output that cannot be used as it is.
pub const DATA: u8 = 65;
/// `EX_UNAVAILABLE`: the cluster or the way to it is not available now.
pub const UNAVAILABLE: u8 = 69;
/// `EX_NOPERM`: the identity or its roles.
pub const PERMISSION: u8 = 77;
/// 128 + SIGINT: stopped by SIGINT or SIGTERM, after a clean stop with the cursor saved.
pub const INTERRUPTED: u8 = 130;

/// The exit status of a library error's class.
pub fn for_class(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Setting => USAGE,
        ErrorClass::Data => DATA,
        ErrorClass::Unavailable => UNAVAILABLE,
        ErrorClass::Permission => PERMISSION,
        // A class added to the library later is "anything else" until it gets a status here.
        _ => FAILURE,
    }
}

/// The exit statuses, as `--help` lists them after the options.
pub const HELP: &str = "\
Exit status:
  0    done (--until-now caught up, the reader of stdout went away)
  1    any other failure
  2    usage or setting error (flag, TELEPORT_AUDIT_* variable, --config file)
  65   cursor or output data unusable (invalid, foreign or ahead cursor; output not recorded)
  69   cluster unavailable (DNS, refused, timeout, network, server down; retry later)
  77   identity or permission (unreadable, expired or rejected identity; role lacks access)
  130  interrupted by SIGINT or SIGTERM, cursor saved (a clean stop)
See docs/troubleshooting.md for each error code and its class.";

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSES: [ErrorClass; 5] = [
        ErrorClass::Setting,
        ErrorClass::Permission,
        ErrorClass::Data,
        ErrorClass::Unavailable,
        ErrorClass::Other,
    ];

    /// The rows of docs/troubleshooting.md's exit-code table: (status, class name or "").
    fn documented() -> Vec<(u8, String)> {
        let guide = include_str!("../../../docs/troubleshooting.md");
        let start = guide
            .find("## Exit codes")
            .expect("an `## Exit codes` section");
        guide[start..]
            .lines()
            .skip_while(|line| !line.starts_with("| exit |"))
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let status = cells[1].parse().expect("a status in the first column");
                (status, cells[2].trim_matches('`').to_owned())
            })
            .collect()
    }

    #[test]
    fn the_troubleshooting_table_matches_the_statuses() {
        let rows = documented();
        for class in CLASSES {
            let name = format!("{class:?}");
            assert!(
                rows.contains(&(for_class(class), name.clone())),
                "{class:?} exits {}, not in {rows:?}",
                for_class(class)
            );
        }
        for status in [0, INTERRUPTED] {
            assert!(rows.iter().any(|(s, _)| *s == status), "{status}");
        }
        let statuses: Vec<u8> = rows.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            statuses,
            [
                0,
                FAILURE,
                USAGE,
                DATA,
                UNAVAILABLE,
                PERMISSION,
                INTERRUPTED
            ]
        );
    }

    #[test]
    fn help_lists_every_status() {
        for status in [
            0,
            FAILURE,
            USAGE,
            DATA,
            UNAVAILABLE,
            PERMISSION,
            INTERRUPTED,
        ] {
            assert!(
                HELP.lines()
                    .any(|line| line.starts_with(&format!("  {status} "))),
                "{status} not in --help's list"
            );
        }
        let help = crate::command().render_long_help().to_string();
        assert!(help.contains(HELP.lines().nth(3).unwrap()), "{help}");
    }

    #[test]
    fn classes_map_to_distinct_statuses() {
        let mut statuses: Vec<u8> = CLASSES.iter().map(|c| for_class(*c)).collect();
        statuses.sort_unstable();
        statuses.dedup();
        assert_eq!(statuses.len(), CLASSES.len());
    }
}
