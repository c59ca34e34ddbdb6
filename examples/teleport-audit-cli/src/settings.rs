//! Settings from three places: the command line, the environment and a TOML file.
//!
//! - Every flag of every subcommand has an environment variable `TELEPORT_AUDIT_<FLAG>`: the
//!   long name in upper case, dashes as underscores (`--cursor-file`:
//!   `TELEPORT_AUDIT_CURSOR_FILE`). [`define`] adds them to the definition, so a new flag has
//!   one without anything else to edit; clap reads them. A flag that takes no value reads
//!   `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`); `--verbose` a count.
//! - Three flags also read the names Teleport's own tools use ([`TELEPORT_ENV`]), after their
//!   `TELEPORT_AUDIT_` variable. `TELEPORT_IDENTITY` (the identity file's contents) is read by
//!   the commands themselves, as before.
//! - `--config FILE` (or `TELEPORT_AUDIT_CONFIG`) names a TOML file whose keys are named like
//!   the long flags, in kebab-case (`cursor-file = "/var/lib/teleport-audit/cursor.json"`,
//!   `page-size = 1000`, `types = ["user.login"]`, `until-now = true`, `verbose = 2`). One file
//!   can serve every subcommand: a key of a flag that the running subcommand does not take is
//!   ignored; a key of no flag is an error naming the closest key.
//!
//! Precedence, setting by setting: the flag, then `TELEPORT_AUDIT_<FLAG>`, then Teleport's name,
//! then the file, then the default. A setting given at one level also silences the settings it
//! conflicts with at lower levels (`--auth` on the command line and `proxy` in the file: the
//! flag wins).
//!
//! [`resolve`] turns Teleport's variables and the file's keys into command-line arguments
//! (`--cursor-file=...`) for the settings that neither the command line nor a
//! `TELEPORT_AUDIT_` variable gave, inserted after the subcommand's name, so that clap checks
//! them like flags (required settings, conflicts, value parsers). Each file value is checked
//! first on its own, so a bad one is reported with the file and its key. The identity's
//! contents are never taken from the file, and a value that looks like key material is
//! refused like the [guard](crate::secret_guard) refuses one on the command line, without
//! showing it.

use std::any::TypeId;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use clap::builder::BoolishValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use teleport_audit::identity::secret_text::looks_like_secret;

use crate::exit;
use crate::secret_guard::{self, Place, Refusal};

/// The prefix of every flag's environment variable.
pub const ENV_PREFIX: &str = "TELEPORT_AUDIT_";

/// The id (and long name) of the flag that names the settings file.
pub const CONFIG: &str = "config";

/// The environment variables Teleport's own tools use, by the long flag they set here; read
/// after the flag's `TELEPORT_AUDIT_` variable, before the settings file.
pub const TELEPORT_ENV: &[(&str, &str)] = &[
    ("proxy", "TELEPORT_PROXY"),
    ("identity-file", "TELEPORT_IDENTITY_FILE"),
    ("auth", "TELEPORT_AUTH_SERVER"),
];

/// The identity file's contents (the secret): read by the commands when no identity file is
/// named. Set, it outranks `identity-file` in the settings file, as every variable outranks
/// the file; `TELEPORT_IDENTITY_FILE` (a path) outranks it.
pub const IDENTITY_CONTENTS_ENV: &str = "TELEPORT_IDENTITY";

/// The largest settings file read (a settings file is a few hundred bytes).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// What `--help` says about settings, before the exit statuses.
const HELP: &str = "\
Settings: every flag can also be given as the environment variable TELEPORT_AUDIT_<FLAG>
(TELEPORT_AUDIT_CURSOR_FILE for --cursor-file), or as a key named like the flag in the TOML
file of --config (cursor-file = \"/var/lib/teleport-audit/cursor.json\"). A flag beats its
variable, which beats Teleport's own name (TELEPORT_PROXY, TELEPORT_IDENTITY_FILE,
TELEPORT_AUTH_SERVER), which beats the file. The identity's contents come only from
TELEPORT_IDENTITY or the file --identity-file names, never from the settings file.";

/// The environment variable of the flag `--long`.
pub fn env_name(long: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        long.to_ascii_uppercase().replace('-', "_")
    )
}

/// The name Teleport's tools use for the setting of `arg`, if any ([`TELEPORT_ENV`]).
pub fn teleport_env(arg: &Arg) -> Option<&'static str> {
    let long = arg.get_long()?;
    TELEPORT_ENV
        .iter()
        .find(|(flag, _)| *flag == long)
        .map(|(_, var)| *var)
}

/// The command with the settings layer: `--config FILE` (global), a `TELEPORT_AUDIT_<FLAG>`
/// variable on every flag of every subcommand, and the settings and exit statuses after the
/// help of each command. Call before [`secret_guard::prepare`].
pub fn define(command: Command) -> Command {
    fn each(command: Command) -> Command {
        command
            .mut_args(with_env)
            .after_help(format!("{HELP}\n\n{}", exit::HELP))
            .mut_subcommands(each)
    }
    each(
        command.arg(
            Arg::new(CONFIG)
                .long(CONFIG)
                .value_name("FILE")
                .global(true)
                .action(ArgAction::Set)
                .value_parser(clap::value_parser!(PathBuf))
                .help(
                    "Read settings from this TOML file, keys named like the flags (page-size = \
                     1000); flags and environment variables beat it",
                ),
        ),
    )
}

fn with_env(arg: Arg) -> Arg {
    let Some(long) = arg.get_long() else {
        return arg;
    };
    let name = env_name(long);
    let arg = if matches!(arg.get_action(), ArgAction::SetTrue) {
        // `TELEPORT_AUDIT_UNTIL_NOW=1` as well as `=true`.
        arg.value_parser(BoolishValueParser::new())
    } else {
        arg
    };
    arg.env(name)
}

/// The command line with the settings that come from Teleport's variables and the settings
/// file added, and where each came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    /// The arguments to parse (program name first).
    pub argv: Vec<OsString>,
    /// The flags added, each with where it came from (`--proxy from TELEPORT_PROXY`).
    pub added: Vec<String>,
}

/// Adds to `argv` the settings that neither the command line nor a `TELEPORT_AUDIT_` variable
/// gave: from Teleport's variables (looked up with `env`), then from the `--config` file.
/// `command` is the built command ([`define`], then [`secret_guard::prepare`]). A command line
/// clap cannot read is returned as it is (clap reports it).
///
/// # Errors
///
/// The settings file cannot be read, is not TOML, holds an unknown key, a value of the wrong
/// type, a value its flag refuses, or a value that looks like key material.
pub fn resolve(
    command: &Command,
    argv: &[OsString],
    env: &dyn Fn(&OsStr) -> Option<OsString>,
) -> Result<Resolved, SettingsError> {
    let unchanged = || Resolved {
        argv: argv.to_vec(),
        added: Vec::new(),
    };
    let Ok(matches) = command
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(argv)
    else {
        return Ok(unchanged());
    };
    let Some((name, sub_matches)) = matches.subcommand() else {
        return Ok(unchanged());
    };
    let Some(sub) = command.find_subcommand(name) else {
        return Ok(unchanged());
    };
    let file = match raw_value(sub_matches, CONFIG).or_else(|| raw_value(&matches, CONFIG)) {
        Some(path) => {
            let file = SettingsFile::read(Path::new(&path))?;
            file.check_keys(command, sub)?;
            Some(file)
        }
        None => None,
    };
    let given = |arg: &Arg| {
        let id = arg.get_id().as_str();
        [&matches, sub_matches].iter().any(|m| {
            m.try_get_raw(id).is_ok()
                && matches!(
                    m.value_source(id),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                )
        })
    };
    // The candidates: (the command the flag belongs to, the flag, its rank, its arguments,
    // where they came from). Rank: 3 given, 2 Teleport's variable, 1 the file, 0 nothing.
    let mut ranks: Vec<(&clap::Id, u8)> = Vec::new();
    let mut candidates: Vec<(&Command, &Arg, u8, Vec<OsString>, String)> = Vec::new();
    let levels = [(command, false), (sub, true)];
    for (level, is_sub) in levels {
        for arg in level.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if (is_sub && arg.is_global_set()) || arg.get_id() == CONFIG {
                continue;
            }
            // The file's value is checked even when a higher level gives the setting: a wrong
            // file is wrong whatever the command line says.
            let from_file = match &file {
                Some(file) => match file.table.get(long) {
                    Some(value) => Some((file, file.arguments(level, arg, long, value)?)),
                    None => None,
                },
                None => None,
            };
            if given(arg) {
                ranks.push((arg.get_id(), 3));
                continue;
            }
            if let Some(var) = teleport_env(arg)
                && let Some(value) = env(OsStr::new(var)).filter(|v| !v.is_empty())
            {
                let mut flag = OsString::from(format!("--{long}="));
                flag.push(value);
                ranks.push((arg.get_id(), 2));
                candidates.push((level, arg, 2, vec![flag], format!("--{long} from {var}")));
                continue;
            }
            if long == "identity-file"
                && env(OsStr::new(IDENTITY_CONTENTS_ENV)).is_some_and(|v| !v.is_empty())
            {
                ranks.push((arg.get_id(), 2));
                continue;
            }
            if let Some((file, args)) = from_file {
                ranks.push((arg.get_id(), 1));
                let from = format!("--{long} from {}", file.path.display());
                candidates.push((level, arg, 1, args, from));
            }
        }
    }
    // Whether two flags conflict, declared on either (clap reads conflicts both ways); asked of
    // the subcommand, which holds the global flags too.
    let conflict = |a: &clap::Id, b: &clap::Id| {
        let conflicts_of = |id: &clap::Id| {
            sub.get_arguments()
                .find(|arg| arg.get_id() == id)
                .map(|arg| sub.get_arg_conflicts_with(arg))
                .unwrap_or_default()
        };
        conflicts_of(a).iter().any(|arg| arg.get_id() == b)
            || conflicts_of(b).iter().any(|arg| arg.get_id() == a)
    };
    let mut added_args = Vec::new();
    let mut added = Vec::new();
    for (_, arg, rank, args, from) in candidates {
        let outranked = ranks
            .iter()
            .any(|(other, other_rank)| *other_rank > rank && conflict(arg.get_id(), other));
        if !outranked {
            added_args.extend(args);
            added.push(from);
        }
    }
    if added_args.is_empty() {
        return Ok(unchanged());
    }
    let at = subcommand_position(command, argv).map_or(argv.len(), |i| i + 1);
    let mut out = argv[..at].to_vec();
    out.extend(added_args);
    out.extend_from_slice(&argv[at..]);
    Ok(Resolved { argv: out, added })
}

/// The value of `id` as given, if the command has such an argument and it has a value.
fn raw_value(matches: &ArgMatches, id: &str) -> Option<OsString> {
    matches
        .try_get_raw(id)
        .ok()
        .flatten()
        .and_then(|mut values| values.next())
        .map(OsStr::to_os_string)
}

/// Where the subcommand's name is in `argv`: after the top-level flags and their values.
fn subcommand_position(command: &Command, argv: &[OsString]) -> Option<usize> {
    let takes_value = |arg: &Arg| arg.get_action().takes_values();
    let mut skip = false;
    for (index, raw) in argv.iter().enumerate().skip(1) {
        if std::mem::take(&mut skip) {
            continue;
        }
        let token = raw.to_string_lossy();
        if token == "--" {
            return None;
        }
        if let Some(long) = token.strip_prefix("--") {
            skip = !long.contains('=')
                && command
                    .get_arguments()
                    .any(|arg| arg.get_long() == Some(long) && takes_value(arg));
        } else if let Some(shorts) = token.strip_prefix('-').filter(|s| !s.is_empty()) {
            // A cluster of short flags: the first one that takes a value takes the rest, or
            // the next argument if it is last.
            for (at, short) in shorts.char_indices() {
                if command
                    .get_arguments()
                    .any(|arg| arg.get_short() == Some(short) && takes_value(arg))
                {
                    skip = at + short.len_utf8() == shorts.len();
                    break;
                }
            }
        } else {
            return command
                .get_subcommands()
                .any(|sub| sub.get_name() == token || sub.get_all_aliases().any(|a| a == token))
                .then_some(index);
        }
    }
    None
}

/// A settings file, read and parsed.
#[derive(Debug)]
struct SettingsFile {
    path: PathBuf,
    table: toml::Table,
}

impl SettingsFile {
    /// Reads `path`: a regular file (a symbolic link to one), at most [`MAX_CONFIG_BYTES`],
    /// UTF-8, TOML.
    fn read(path: &Path) -> Result<Self, SettingsError> {
        let fail = |problem| SettingsError::File {
            path: path.to_path_buf(),
            problem,
        };
        // The kind of file before opening it: opening a FIFO would wait for a writer.
        let metadata = std::fs::metadata(path).map_err(|e| fail(FileProblem::Open(e)))?;
        if !metadata.is_file() {
            return Err(fail(FileProblem::NotRegular));
        }
        let file = std::fs::File::open(path).map_err(|e| fail(FileProblem::Open(e)))?;
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| fail(FileProblem::Read(e)))?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(fail(FileProblem::TooLarge));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            fail(FileProblem::NotUtf8 {
                offset: e.utf8_error().valid_up_to(),
            })
        })?;
        let table = text.parse::<toml::Table>().map_err(|error| {
            let at = error.span().map_or(0, |span| span.start).min(text.len());
            let before = text.get(..at).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let message = error.message().trim().to_owned();
            fail(FileProblem::Syntax {
                line,
                column,
                message: (!looks_like_secret(&message)).then_some(message),
            })
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            table,
        })
    }

    /// Refuses a value that looks like key material (first: whatever its key), then a key that
    /// names no flag of any subcommand.
    fn check_keys(&self, command: &Command, sub: &Command) -> Result<(), SettingsError> {
        for (key, value) in &self.table {
            if holds_secret(value) {
                let place = Place::ConfigKey {
                    file: self.path.clone(),
                    key: shown_key(key),
                };
                return Err(SettingsError::Secret(secret_guard::refusal(
                    &[command, sub],
                    place,
                )));
            }
        }
        let known = known_keys(command);
        for key in self.table.keys() {
            if !known.iter().any(|k| k == key) {
                let closest = known
                    .iter()
                    .map(|k| (strsim::jaro_winkler(k, key), k))
                    .filter(|(score, _)| *score > 0.7)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, k)| k.clone());
                return Err(self.problem(FileProblem::UnknownKey {
                    key: shown_key(key),
                    closest,
                }));
            }
        }
        Ok(())
    }

    fn problem(&self, problem: FileProblem) -> SettingsError {
        SettingsError::File {
            path: self.path.clone(),
            problem,
        }
    }

    /// The command-line arguments that give `arg` (of `command`) the file's `value`, checked by
    /// the flag's own value parser.
    fn arguments(
        &self,
        command: &Command,
        arg: &Arg,
        key: &str,
        value: &toml::Value,
    ) -> Result<Vec<OsString>, SettingsError> {
        let flag = format!("--{key}");
        let wrong = |expected: &'static str, found: &toml::Value| {
            self.problem(FileProblem::WrongType {
                key: key.to_owned(),
                expected,
                found: found.type_str(),
            })
        };
        match arg.get_action() {
            ArgAction::SetTrue => match value {
                toml::Value::Boolean(true) => Ok(vec![flag.into()]),
                toml::Value::Boolean(false) => Ok(Vec::new()),
                other => Err(wrong("a boolean (true or false)", other)),
            },
            ArgAction::Count => match value {
                toml::Value::Integer(n) if (0..=i64::from(u8::MAX)).contains(n) => {
                    Ok(vec![flag.into(); usize::try_from(*n).unwrap_or(0)])
                }
                other => Err(wrong("a count (an integer from 0 to 255)", other)),
            },
            ArgAction::Append => {
                let items = match value {
                    toml::Value::Array(items) => items.iter().collect(),
                    single => vec![single],
                };
                let mut args = Vec::new();
                for item in items {
                    let text = scalar(arg, item)
                        .ok_or_else(|| wrong("a string or an array of strings", item))?;
                    self.check_value(command, arg, key, &text)?;
                    args.push(format!("{flag}={text}").into());
                }
                Ok(args)
            }
            ArgAction::Set => {
                let text = scalar(arg, value).ok_or_else(|| wrong(expected(arg), value))?;
                self.check_value(command, arg, key, &text)?;
                Ok(vec![format!("{flag}={text}").into()])
            }
            // Help, version and the like are not settings.
            _ => Ok(Vec::new()),
        }
    }

    /// Runs `text` through the flag's value parser alone, to report a refused value with the
    /// file and the key.
    fn check_value(
        &self,
        command: &Command,
        arg: &Arg,
        key: &str,
        text: &str,
    ) -> Result<(), SettingsError> {
        let mut probe = Arg::new(arg.get_id().clone())
            .long(key.to_owned())
            .action(arg.get_action().clone())
            .value_parser(arg.get_value_parser().clone())
            .allow_hyphen_values(true);
        if let Some(delimiter) = arg.get_value_delimiter() {
            probe = probe.value_delimiter(delimiter);
        }
        let result = Command::new(command.get_name().to_owned())
            .no_binary_name(true)
            .arg(probe)
            .try_get_matches_from([format!("--{key}={text}")]);
        match result {
            Ok(_) => Ok(()),
            Err(error) => Err(self.problem(FileProblem::InvalidValue {
                key: key.to_owned(),
                reason: value_reason(&error),
            })),
        }
    }
}

/// The file's value as a flag's text, if it is of a type the flag takes: an integer for an
/// integer flag, a number for a decimal one, else a string (a TOML date-time is taken as its
/// RFC 3339 text).
fn scalar(arg: &Arg, value: &toml::Value) -> Option<String> {
    let kind = number_kind(arg);
    match value {
        toml::Value::Integer(n) if kind != NumberKind::Not => Some(n.to_string()),
        toml::Value::Float(x) if kind == NumberKind::Decimal => Some(x.to_string()),
        toml::Value::String(s) if kind == NumberKind::Not => Some(s.clone()),
        toml::Value::Datetime(t) if kind == NumberKind::Not => Some(t.to_string()),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumberKind {
    Not,
    Integer,
    Decimal,
}

fn number_kind(arg: &Arg) -> NumberKind {
    let id = arg.get_value_parser().type_id();
    let integers = [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i8>(),
        TypeId::of::<i16>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
    ];
    if integers.iter().any(|t| id == *t) {
        NumberKind::Integer
    } else if id == TypeId::of::<f64>() || id == TypeId::of::<f32>() {
        NumberKind::Decimal
    } else {
        NumberKind::Not
    }
}

fn expected(arg: &Arg) -> &'static str {
    match number_kind(arg) {
        NumberKind::Integer => "an integer",
        NumberKind::Decimal => "a number",
        NumberKind::Not => "a string",
    }
}

/// Why a flag's value parser refused a value, without the value.
fn value_reason(error: &clap::Error) -> Option<String> {
    match error.kind() {
        ErrorKind::InvalidValue => match error.get(ContextKind::ValidValue) {
            Some(ContextValue::Strings(valid)) if !valid.is_empty() => {
                Some(format!("possible values: {}", valid.join(", ")))
            }
            _ => None,
        },
        ErrorKind::ValueValidation => {
            let source = std::error::Error::source(error)?.to_string();
            match error.get(ContextKind::InvalidValue) {
                Some(ContextValue::String(value)) => secret_guard::without_value(&source, value),
                _ => (!looks_like_secret(&source)).then_some(source),
            }
        }
        _ => None,
    }
}

/// Every long flag of every subcommand, but `--config` and the built-in help and version.
fn known_keys(command: &Command) -> Vec<String> {
    let mut keys: Vec<String> = command
        .get_arguments()
        .filter_map(Arg::get_long)
        .filter(|long| ![CONFIG, "help", "version"].contains(long))
        .map(str::to_owned)
        .collect();
    for sub in command.get_subcommands() {
        keys.extend(known_keys(sub));
    }
    keys.sort();
    keys.dedup();
    keys
}

fn holds_secret(value: &toml::Value) -> bool {
    match value {
        toml::Value::String(s) => looks_like_secret(s),
        toml::Value::Array(items) => items.iter().any(holds_secret),
        toml::Value::Table(table) => table
            .iter()
            .any(|(key, value)| looks_like_secret(key) || holds_secret(value)),
        _ => false,
    }
}

/// A key as it may be shown: a short plain name, else a note that it is not shown (a quoted
/// key can hold anything).
fn shown_key(key: &str) -> String {
    let plain = (1..=40).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !looks_like_secret(key);
    if plain {
        key.to_owned()
    } else {
        "(a key not shown)".to_owned()
    }
}

/// A setting that cannot be used (exit status 2, like every usage error).
#[derive(Debug)]
pub enum SettingsError {
    /// A value that looks like key material, refused without showing it.
    Secret(Refusal),
    /// The settings file cannot be used.
    File {
        /// The file, as given.
        path: PathBuf,
        /// What is wrong with it.
        problem: FileProblem,
    },
}

/// What is wrong with a settings file.
#[derive(Debug)]
#[non_exhaustive]
pub enum FileProblem {
    /// It cannot be opened (or its kind read).
    Open(std::io::Error),
    /// It cannot be read.
    Read(std::io::Error),
    /// A directory, FIFO, device or socket.
    NotRegular,
    /// Larger than [`MAX_CONFIG_BYTES`].
    TooLarge,
    /// Not UTF-8 text.
    NotUtf8 {
        /// The first byte that is not.
        offset: usize,
    },
    /// Not TOML.
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// The parser's words, unless they may hold a secret.
        message: Option<String>,
    },
    /// A key that names no flag.
    UnknownKey {
        /// The key, as it may be shown.
        key: String,
        /// The closest known key.
        closest: Option<String>,
    },
    /// A value of a type the flag does not take.
    WrongType {
        /// The key.
        key: String,
        /// What the flag takes.
        expected: &'static str,
        /// The TOML type found.
        found: &'static str,
    },
    /// A value the flag's parser refuses.
    InvalidValue {
        /// The key.
        key: String,
        /// Why, without the value.
        reason: Option<String>,
    },
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, problem) = match self {
            SettingsError::Secret(refusal) => return refusal.fmt(f),
            SettingsError::File { path, problem } => (path.display(), problem),
        };
        write!(f, "config file {path}: ")?;
        match problem {
            FileProblem::Open(_) => f.write_str("cannot be opened"),
            FileProblem::Read(_) => f.write_str("cannot be read"),
            FileProblem::NotRegular => f.write_str("not a regular file"),
            FileProblem::TooLarge => write!(
                f,
                "over {MAX_CONFIG_BYTES} bytes, which no settings file needs: not a settings file"
            ),
            FileProblem::NotUtf8 { offset } => {
                write!(f, "not UTF-8 text (an invalid byte at offset {offset})")
            }
            FileProblem::Syntax {
                line,
                column,
                message,
            } => {
                write!(f, "not valid TOML at line {line}, column {column}")?;
                match message {
                    Some(message) => write!(f, ": {message}"),
                    None => Ok(()),
                }
            }
            FileProblem::UnknownKey { key, closest } => {
                write!(f, "unknown key `{key}`")?;
                match closest {
                    Some(closest) => write!(f, "; the closest key is `{closest}`"),
                    None => f.write_str(" (keys are named like the long flags: page-size)"),
                }
            }
            FileProblem::WrongType {
                key,
                expected,
                found,
            } => write!(f, "`{key}` must be {expected}, not {found}"),
            FileProblem::InvalidValue { key, reason } => {
                write!(f, "invalid value for `{key}` (not shown)")?;
                match reason {
                    Some(reason) => write!(f, ": {reason}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for SettingsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SettingsError::File {
                problem: FileProblem::Open(error) | FileProblem::Read(error),
                ..
            } => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\n\
        MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n\
        -----END RSA PRIVATE KEY-----\n";

    fn command() -> Command {
        secret_guard::prepare(crate::command())
    }

    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("teleport-audit")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn no_env(_: &OsStr) -> Option<OsString> {
        None
    }

    /// A settings file holding `text`, and the argv `args` + `--config FILE`.
    fn with_file(text: &str, args: &[&str]) -> (tempfile::TempDir, Vec<OsString>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("teleport-audit.toml");
        std::fs::write(&path, text).unwrap();
        let mut argv = argv(args);
        argv.push("--config".into());
        argv.push(path.into());
        (dir, argv)
    }

    fn resolved(text: &str, args: &[&str]) -> Result<Vec<String>, String> {
        let (_dir, argv) = with_file(text, args);
        resolve(&command(), &argv, &no_env)
            .map(|r| {
                r.argv
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_flag_has_its_variable() {
        fn walk(command: &Command, missing: &mut Vec<String>, count: &mut usize) {
            for arg in command.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                if ["help", "version"].contains(&long) {
                    continue;
                }
                *count += 1;
                let expected = format!("TELEPORT_AUDIT_{}", long.to_uppercase().replace('-', "_"));
                if arg.get_env() != Some(OsStr::new(&expected)) {
                    missing.push(format!("{} --{long}", command.get_name()));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, missing, count);
            }
        }
        let (mut missing, mut count) = (Vec::new(), 0);
        walk(&command(), &mut missing, &mut count);
        assert!(count > 30, "only {count} flags");
        assert!(
            missing.is_empty(),
            "without TELEPORT_AUDIT_<FLAG>: {missing:?}"
        );
        assert_eq!(env_name("cursor-file"), "TELEPORT_AUDIT_CURSOR_FILE");
    }

    #[test]
    fn teleports_names_are_for_existing_flags() {
        let command = command();
        let tail = command.find_subcommand("tail").unwrap();
        for (long, _) in TELEPORT_ENV {
            assert!(
                tail.get_arguments().any(|a| a.get_long() == Some(long)),
                "--{long}"
            );
        }
    }

    #[test]
    fn file_values_go_after_the_subcommand() {
        let args = resolved(
            "cursor-file = \"/tmp/c.json\"\npage-size = 1000\nuntil-now = true\n\
             types = [\"user.login\", \"role.created\"]\nverbose = 2\nrate = 5.5\n",
            &["-q", "tail", "--proxy", "127.0.0.1:9"],
        )
        .unwrap();
        let at = args.iter().position(|a| a == "tail").unwrap();
        assert_eq!(args[..at], ["teleport-audit", "-q"]);
        let added = &args[at + 1..args.len() - 4];
        for expected in [
            "--cursor-file=/tmp/c.json",
            "--page-size=1000",
            "--until-now",
            "--types=user.login",
            "--types=role.created",
        ] {
            assert!(
                added.contains(&expected.to_owned()),
                "{expected} in {added:?}"
            );
        }
        // -q was given: the file's verbose (which conflicts with it) is not taken; `rate` is
        // demo's and sim's, not tail's.
        assert!(
            !added
                .iter()
                .any(|a| a.contains("verbose") || a.contains("rate")),
            "{added:?}"
        );
    }

    #[test]
    fn the_command_line_beats_the_file() {
        let args = resolved(
            "page-size = 1000\nauth = \"auth.example.com:3025\"\n",
            &["tail", "--page-size", "7", "--proxy", "127.0.0.1:9"],
        )
        .unwrap();
        assert!(
            !args.iter().any(|a| a.starts_with("--page-size=")),
            "{args:?}"
        );
        // --proxy outranks the file's auth, which conflicts with it.
        assert!(!args.iter().any(|a| a.starts_with("--auth")), "{args:?}");
    }

    #[test]
    fn teleports_variables_beat_the_file() {
        let (_dir, argv) = with_file("proxy = \"file.example.com:443\"\n", &["ping"]);
        let env = |name: &OsStr| {
            (name == "TELEPORT_PROXY").then(|| OsString::from("env.example.com:443"))
        };
        let resolved = resolve(&command(), &argv, &env).unwrap();
        assert!(
            resolved
                .argv
                .contains(&"--proxy=env.example.com:443".into())
        );
        assert!(
            !resolved
                .argv
                .iter()
                .any(|a| a.to_string_lossy().contains("file.example"))
        );
        assert_eq!(resolved.added, ["--proxy from TELEPORT_PROXY"]);
    }

    #[test]
    fn unknown_keys_name_the_closest() {
        let message = resolved("proxxy = \"x\"\n", &["tail"]).unwrap_err();
        assert!(
            message.ends_with("unknown key `proxxy`; the closest key is `proxy`"),
            "{message}"
        );
        let message = resolved("cursor_file = \"x\"\n", &["tail"]).unwrap_err();
        assert!(
            message.contains("the closest key is `cursor-file`"),
            "{message}"
        );
        // Another subcommand's key is known: one file serves them all.
        assert!(resolved("rate = 2.0\n", &["tail", "--proxy", "x:1"]).is_ok());
    }

    #[test]
    fn wrong_types_name_the_key_and_the_type() {
        for (text, expected) in [
            (
                "page-size = \"500\"",
                "`page-size` must be an integer, not string",
            ),
            (
                "until-now = \"yes\"",
                "`until-now` must be a boolean (true or false), not string",
            ),
            ("proxy = 443", "`proxy` must be a string, not integer"),
            (
                "types = [1]",
                "`types` must be a string or an array of strings, not integer",
            ),
            ("verbose = -1", "`verbose` must be a count"),
            (
                "timeout = { a = 1 }",
                "`timeout` must be a string, not table",
            ),
        ] {
            let message = resolved(text, &["tail", "--proxy", "x:1"])
                .map_or_else(|e| e, |argv| format!("accepted: {argv:?}"));
            assert!(message.contains(expected), "{text}: {message}");
        }
    }

    #[test]
    fn values_are_checked_by_the_flags_parser_and_not_shown() {
        let message =
            resolved("timeout = \"3 fortnights\"", &["tail", "--proxy", "x:1"]).unwrap_err();
        assert!(
            message.contains("invalid value for `timeout` (not shown)"),
            "{message}"
        );
        assert!(!message.contains("fortnights"), "{message}");
        let message = resolved("mode = \"sideways\"", &["tail", "--proxy", "x:1"]).unwrap_err();
        assert!(
            message.contains("possible values: auto, search, export"),
            "{message}"
        );
        assert!(!message.contains("sideways"), "{message}");
    }

    #[test]
    fn secrets_in_the_file_are_refused_unseen() {
        for text in [
            format!("identity-file = '''{PEM}'''"),
            format!("identity = '''{PEM}'''"),
            format!("types = [\"a\", '''{PEM}''']"),
        ] {
            let message = resolved(&text, &["tail"]).unwrap_err();
            assert!(
                message.contains("looks like the identity file's contents"),
                "{message}"
            );
            assert!(
                !message.contains("MIIE") && !message.contains("BEGIN"),
                "{message}"
            );
        }
        // A whole identity file given as the settings file: not TOML, and not echoed.
        let message = resolved(PEM, &["tail"]).unwrap_err();
        assert!(message.contains("not valid TOML at line 1"), "{message}");
        assert!(!message.contains("MIIE"), "{message}");
    }

    #[test]
    fn only_a_regular_file_of_bounded_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = argv(&["tail", "--config"]);
        args.push(dir.path().into());
        let message = resolve(&command(), &args, &no_env).unwrap_err().to_string();
        assert!(message.ends_with("not a regular file"), "{message}");
        let big = dir.path().join("big.toml");
        std::fs::write(&big, "# x\n".repeat(300_000)).unwrap();
        let mut args = argv(&["tail", "--config"]);
        args.push(big.into());
        let message = resolve(&command(), &args, &no_env).unwrap_err().to_string();
        assert!(message.contains("not a settings file"), "{message}");
        let mut args = argv(&["tail", "--config"]);
        args.push(dir.path().join("missing.toml").into());
        let error = resolve(&command(), &args, &no_env).unwrap_err();
        assert!(error.to_string().ends_with("cannot be opened"), "{error}");
        assert!(std::error::Error::source(&error).is_some());
    }

    /// The README's example settings file is one `tail` takes, every key applied.
    #[test]
    fn the_readme_example_is_accepted() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("# /etc/teleport-audit/teleport-audit.toml")
            .expect("the README's example settings file");
        let text = &readme[start..start + readme[start..].find("```").unwrap()];
        let keys = text.parse::<toml::Table>().unwrap();
        let args = resolved(text, &["tail"]).unwrap();
        for key in keys.keys() {
            assert!(
                args.iter().any(|a| a.starts_with(&format!("--{key}="))),
                "{key}: {args:?}"
            );
        }
    }

    #[test]
    fn the_subcommand_is_found_after_global_flags() {
        let command = command();
        let at = |args: &[&str]| subcommand_position(&command, &argv(args));
        assert_eq!(at(&["tail"]), Some(1));
        assert_eq!(at(&["-vv", "--config", "tail", "tail"]), Some(4));
        assert_eq!(at(&["--config=x", "-q", "ping"]), Some(3));
        assert_eq!(at(&["--log-format", "json", "ping"]), Some(3));
        assert_eq!(at(&["--", "tail"]), None);
    }
}
