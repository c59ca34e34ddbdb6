//! `teleport-audit`: tail a Teleport cluster's audit log as NDJSON.
//!
//! A thin command-line front end over the `teleport-audit` library:
//!
//! - `teleport-audit tail --proxy HOST:PORT --identity-file PATH [--backfill-start 24h] [--cursor-file PATH]`
//! - `teleport-audit identity [PATH]`: the identity's summary as JSON
//! - `teleport-audit ping --proxy HOST:PORT --identity-file PATH`
//! - `teleport-audit session SESSION_ID --proxy HOST:PORT --identity-file PATH`: one session's
//!   recording as NDJSON
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
mod identity_cmd;
mod logging;
mod ping;
mod progress;
mod report;
mod selection;
mod session_cmd;
#[cfg(feature = "sim")]
mod sim_cmd;
mod tail;

use std::process::ExitCode;

use teleport_audit_cli::{exit, secret_guard};

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
    logging::init(cli.log_format, cli.verbose, cli.quiet);
    let outcome = match cli.command {
        Command::Tail(args) => tail::run(args, cli.quiet, cli.log_format).await,
        Command::Identity(args) => identity_cmd::run(args)
            .map(|()| Ended::Done)
            .map_err(Failure::from),
        Command::Session(args) => session_cmd::run(args).await,
        Command::Ping(args) => ping::run(args)
            .await
            .map(|()| Ended::Done)
            .map_err(Failure::from),
        #[cfg(feature = "sim")]
        Command::Demo(args) => demo::run(args).await.map(|()| Ended::Done),
        #[cfg(feature = "sim")]
        Command::Sim(args) => return sim_cmd::run(args, cli.log_format).await,
    };
    match outcome {
        Ok(Ended::Done) => ExitCode::SUCCESS,
        Ok(Ended::Interrupted) => ExitCode::from(exit::INTERRUPTED),
        Err(error) => {
            report::print(&error, cli.log_format);
            ExitCode::from(error.exit_status())
        }
    }
}

/// How a command that did not fail ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// It finished (or its reader went away).
    Done,
    /// SIGINT or SIGTERM stopped it cleanly, the cursor saved: [`exit::INTERRUPTED`].
    Interrupted,
}

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The library reported an error.
    Audit(teleport_audit::Error),
    /// Events could not be written to stdout (closed pipe, full disk).
    Output(std::io::Error),
}

impl Failure {
    /// The process's exit status: by the library error's class, 1 for anything else (see
    /// [`exit`]).
    fn exit_status(&self) -> u8 {
        match self {
            Failure::Audit(error) => exit::for_class(error.class()),
            Failure::Output(_) => exit::FAILURE,
        }
    }
}

impl From<teleport_audit::Error> for Failure {
    fn from(error: teleport_audit::Error) -> Self {
        Failure::Audit(error)
    }
}
