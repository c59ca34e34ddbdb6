//! `teleport-audit sim`: the simulated cluster of `teleport-audit-sim` as a server, until
//! SIGTERM or Ctrl-C, so a pipeline in any language (or a script testing this tool) has a
//! Teleport to read from.
//!
//! Once the proxy accepts connections it writes the client's identity file and the proxy's
//! CA, then prints two lines on stdout and flushes them:
//!
//! ```text
//! proxy=127.0.0.1:41234
//! proxy_ca=/tmp/identity.proxy-ca.pem
//! ```
//!
//! Nothing else goes to stdout; a summary goes to stderr. A signal stops it with exit code 0.
//!
//! Like a Teleport 16+ Auth Service, it disconnects clients that announce a version older than
//! the previous major (Teleport's Go API client sends its own); Teleport's switches work here
//! too: `TELEPORT_UNSTABLE_ALLOW_OLD_CLIENTS=yes` serves them (to read it with an older Go
//! client, as benches/go-peer does), `TELEPORT_UNSTABLE_REJECT_OLD_CLIENTS=yes` forces the check.

use std::ffi::OsString;
use std::fmt;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{
    Backend, DEFAULT_CLUSTER_NAME, OldClients, RecordingSettings, SimCluster, SimError,
};

use crate::args::{LogFormatArg, SimArgs, SimBackendArg};
use crate::report::Report;

/// How much history a backlog covers: the hour before the server's now.
const BACKLOG_SPAN: Duration = Duration::from_secs(3600);

/// Runs the command; errors are reported on stderr in `log_format`.
pub(crate) async fn run(args: SimArgs, log_format: LogFormatArg) -> ExitCode {
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let code = match &failure {
                SimFailure::Sim(error) => Some(error.code()),
                SimFailure::Signals(_) | SimFailure::Announce(_) => None,
            };
            let source = std::error::Error::source(&failure);
            Report::new(failure.to_string(), source, code, None).print(log_format);
            ExitCode::FAILURE
        }
    }
}

/// Why the simulated cluster could not be served.
#[derive(Debug)]
enum SimFailure {
    /// Starting it or writing its files failed (the message names what and where).
    Sim(SimError),
    /// The signal handlers could not be installed.
    Signals(std::io::Error),
    /// The address lines could not be written to stdout.
    Announce(std::io::Error),
}

impl fmt::Display for SimFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimFailure::Sim(error) => write!(f, "{error}"),
            SimFailure::Signals(_) => f.write_str("could not listen for SIGTERM and SIGINT"),
            SimFailure::Announce(_) => f.write_str("could not print the proxy address on stdout"),
        }
    }
}

impl std::error::Error for SimFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SimFailure::Sim(error) => error.source(),
            SimFailure::Signals(error) | SimFailure::Announce(error) => Some(error),
        }
    }
}

impl From<SimError> for SimFailure {
    fn from(error: SimError) -> Self {
        SimFailure::Sim(error)
    }
}

async fn serve(args: SimArgs) -> Result<(), SimFailure> {
    // First, so that a signal arriving as soon as the address is printed stops us cleanly.
    let signals = Signals::install().map_err(SimFailure::Signals)?;
    let backend = match args.backend {
        SimBackendArg::Dynamo => Backend::default(),
        SimBackendArg::Athena => Backend::Athena {
            flush_interval: args.flush_interval,
        },
        SimBackendArg::File => Backend::File,
    };
    let mut builder = SimCluster::builder()
        .cluster_name(args.cluster.as_deref().unwrap_or(DEFAULT_CLUSTER_NAME))
        .backend(backend)
        .live_rate(args.rate)
        .clock_offset(args.clock_offset)
        .old_clients(old_clients(|name| std::env::var_os(name)))
        .proxy_listen(args.listen)
        .sessions(args.sessions)
        .recordings(
            RecordingSettings::default()
                .large_events(args.large_session_events)
                .late_upload_delay(args.late_upload_delay),
        );
    if args.backlog > 0 {
        builder = builder.recent_backlog(args.backlog, BACKLOG_SPAN);
    }
    let sim = builder.start().await?;
    let proxy_ca_out = args
        .proxy_ca_out
        .unwrap_or_else(|| beside(&args.identity_out, ".proxy-ca.pem"));
    sim.write_identity_file(&IdentitySpec::default(), &args.identity_out)?;
    sim.write_web_ca(&proxy_ca_out)?;

    let proxy = reachable(sim.proxy_addr());
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "proxy={proxy}")
        .and_then(|()| writeln!(stdout, "proxy_ca={}", proxy_ca_out.display()))
        .and_then(|()| stdout.flush())
        .map_err(SimFailure::Announce)?;
    drop(stdout);
    // A log line (silenced by -q, an object with --log-format json).
    tracing::info!(
        "teleport-audit sim: cluster {} ({} backend) on {proxy}: {} past events, {} recorded sessions, {} new events/s, clock offset {}; identity file {}; SIGTERM or Ctrl-C stops it",
        sim.cluster_name(),
        backend.name(),
        args.backlog,
        args.sessions,
        args.rate,
        args.clock_offset,
        args.identity_out.display(),
    );

    signals.wait().await;
    sim.shutdown().await;
    Ok(())
}

/// Teleport's switches for old clients, read from the environment as Teleport reads them
/// (only the value `yes` counts; allowing wins).
fn old_clients(var: impl Fn(&str) -> Option<OsString>) -> OldClients {
    let yes = |name: &str| var(name).is_some_and(|value| value == "yes");
    if yes("TELEPORT_UNSTABLE_ALLOW_OLD_CLIENTS") {
        OldClients::Allow
    } else if yes("TELEPORT_UNSTABLE_REJECT_OLD_CLIENTS") {
        OldClients::Reject
    } else {
        OldClients::AsVersion
    }
}

/// `path` with `suffix` appended to its file name.
fn beside(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// The address to announce: a wildcard listen address is reached through loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

/// SIGTERM and SIGINT, listened for from creation (a signal arriving before [`Signals::wait`]
/// is not lost, and does not kill the process).
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teleports_old_client_switches_are_read_from_the_environment() {
        const ALLOW: &str = "TELEPORT_UNSTABLE_ALLOW_OLD_CLIENTS";
        const REJECT: &str = "TELEPORT_UNSTABLE_REJECT_OLD_CLIENTS";
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| OsString::from(value))
            }
        };
        assert_eq!(old_clients(env(&[])), OldClients::AsVersion);
        assert_eq!(old_clients(env(&[(ALLOW, "yes")])), OldClients::Allow);
        assert_eq!(old_clients(env(&[(REJECT, "yes")])), OldClients::Reject);
        assert_eq!(
            old_clients(env(&[(ALLOW, "yes"), (REJECT, "yes")])),
            OldClients::Allow
        );
        assert_eq!(
            old_clients(env(&[(ALLOW, "1"), (REJECT, "true")])),
            OldClients::AsVersion
        );
    }

    #[test]
    fn wildcard_addresses_are_announced_as_loopback() {
        let any4: SocketAddr = "0.0.0.0:4000".parse().unwrap();
        assert_eq!(reachable(any4), "127.0.0.1:4000".parse().unwrap());
        let any6: SocketAddr = "[::]:4000".parse().unwrap();
        assert_eq!(reachable(any6), "[::1]:4000".parse().unwrap());
        let specific: SocketAddr = "10.1.2.3:4000".parse().unwrap();
        assert_eq!(reachable(specific), specific);
    }

    #[test]
    fn the_proxy_ca_goes_beside_the_identity_by_default() {
        assert_eq!(
            beside(std::path::Path::new("/tmp/x/identity"), ".proxy-ca.pem"),
            PathBuf::from("/tmp/x/identity.proxy-ca.pem")
        );
    }

    #[test]
    fn errors_say_what_failed_once_and_keep_the_cause_apart() {
        let failure = SimFailure::Announce(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(
            failure.to_string(),
            "could not print the proxy address on stdout"
        );
        assert!(std::error::Error::source(&failure).is_some());
    }
}
