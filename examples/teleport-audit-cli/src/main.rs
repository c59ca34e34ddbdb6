//! `teleport-audit`: tail a Teleport cluster's audit log as NDJSON.
//!
//! A thin command-line front end over the `teleport-audit` library:
//!
//! - `teleport-audit tail --proxy HOST:PORT --identity-file PATH [--backfill-start 24h] [--cursor-file PATH]`
//! - `teleport-audit identity [PATH]`: the identity's summary as JSON
//! - `teleport-audit ping --proxy HOST:PORT --identity-file PATH`
//! - `teleport-audit demo`: a simulated cluster in-process, tailed live (no setup needed)
//! - `teleport-audit sim --identity-out PATH`: a simulated cluster served until SIGTERM, to test
//!   a pipeline against
//!
//! `demo` and `sim` exist with the `sim` feature (on by default); a production build leaves them
//! and the simulated cluster out: `--no-default-features --features ring` (or `aws-lc-rs`).
//!
//! Events go to stdout, one JSON object per line; logs and progress go to stderr.

mod args;
#[cfg(feature = "sim")]
mod demo;
mod duration;
mod identity_cmd;
mod ping;
#[cfg(feature = "sim")]
mod sim_cmd;
mod tail;

use std::process::ExitCode;

use teleport_audit_cli::secret_guard::{self, RedactedStderr};

use crate::args::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    // Before anything else: a value that looks like the identity file's text is refused here,
    // and no message (usage error, log line, error report, panic) repeats one.
    secret_guard::install_panic_hook();
    let cli = match secret_guard::parse::<Cli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_logging(cli.verbose);
    let outcome = match cli.command {
        Command::Tail(args) => tail::run(args).await,
        Command::Identity(args) => identity_cmd::run(args).map_err(Failure::from),
        Command::Ping(args) => ping::run(args).await.map_err(Failure::from),
        #[cfg(feature = "sim")]
        Command::Demo(args) => demo::run(args).await,
        #[cfg(feature = "sim")]
        Command::Sim(args) => return sim_cmd::run(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn,teleport_audit=info",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| RedactedStderr)
        // Colours only on a terminal: logs sent to a file or a collector stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The library reported an error.
    Audit(teleport_audit::Error),
    /// Events could not be written to stdout (closed pipe, full disk).
    Output(std::io::Error),
}

impl From<teleport_audit::Error> for Failure {
    fn from(error: teleport_audit::Error) -> Self {
        Failure::Audit(error)
    }
}

/// Prints an error with its whole cause chain and, for library errors, the advice; in one
/// write, with anything that looks like key material redacted (the library's messages never
/// hold any: this is the last line of defence).
fn report(failure: &Failure) {
    use std::fmt::Write as _;
    let mut text = String::new();
    match failure {
        Failure::Audit(error) => {
            let _ = writeln!(text, "error: {error}");
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                let _ = writeln!(text, "  caused by: {cause}");
                source = cause.source();
            }
            let _ = writeln!(text, "  code: {}", error.code());
            let _ = writeln!(text, "  what to do: {}", error.advice());
        }
        Failure::Output(error) => {
            let _ = writeln!(text, "error: could not write events to stdout: {error}");
        }
    }
    let _ = std::io::Write::write_all(&mut RedactedStderr, text.as_bytes());
}
