//! Keeping secrets out of everything the binary prints.
//!
//! The identity file's *text* is the secret, and users paste it where a path or a flag value
//! belongs (`--identity-file "$(cat identity)"`). clap repeats values in its errors
//! ("unexpected argument '...'", "invalid value '...'"), and the library's messages name paths,
//! so the pasted key would land on stderr and in the logs that are shipped and kept. Three
//! guards, applied by [`parse`] and `main`:
//!
//! 1. [`check`] walks the command line with the command's own definition before clap sees it
//!    and refuses any value, positional argument, subcommand or environment variable that clap
//!    reads when it [looks like a secret](looks_like_secret), naming *where* it was given, never
//!    what (exit code 2, like every usage error);
//! 2. [`usage_message`] renders clap's own errors from their kind and the argument *names*
//!    only (clap's rendering includes values); help and version output are clap's, with
//!    environment values hidden ([`prepare`]);
//! 3. [`install_panic_hook`] prints a fixed message instead of the panic payload, and
//!    [`RedactedStderr`] redacts PEM blocks and base64 runs from every log line and error
//!    report.

use std::ffi::{OsStr, OsString};
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, Command};
use teleport_audit::identity::secret_text::{looks_like_secret, redact_secrets};

use crate::settings;

/// The exit code of a usage error (clap's, and the refusals here).
pub const USAGE_EXIT_CODE: u8 = 2;

/// Where the identity file's text belongs.
const IDENTITY_ENV: &str = "TELEPORT_IDENTITY";

/// Parses the process's arguments into `P`, with the guards of the [module](self): a
/// secret-looking value is refused before clap sees it, and usage errors never repeat a value.
/// On a usage error (or `--help`, `--version`) the message is printed and the exit code
/// returned.
///
/// The [settings](crate::settings) layer comes first: the command gets `--config` and a
/// `TELEPORT_AUDIT_<FLAG>` variable on every flag, and the settings from Teleport's variables
/// and the settings file are added to the command line; a settings file that cannot be used is
/// a usage error too.
pub fn parse<P: clap::Parser>() -> Result<P, ExitCode> {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let env = |name: &OsStr| std::env::var_os(name);
    let mut command = prepare(settings::define(P::command()));
    if let Err(refusal) = check(&command, &argv, &env) {
        let _ = write!(
            RedactedStderr,
            "error: {refusal}\n\n{}",
            refusal.more_help()
        );
        return Err(ExitCode::from(USAGE_EXIT_CODE));
    }
    let resolved = match settings::resolve(&command, &argv, &env) {
        Ok(resolved) => resolved,
        Err(error) => {
            let mut text = format!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                let _ = write!(text, ": {cause}");
                source = cause.source();
            }
            let _ = write!(
                RedactedStderr,
                "{text}\n\nFor more information, try '--help'.\n"
            );
            return Err(ExitCode::from(USAGE_EXIT_CODE));
        }
    };
    let report = |error: &clap::Error| {
        if !resolved.added.is_empty() && !is_help(error) {
            let _ = writeln!(
                RedactedStderr,
                "note: settings added to the command line: {}",
                resolved.added.join(", ")
            );
        }
        report_clap_error(error)
    };
    let matches = command
        .try_get_matches_from_mut(&resolved.argv)
        .map_err(|error| report(&error))?;
    P::from_arg_matches(&matches).map_err(|error| report(&error))
}

fn is_help(error: &clap::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    )
}

/// The command, built (global flags propagated, `help` added), with environment values hidden
/// from the help output (clap shows `[env: NAME=value]` otherwise).
pub fn prepare(command: Command) -> Command {
    fn hide_env_values(command: Command) -> Command {
        command
            .mut_args(|arg| arg.hide_env_values(true))
            .mut_subcommands(hide_env_values)
    }
    let mut command = hide_env_values(command);
    command.build();
    command
}

/// Help and version as clap prints them (they hold no values); any other error rendered by
/// [`usage_message`]. Returns the exit code.
fn report_clap_error(error: &clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(USAGE_EXIT_CODE))
        }
        _ => {
            let _ = write!(RedactedStderr, "{}", usage_message(error));
            ExitCode::from(USAGE_EXIT_CODE)
        }
    }
}

/// A value refused because it looks like a secret, and where it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Where the value was given.
    pub place: Place,
    /// The (sub)command it was given to, e.g. `teleport-audit tail`.
    pub command: String,
    /// What to do instead.
    advice: String,
}

/// Where a refused value was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// The value of a flag (`--name value`, `--name=value`, `-n value`, `-nvalue`); the flag's
    /// long form, e.g. `--identity-file`.
    Flag(String),
    /// A positional argument the command takes, by its value name, e.g. `PATH`.
    Positional(String),
    /// An argument the command does not take, by its position on the command line (1 = the
    /// first argument after the program).
    Extra(usize),
    /// Where the subcommand's name belongs, by its position on the command line.
    Subcommand(usize),
    /// An environment variable read for a flag (`TELEPORT_AUDIT_<FLAG>`, or Teleport's own
    /// name): the variable and the flag.
    Env(String, String),
    /// A key of the `--config` file (as it may be shown).
    ConfigKey {
        /// The file.
        file: std::path::PathBuf,
        /// The key.
        key: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let command = &self.command;
        match &self.place {
            Place::Flag(flag) => write!(f, "the value of {flag}")?,
            Place::Positional(name) => write!(f, "the {name} argument of `{command}`")?,
            Place::Extra(position) => write!(f, "argument {position} of `{command}`")?,
            Place::Subcommand(position) => {
                write!(f, "argument {position}, where the subcommand belongs,")?;
            }
            Place::Env(var, flag) => {
                write!(f, "the environment variable {var} (read for {flag})")?;
            }
            Place::ConfigKey { file, key } => {
                write!(
                    f,
                    "the value of `{key}` in the config file {}",
                    file.display()
                )?;
            }
        }
        write!(
            f,
            " looks like the identity file's contents or other key material, so it is not \
             shown and not used; {}",
            self.advice
        )
    }
}

impl Refusal {
    /// The line that follows the error, as clap's errors end.
    fn more_help(&self) -> String {
        format!("For more information, try '{} --help'.\n", self.command)
    }
}

/// Walks `argv` (program name first) with `command` (from [`prepare`]) and refuses the first
/// argument, or environment variable that clap reads (looked up with `env`), that [looks like
/// a secret](looks_like_secret). Nothing is refused otherwise, whatever clap will say.
///
/// # Errors
///
/// The [`Refusal`], naming where the value was given.
pub fn check(
    command: &Command,
    argv: &[OsString],
    env: &dyn Fn(&OsStr) -> Option<OsString>,
) -> Result<(), Refusal> {
    let mut path = vec![command];
    let mut pending: Option<&Arg> = None;
    let mut positional = 0usize;
    let mut after_double_dash = false;
    for (position, raw) in argv.iter().enumerate().skip(1) {
        let current = *path.last().unwrap_or(&command);
        let token = raw.to_string_lossy();
        if looks_like_secret(&token) {
            let place = match pending {
                Some(arg) => Place::Flag(arg_name(arg)),
                None if after_double_dash => positional_place(current, positional, position),
                None => flag_of(current, &token).map_or_else(
                    || positional_place(current, positional, position),
                    |arg| Place::Flag(arg_name(arg)),
                ),
            };
            return Err(refusal(&path, place));
        }
        // Not a secret: follow the command line as clap will, to know where later values go.
        if pending.take().is_some()
            && !(token.starts_with('-') && flag_of(current, &token).is_some())
        {
            continue;
        }
        if after_double_dash {
            positional += 1;
        } else if token == "--" {
            after_double_dash = true;
        } else if let Some(arg) = flag_of(current, &token) {
            let attached = match token.strip_prefix("--") {
                Some(long) => long.contains('='),
                None => token.chars().count() > 2,
            };
            if arg.get_action().takes_values() && !attached {
                pending = Some(arg);
            }
        } else if token.starts_with('-') && token.len() > 1 {
            // An unknown flag: clap refuses it.
        } else if let Some(sub) = subcommand_named(current, &token) {
            path.push(sub);
            positional = 0;
        } else {
            positional += 1;
        }
    }
    for command in &path {
        for arg in command.get_arguments() {
            // clap's variable (TELEPORT_AUDIT_<FLAG>), and Teleport's own name for the flag.
            let vars = arg
                .get_env()
                .into_iter()
                .chain(settings::teleport_env(arg).map(OsStr::new));
            for var in vars {
                if env(var).is_some_and(|value| looks_like_secret(&value.to_string_lossy())) {
                    let place = Place::Env(var.to_string_lossy().into_owned(), arg_name(arg));
                    return Err(refusal(&path, place));
                }
            }
        }
    }
    Ok(())
}

/// The refusal of a value given at `place` to the command at the end of `path` (the root
/// command first), with the advice that fits the command.
pub(crate) fn refusal(path: &[&Command], place: Place) -> Refusal {
    let command = path
        .iter()
        .map(|c| c.get_name())
        .collect::<Vec<_>>()
        .join(" ");
    let current = path.last().copied();
    let advice = match current {
        Some(current)
            if current
                .get_arguments()
                .any(|a| a.get_long() == Some("identity-file")) =>
        {
            format!(
                "give the identity file's path with --identity-file, or pass its contents in the \
                 {IDENTITY_ENV} environment variable"
            )
        }
        Some(current) if current.get_name() == "identity" => format!(
            "give the identity file's path, or pass its contents in the {IDENTITY_ENV} \
             environment variable"
        ),
        _ => format!(
            "an identity file's contents belong only in the {IDENTITY_ENV} environment variable"
        ),
    };
    Refusal {
        place,
        command,
        advice,
    }
}

/// The flag `token` names in `command` (`--name`, `--name=value`, `-n`, `-nvalue`).
fn flag_of<'c>(command: &'c Command, token: &str) -> Option<&'c Arg> {
    if let Some(long) = token.strip_prefix("--") {
        let name = long.split_once('=').map_or(long, |(name, _)| name);
        if name.is_empty() {
            return None;
        }
        command.get_arguments().find(|arg| {
            arg.get_long() == Some(name)
                || arg
                    .get_all_aliases()
                    .is_some_and(|aliases| aliases.contains(&name))
        })
    } else {
        let short = token.strip_prefix('-')?.chars().next()?;
        command.get_arguments().find(|arg| {
            arg.get_short() == Some(short)
                || arg
                    .get_all_short_aliases()
                    .is_some_and(|aliases| aliases.contains(&short))
        })
    }
}

fn subcommand_named<'c>(command: &'c Command, token: &str) -> Option<&'c Command> {
    command
        .get_subcommands()
        .find(|sub| sub.get_name() == token || sub.get_all_aliases().any(|alias| alias == token))
}

/// Where a positional value at `index` (0-based among the command's positionals) goes.
fn positional_place(command: &Command, index: usize, position: usize) -> Place {
    if index == 0 && command.has_subcommands() {
        return Place::Subcommand(position);
    }
    let positionals: Vec<&Arg> = command.get_positionals().collect();
    let arg = positionals.get(index).copied().or_else(|| {
        // The last positional may take many values.
        positionals
            .last()
            .copied()
            .filter(|arg| arg.get_num_args().is_some_and(|n| n.max_values() > 1))
    });
    match arg {
        Some(arg) => Place::Positional(arg_name(arg)),
        None => Place::Extra(position),
    }
}

/// A flag's long form (`--identity-file`), else its short form, else a positional's value name
/// (`<PATH>`).
fn arg_name(arg: &Arg) -> String {
    if let Some(long) = arg.get_long() {
        format!("--{long}")
    } else if let Some(short) = arg.get_short() {
        format!("-{short}")
    } else {
        let name = arg
            .get_value_names()
            .and_then(|names| names.first())
            .map_or_else(|| arg.get_id().as_str().to_uppercase(), |n| n.to_string());
        format!("<{name}>")
    }
}

/// A usage error in our own words, from the error's kind and the argument *names* clap
/// records; never a value given on the command line. Ends with the usage and a pointer to
/// `--help`.
pub fn usage_message(error: &clap::Error) -> String {
    let text = |kind| match error.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(s)) if !s.is_empty() => Some(s.join(", ")),
        Some(ContextValue::StyledStr(s)) => Some(s.to_string()),
        Some(ContextValue::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let list = |kind| match error.get(kind) {
        Some(ContextValue::String(s)) => vec![s.clone()],
        Some(ContextValue::Strings(s)) => s.clone(),
        _ => Vec::new(),
    };
    let quoted = |items: Vec<String>| {
        items
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // The argument's name, for kinds where clap records the name (not what was typed).
    let arg = text(ContextKind::InvalidArg).unwrap_or_else(|| "an argument".to_owned());
    let mut message = match error.kind() {
        ErrorKind::InvalidValue => {
            let mut m = format!("invalid value for '{arg}' (not shown)");
            let valid = list(ContextKind::ValidValue);
            if !valid.is_empty() {
                let _ = write!(m, "\n  [possible values: {}]", valid.join(", "));
            }
            if let Some(suggested) = text(ContextKind::SuggestedValue) {
                let _ = write!(m, "\n\n  tip: a similar value exists: '{suggested}'");
            }
            m
        }
        ErrorKind::ValueValidation => {
            let mut m = format!("invalid value for '{arg}' (not shown)");
            if let (Some(source), Some(value)) = (
                std::error::Error::source(error),
                text(ContextKind::InvalidValue),
            ) && let Some(reason) = without_value(&source.to_string(), &value)
            {
                let _ = write!(m, ": {reason}");
            }
            m
        }
        ErrorKind::UnknownArgument => {
            let mut m = "unexpected argument".to_owned();
            if let Some(token) = error
                .get(ContextKind::InvalidArg)
                .and_then(context_string)
                .filter(|t| is_flag_name(t))
            {
                let _ = write!(m, " '{token}'");
            } else {
                m.push_str(" (not shown)");
            }
            m.push_str(" found");
            if let Some(suggested) = text(ContextKind::SuggestedArg) {
                let _ = write!(m, "\n\n  tip: a similar argument exists: '{suggested}'");
            }
            m
        }
        ErrorKind::InvalidSubcommand => {
            let mut m = "unrecognized subcommand".to_owned();
            if let Some(token) = error
                .get(ContextKind::InvalidSubcommand)
                .and_then(context_string)
                .filter(|t| is_plain_word(t))
            {
                let _ = write!(m, " '{token}'");
            } else {
                m.push_str(" (not shown)");
            }
            let suggested = list(ContextKind::SuggestedSubcommand);
            if !suggested.is_empty() {
                let _ = write!(
                    m,
                    "\n\n  tip: some similar subcommands exist: {}",
                    quoted(suggested)
                );
            }
            m
        }
        ErrorKind::NoEquals => format!("equal sign is needed when assigning values to '{arg}'"),
        ErrorKind::TooManyValues => {
            format!("unexpected value for '{arg}' (not shown); no more were expected")
        }
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => format!(
            "'{arg}' takes {} values, {} given",
            text(ContextKind::MinValues)
                .or_else(|| text(ContextKind::ExpectedNumValues))
                .unwrap_or_else(|| "more".to_owned()),
            text(ContextKind::ActualNumValues).unwrap_or_else(|| "fewer".to_owned())
        ),
        ErrorKind::ArgumentConflict => {
            let prior = list(ContextKind::PriorArg);
            if prior.is_empty() {
                format!("the argument '{arg}' cannot be used here")
            } else {
                format!("the argument '{arg}' cannot be used with {}", quoted(prior))
            }
        }
        ErrorKind::MissingRequiredArgument => format!(
            "the following required arguments were not provided: {}",
            list(ContextKind::InvalidArg).join(" ")
        ),
        ErrorKind::MissingSubcommand => format!(
            "a subcommand is required: {}",
            list(ContextKind::ValidSubcommand).join(", ")
        ),
        ErrorKind::InvalidUtf8 => "an argument is not valid UTF-8".to_owned(),
        _ => "invalid command line".to_owned(),
    };
    message.insert_str(0, "error: ");
    message.push('\n');
    if let Some(usage) = text(ContextKind::Usage) {
        let _ = write!(message, "\n{usage}\n");
    }
    message.push_str("\nFor more information, try '--help'.\n");
    message
}

fn context_string(value: &ContextValue) -> Option<&str> {
    match value {
        ContextValue::String(s) => Some(s),
        _ => None,
    }
}

/// A flag as typed, without a value: `--name` or `-n`, short and plain, so safe to repeat.
fn is_flag_name(token: &str) -> bool {
    let name = token
        .strip_prefix("--")
        .or_else(|| token.strip_prefix('-'))
        .unwrap_or_default();
    is_plain_word(name)
}

/// A short lowercase word (a mistyped subcommand or flag name), safe to repeat.
fn is_plain_word(token: &str) -> bool {
    (1..=24).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !looks_like_secret(token)
}

/// Values up to this long are taken out of a reason only where they stand as a word of their
/// own: a short value such as `90` is no key material, and its digits inside the reason's
/// examples (`90s or 90m`) stay readable.
const SHORT_VALUE: usize = 16;

/// A value parser's reason with the value taken out, and any other quoted text (parsers quote
/// parts of what they were given), or nothing if it still may hold a secret.
pub(crate) fn without_value(reason: &str, value: &str) -> Option<String> {
    let mut reason = reason.to_owned();
    for form in [
        format!("{value:?}"),
        format!("{:?}", value.trim()),
        value.to_owned(),
        value.trim().to_owned(),
    ] {
        if form.is_empty() || form == "\"\"" {
            continue;
        }
        reason = if form.len() <= SHORT_VALUE {
            replace_word(&reason, &form, "the value")
        } else {
            reason.replace(&form, "the value")
        };
    }
    let mut unquoted = String::with_capacity(reason.len());
    let mut rest = reason.as_str();
    while let Some(open) = rest.find('"') {
        let Some(close) = rest[open + 1..].find('"') else {
            break;
        };
        unquoted.push_str(&rest[..open]);
        unquoted.push_str("(not shown)");
        rest = &rest[open + 1 + close + 1..];
    }
    unquoted.push_str(rest);
    (!looks_like_secret(&unquoted)).then_some(unquoted)
}

/// `text` with each occurrence of `word` that no letter or digit touches replaced by `with`.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let touches = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices(word) {
        let end = at + word.len();
        if !touches(text[..at].chars().next_back()) && !touches(text[end..].chars().next()) {
            out.push_str(&text[copied..at]);
            out.push_str(with);
            copied = end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Prints a fixed message on a panic, never its payload (which may hold a value given on the
/// command line or read from a file), and the source location only.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr().lock(),
            "error: internal error{location} (a bug in teleport-audit); its details are not \
             shown, as they may hold a secret"
        );
    }));
}

/// Standard error, with every PEM block and long base64 run [redacted](redact_secrets) from
/// each write. For the log subscriber (which writes one whole event per write) and error
/// reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct RedactedStderr;

impl std::io::Write for RedactedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr()
            .lock()
            .write_all(redact_secrets(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\n\
        MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n\
        -----END RSA PRIVATE KEY-----\n";
    const LINE: &str = "MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun";

    fn command() -> Command {
        prepare(crate::command())
    }

    fn checked(args: &[&str], env: &[(&str, &str)]) -> Result<(), Refusal> {
        let argv: Vec<OsString> = std::iter::once("teleport-audit")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let env: Vec<(OsString, OsString)> =
            env.iter().map(|(k, v)| (k.into(), v.into())).collect();
        check(&command(), &argv, &|name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    fn place(args: &[&str]) -> Place {
        let refusal = checked(args, &[]).unwrap_err();
        let message = refusal.to_string();
        assert!(
            !message.contains(LINE) && !message.contains("BEGIN"),
            "{message}"
        );
        refusal.place
    }

    #[test]
    fn ordinary_command_lines_pass() {
        for args in [
            &["tail", "--proxy", "127.0.0.1:9", "-i", "/etc/identity"][..],
            &[
                "tail",
                "--proxy=teleport.example.com:443",
                "--types",
                "user.login",
            ],
            &["identity", "./identity"],
            &["-vv", "ping", "--auth", "auth:3025", "--timeout", "1s"],
            &["help", "tail"],
            &["--version"],
            &["tial"],
        ] {
            assert_eq!(checked(args, &[]), Ok(()), "{args:?}");
        }
    }

    #[test]
    fn flag_values_in_every_form() {
        let flag = |f: &str| Place::Flag(f.to_owned());
        assert_eq!(
            place(&["tail", "--identity-file", PEM]),
            flag("--identity-file")
        );
        let attached = format!("--identity-file={PEM}");
        assert_eq!(place(&["tail", &attached]), flag("--identity-file"));
        assert_eq!(place(&["tail", "-i", PEM]), flag("--identity-file"));
        let short = format!("-i{LINE}");
        assert_eq!(place(&["tail", &short]), flag("--identity-file"));
        assert_eq!(place(&["ping", "--proxy", LINE]), flag("--proxy"));
        // A flag that takes no value, given one.
        let until_now = format!("--until-now={PEM}");
        assert_eq!(place(&["tail", &until_now]), flag("--until-now"));
        // A global flag after the subcommand.
        let verbose = format!("--verbose={PEM}");
        assert_eq!(place(&["tail", &verbose]), flag("--verbose"));
    }

    #[test]
    fn positionals_and_subcommands() {
        assert_eq!(place(&[PEM]), Place::Subcommand(1));
        assert_eq!(place(&["-v", LINE]), Place::Subcommand(2));
        assert_eq!(
            place(&["identity", PEM]),
            Place::Positional("<PATH>".to_owned())
        );
        assert_eq!(
            place(&["tail", "--proxy", "127.0.0.1:9", PEM]),
            Place::Extra(4)
        );
        // After a flag that takes no value, the next argument is positional.
        assert_eq!(place(&["tail", "--until-now", PEM]), Place::Extra(3));
        // After `--`, everything is positional.
        assert_eq!(
            place(&["identity", "--", PEM]),
            Place::Positional("<PATH>".to_owned())
        );
        // A flag given where a value is expected is a flag (clap reads it so).
        assert_eq!(
            place(&["tail", "--cursor-file", "--until-now", PEM]),
            Place::Extra(4)
        );
    }

    #[test]
    fn environment_variables_clap_reads() {
        let refusal = checked(&["ping"], &[("TELEPORT_PROXY", PEM)]).unwrap_err();
        assert_eq!(
            refusal.place,
            Place::Env("TELEPORT_PROXY".to_owned(), "--proxy".to_owned())
        );
        // The identity's own variable is not clap's: it is meant to hold the secret.
        assert_eq!(checked(&["ping"], &[("TELEPORT_IDENTITY", PEM)]), Ok(()));
    }

    #[test]
    fn messages_say_where_and_what_to_do() {
        let message = checked(&["tail", "--identity-file", PEM], &[])
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "the value of --identity-file looks like the identity file's contents or other key \
             material, so it is not shown and not used; give the identity file's path with \
             --identity-file, or pass its contents in the TELEPORT_IDENTITY environment variable"
        );
        let message = checked(&["identity", PEM], &[]).unwrap_err().to_string();
        assert!(message.starts_with("the <PATH> argument of `teleport-audit identity`"));
    }

    fn clap_error(args: &[&str]) -> String {
        let argv = std::iter::once("teleport-audit").chain(args.iter().copied());
        usage_message(&command().try_get_matches_from_mut(argv).unwrap_err())
    }

    #[test]
    fn clap_errors_never_repeat_values() {
        // Values that do not look like a secret, which the guard lets through: still not shown.
        let secret = "hunter2-password";
        for (args, expected) in [
            (
                &["tail", "--mode", secret][..],
                "invalid value for '--mode <MODE>'",
            ),
            (
                &["tail", "--timeout", secret],
                "invalid value for '--timeout <TIMEOUT>'",
            ),
            (
                &["tail", "--page-size", secret],
                "invalid value for '--page-size <PAGE_SIZE>'",
            ),
            (
                &["tail", "--proxy", "x", secret],
                "unexpected argument (not shown)",
            ),
            (
                &["tail", "--proxy", "x", "--until-now=yes"],
                "unexpected value for '--until-now'",
            ),
            (
                &["ping", "--proxy", "x", "--auth", secret],
                "cannot be used with",
            ),
            (&["tail"], "required arguments were not provided"),
            (
                &["identity", "a", secret],
                "unexpected argument (not shown)",
            ),
        ] {
            let message = clap_error(args);
            assert!(message.contains(expected), "{args:?}: {message}");
            assert!(!message.contains("hunter2"), "{args:?}: {message}");
            assert!(message.starts_with("error: "), "{message}");
        }
    }

    #[test]
    fn short_values_are_taken_out_where_they_stand_alone() {
        assert_eq!(
            without_value("90 is a number: write 90s or 90m; not 9090 or (90)", "90").unwrap(),
            "the value is a number: write 90s or 90m; not 9090 or (the value)"
        );
        let long = "a-long-value-of-20ch";
        assert_eq!(
            without_value(&format!("x{long}x and {long}"), long).unwrap(),
            "xthe valuex and the value"
        );
        // Through clap: the time parsers' reasons keep their examples.
        let message = clap_error(&["tail", "--proxy", "x", "--backfill-start", "90"]);
        assert!(
            message.contains("is a number without a unit: write 90s or 90m for an age"),
            "{message}"
        );
        let message = clap_error(&[
            "tail",
            "--proxy",
            "x",
            "--backfill-start",
            "2025-12-01T08:00",
        ]);
        assert!(
            message.contains("has no UTC offset: add Z for UTC ("),
            "{message}"
        );
        assert!(!message.contains("2025-12-01T08:00"), "{message}");
    }

    #[test]
    fn clap_errors_name_mistyped_names() {
        let message = clap_error(&["tial"]);
        assert!(
            message.contains("unrecognized subcommand 'tial'"),
            "{message}"
        );
        assert!(message.contains("'tail'"), "{message}");
        let message = clap_error(&["tail", "--proxxy", "x"]);
        assert!(
            message.contains("unexpected argument '--proxxy'"),
            "{message}"
        );
        assert!(
            message.contains("tip: a similar argument exists: '--proxy'"),
            "{message}"
        );
        let message = clap_error(&["tail", "--proxy", "x", "--timeout", "3 fortnights"]);
        assert!(message.contains("unknown unit"), "{message}");
        assert!(!message.contains("fortnights"), "{message}");
    }

    #[test]
    fn help_hides_environment_values() {
        let mut command = command();
        let tail = command.find_subcommand_mut("tail").unwrap();
        let help = tail.render_long_help().to_string();
        assert!(help.contains("TELEPORT_PROXY"), "{help}");
        assert!(!help.contains("TELEPORT_PROXY="), "{help}");
    }
}
