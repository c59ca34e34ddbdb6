//! Command-line arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use teleport_audit::{ParsedTime, TimeSpecError, parse_backfill_start, parse_duration, parse_time};

/// Tail a Teleport cluster's audit log as NDJSON, exactly once across restarts.
#[derive(Debug, Parser)]
#[command(name = "teleport-audit", version, about)]
pub(crate) struct Cli {
    /// More logging on stderr. Without it: warnings, and the info of the library and this
    /// command (connected, resuming, waiting for late events, a progress summary a minute when
    /// stderr is not a terminal, done). -v: the info of all our crates,
    /// -vv: their debug, -vvv: their trace. Other libraries (h2, hyper, tonic, tower, rustls,
    /// tokio-tungstenite) stay at warnings whatever the count: no raw frames. RUST_LOG, when
    /// set, replaces all of this (and can show them).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    /// Only warnings and errors on stderr: no progress display, no info lines.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// How log lines and the final error are written on stderr: text (coloured on a terminal
    /// only) or json (one object per line, for log shippers; no progress line).
    #[arg(long, value_enum, global = true, default_value_t = LogFormatArg::Text)]
    pub(crate) log_format: LogFormatArg,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The form of the log lines on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormatArg {
    /// Human-readable lines.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `message` and the event's fields.
    Json,
}

// Built once per process; without the `sim` feature (no large `Sim` variant) clippy finds
// `Tail` too large next to the others.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Stream audit events to stdout as NDJSON.
    Tail(TailArgs),
    /// Print an identity file's summary as JSON (no secrets).
    Identity(IdentityArgs),
    /// Connect and print the cluster name and Teleport version.
    Ping(ConnectArgs),
    /// Print one session's recording (the commands, Kubernetes exec, database queries, ...) to
    /// stdout as NDJSON, one event per line, each with the session's `sid`.
    Session(SessionArgs),
    /// Start a simulated cluster in-process and tail it live.
    #[cfg(feature = "sim")]
    Demo(DemoArgs),
    /// Run a simulated cluster as a server until SIGTERM or Ctrl-C, to test a pipeline against.
    /// Prints `proxy=HOST:PORT` then `proxy_ca=PATH` on stdout once it accepts connections.
    #[cfg(feature = "sim")]
    Sim(SimArgs),
}

/// How to reach and authenticate to the cluster.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// Proxy address with port, e.g. teleport.example.com:443. Also read from TELEPORT_PROXY
    /// (Teleport's name, after TELEPORT_AUDIT_PROXY).
    #[arg(long, required_unless_present = "auth")]
    pub(crate) proxy: Option<String>,
    /// Connect straight to an Auth Service (host:port) instead of a proxy. Also read from
    /// TELEPORT_AUTH_SERVER (after TELEPORT_AUDIT_AUTH).
    #[arg(long, conflicts_with = "proxy")]
    pub(crate) auth: Option<String>,
    /// Identity file written by `tctl auth sign --format=file`. Also read from
    /// TELEPORT_IDENTITY_FILE (after TELEPORT_AUDIT_IDENTITY_FILE). Without it, the file's
    /// contents are read from the TELEPORT_IDENTITY environment variable.
    #[arg(long, short = 'i')]
    pub(crate) identity_file: Option<PathBuf>,
    /// Extra CA (PEM file) for the proxy's public certificate (connection upgrade only).
    #[arg(long)]
    pub(crate) proxy_ca: Option<PathBuf>,
    /// WebSocket connection upgrade for proxies behind an L7 load balancer.
    #[arg(long, value_enum, default_value_t = UpgradeArg::Auto)]
    pub(crate) connection_upgrade: UpgradeArg,
    /// Time allowed per dial step and per call.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub(crate) timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum UpgradeArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    /// Deliver events from this time (inclusive; not in the future): RFC 3339
    /// (2025-12-01T00:00:00Z, or with an offset: +01:00), a date (2025-12-01: midnight UTC), unix
    /// seconds (10 digits: 1764547200) or milliseconds (13 digits: 1764547200000), or an age
    /// (90m, 24h, 7d, 1h30m: that long before now). A number without a unit (90) is refused.
    /// Without it (and without a cursor file), only new events are delivered; a cursor file's
    /// position wins over it.
    #[arg(long, value_parser = backfill_start, value_name = "TIME")]
    pub(crate) backfill_start: Option<ParsedTime>,
    /// Resume from this file and save the position to it after each written batch. Locked while
    /// the command runs: a second process on the same cursor file is refused.
    #[arg(long)]
    pub(crate) cursor_file: Option<PathBuf>,
    /// Append events to this file instead of stdout, exactly once across crashes: the file is
    /// flushed to disk before the cursor that covers it is saved, and cut back to the last save
    /// on start (needs --cursor-file). Stdout is at-least-once across a crash.
    #[arg(long, requires = "cursor_file")]
    pub(crate) output: Option<PathBuf>,
    /// Only these event types, filtered by the server: names or codes, comma separated (spaces
    /// allowed), e.g. "user.login, access_request.create" or T1000I (a code stands for its
    /// type). A name not in the event catalogue is refused with the closest known ones (see
    /// --allow-unknown-types). The cursor file records the list: resume with the same one.
    #[arg(long, value_name = "TYPES")]
    pub(crate) types: Vec<String>,
    /// Never deliver events of these types (names or codes, as --types), filtered here: they
    /// are read and counted, not written. May change between runs on one cursor file.
    #[arg(long, value_name = "TYPES")]
    pub(crate) skip_types: Vec<String>,
    /// Accept names in --types and --skip-types that are not in the event catalogue (event
    /// types newer than this program), as given.
    #[arg(long)]
    pub(crate) allow_unknown_types: bool,
    /// Which Teleport API reads the log: auto (export if the cluster serves it, else search),
    /// search, or export. A cursor file's mode wins over auto.
    #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
    pub(crate) mode: ModeArg,
    /// Stop once caught up with the time the command started (after the lateness bound).
    #[arg(long)]
    pub(crate) until_now: bool,
    /// Stop once every event up to this time (inclusive) has been delivered, after waiting out
    /// the lateness bound: with --backfill-start, a one-shot export of a range. The forms of
    /// --backfill-start (an age is before now; a future time waits for it).
    #[arg(long, value_parser = until, value_name = "TIME", conflicts_with = "until_now")]
    pub(crate) until: Option<ParsedTime>,
    /// Events per page (1 to 10000).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(crate) page_size: u32,
    /// Wait between polls once caught up [default: 2s in search mode; 15s in export mode, where
    /// a poll lists the chunks of the recent dates].
    #[arg(long, value_parser = parse_duration)]
    pub(crate) poll_interval: Option<Duration>,
    /// How late an event may become visible and still be delivered [default: 10s in search
    /// mode, 2m in export mode (Athena writes its batches about once a minute)].
    #[arg(long, value_parser = parse_duration)]
    pub(crate) max_lateness: Option<Duration>,
    /// Serve Prometheus metrics at http://ADDR/metrics and a health check at /healthz while
    /// the command runs: 127.0.0.1:9464 (this machine only), 0.0.0.0:9464 or [::]:9464 (every
    /// interface). A port in use is refused before connecting. Metrics and health rule:
    /// docs/metrics.md.
    #[arg(long, value_parser = listen_addr, value_name = "HOST:PORT")]
    pub(crate) metrics_addr: Option<std::net::SocketAddr>,
    /// /healthz answers 503 (and teleport_audit_healthy is 0) when no call to the Auth Service
    /// has succeeded for longer than this, or after a fatal error. A caught-up stream still
    /// succeeds a call every poll (2s in search mode, 15s in export mode).
    #[arg(long, value_parser = parse_duration, default_value = "5m", value_name = "DURATION")]
    pub(crate) health_stall_bound: Duration,
    /// After each session.upload event, also write that session's recording events (commands,
    /// Kubernetes exec, database queries, desktop session metadata, port forwards), each with
    /// the session's "sid". The cursor file covers the sessions in progress: a restart resumes
    /// inside a recording. A recording missing after --recording-wait, or corrupt, is a warning
    /// naming the session (recording_missing, recording_corrupt) and the stream goes on.
    #[arg(long)]
    pub(crate) session_recordings: bool,
    /// Recording event types not written, comma separated: "none" (or an empty value) writes
    /// every type. The default skips print: the raw terminal output of the session (whatever
    /// was typed or shown, secrets included). Names are checked as --skip-types' are (a code
    /// stands for its type; print and desktop.recording, which have no code, are known too).
    #[arg(long, value_name = "TYPES", default_value = "print", value_parser = session_types, requires = "session_recordings")]
    pub(crate) skip_session_types: SessionTypes,
    /// Only the session metadata events of each recording (start, end, join, leave), none of
    /// its contents.
    #[arg(long, requires = "session_recordings")]
    pub(crate) session_metadata_only: bool,
    /// Recordings read at the same time (1 to 64).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64), requires = "session_recordings")]
    pub(crate) session_concurrency: u16,
    /// How long a recording not uploaded yet is waited for, from its session.upload event.
    #[arg(long, value_parser = parse_duration, default_value = "10m", value_name = "DURATION", requires = "session_recordings")]
    pub(crate) recording_wait: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModeArg {
    /// Export when the cluster serves it (Teleport 16.4+ with Athena, Cloud), else search.
    Auto,
    /// GetUnstructuredEvents, ascending, resumable by cursor.
    Search,
    /// GetEventExportChunks + ExportUnstructuredEvents: chunks read in parallel, not in time
    /// order.
    Export,
}

impl From<ModeArg> for teleport_audit::Mode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Auto => teleport_audit::Mode::Auto,
            ModeArg::Search => teleport_audit::Mode::Search,
            ModeArg::Export => teleport_audit::Mode::Export,
        }
    }
}

/// `--backfill-start`: a time not after this machine's now.
fn backfill_start(text: &str) -> Result<ParsedTime, TimeSpecError> {
    parse_backfill_start(text, time::OffsetDateTime::now_utc())
}

/// `--until`: a time (an age counts back from this machine's now).
fn until(text: &str) -> Result<ParsedTime, TimeSpecError> {
    parse_time(text, time::OffsetDateTime::now_utc())
}

/// `--metrics-addr`: an IP address and port, or a host name of this machine (localhost:9464).
fn listen_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let expected = "expected HOST:PORT, e.g. 127.0.0.1:9464, [::]:9464 or localhost:9464";
    match std::net::ToSocketAddrs::to_socket_addrs(text) {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("the host name has no address; {expected}")),
        Err(_) => Err(format!(
            "not HOST:PORT, or a host name that does not resolve; {expected}"
        )),
    }
}

#[derive(Debug, Args)]
pub(crate) struct SessionArgs {
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    /// The session's id: the `sid` of its audit events (session.start, session.upload, ...), a
    /// UUID. The identity's role needs `session` `read`.
    #[arg(value_name = "SESSION_ID")]
    pub(crate) session_id: String,
    /// Start at this event index (inclusive), e.g. the `ei` after the last event of an earlier
    /// run (printed when a run stops early).
    #[arg(long, default_value_t = 0, value_name = "N",
          value_parser = clap::value_parser!(i64).range(0..=i64::from(i32::MAX)))]
    pub(crate) from_index: i64,
    /// Recording event types read but not printed, comma separated; `none` (or an empty value)
    /// prints everything. The default, print, is the raw terminal output of SSH sessions: every
    /// byte the session showed, secrets typed or displayed included (the commands are also in
    /// session.start's initial_command and, with enhanced recording, session.command). A name
    /// not in the event catalogue (print and desktop.recording aside) is refused with the
    /// closest known ones; a code stands for its type.
    #[arg(long, value_name = "TYPES", default_value = "print", value_parser = session_types)]
    pub(crate) skip_session_types: SessionTypes,
    /// Accept names in --skip-session-types that are not in the event catalogue (event types
    /// newer than this program), as given.
    #[arg(long)]
    pub(crate) allow_unknown_types: bool,
    /// How long a recording that is not there yet (uploads are asynchronous) is asked for again
    /// before giving up with `recording_not_found`.
    #[arg(long, value_parser = parse_duration, default_value = "10m", value_name = "DURATION")]
    pub(crate) recording_wait: Duration,
}

/// A comma list of recording event types (`--skip-session-types`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SessionTypes(pub(crate) Vec<String>);

/// `--skip-session-types`: a comma list (spaces allowed); `none` or an empty value is no type.
fn session_types(text: &str) -> Result<SessionTypes, String> {
    let types: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    match types.as_slice() {
        [only] if only.eq_ignore_ascii_case("none") => Ok(SessionTypes(Vec::new())),
        _ if types.iter().any(|t| t.eq_ignore_ascii_case("none")) => {
            Err("`none` cannot be combined with types".to_owned())
        }
        _ => Ok(SessionTypes(types)),
    }
}

#[derive(Debug, Args)]
pub(crate) struct IdentityArgs {
    /// Identity file; without it, TELEPORT_IDENTITY holds the file's contents.
    pub(crate) path: Option<PathBuf>,
}

#[cfg(feature = "sim")]
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Events per second the simulated cluster generates live.
    #[arg(long, default_value_t = 20.0)]
    pub(crate) rate: f64,
    /// Events already in the audit log, spread over the hour before now (backfilled).
    #[arg(long, default_value_t = 2000)]
    pub(crate) backlog: u64,
    /// Stop after this long (0 = until Ctrl-C).
    #[arg(long, value_parser = parse_duration, default_value = "15s")]
    pub(crate) duration: Duration,
    /// Print only the summary, not the events.
    #[arg(long)]
    pub(crate) no_events: bool,
}

#[cfg(feature = "sim")]
#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Write the client's identity file here (mode 0600; an old file is replaced atomically).
    #[arg(long)]
    pub(crate) identity_out: PathBuf,
    /// Write the CA of the proxy's web certificate here, for `tail --proxy-ca`
    /// [default: IDENTITY_OUT.proxy-ca.pem].
    #[arg(long)]
    pub(crate) proxy_ca_out: Option<PathBuf>,
    /// Where the proxy listens; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(crate) listen: std::net::SocketAddr,
    /// Cluster name [default: sim.teleport.test].
    #[arg(long)]
    pub(crate) cluster: Option<String>,
    /// Events already in the audit log, spread over the hour before the server's now.
    #[arg(long, default_value_t = 1000)]
    pub(crate) backlog: u64,
    /// New events per second (0: none).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) rate: f64,
    /// The audit storage to imitate (athena serves the export API).
    #[arg(long, value_enum, default_value_t = SimBackendArg::Dynamo)]
    pub(crate) backend: SimBackendArg,
    /// Time between Athena's flushes (events become visible in batches).
    #[arg(long, value_parser = parse_duration, default_value = "1m")]
    pub(crate) flush_interval: Duration,
    /// The server's clock minus the real one: -1h (an hour behind), +30m (ahead), 90s.
    #[arg(long, value_parser = teleport_audit::parse_signed_duration, allow_hyphen_values = true, default_value = "0s")]
    pub(crate) clock_offset: time::Duration,
    /// Recorded SSH sessions in the history, each with a `session.upload` and a recording
    /// (0: recordings off). The first recording is large, the next four are missing,
    /// late-uploaded, corrupt and empty, the rest small; live SSH sessions are recorded too.
    #[arg(long, default_value_t = 0)]
    pub(crate) sessions: u64,
    /// Events in the large recording.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub(crate) large_session_events: u64,
    /// How long a late-uploaded recording stays missing after its `session.upload`.
    #[arg(long, value_parser = parse_duration, default_value = "20s", value_name = "DURATION")]
    pub(crate) late_upload_delay: Duration,
}

#[cfg(feature = "sim")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SimBackendArg {
    /// DynamoDB: events visible up to 2 s after they happen; search only.
    Dynamo,
    /// Athena: events visible when their batch is flushed; search and export.
    Athena,
    /// The file backend of a self-hosted cluster: visible at once; search only.
    File,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_types_are_a_comma_list_and_none_is_empty() {
        let types = |text: &str| session_types(text).map(|t| t.0);
        assert_eq!(types("print"), Ok(vec!["print".to_owned()]));
        assert_eq!(
            types(" print, desktop.recording ,"),
            Ok(vec!["print".to_owned(), "desktop.recording".to_owned()])
        );
        assert_eq!(types("none"), Ok(Vec::new()));
        assert_eq!(types("NONE"), Ok(Vec::new()));
        assert_eq!(types(""), Ok(Vec::new()));
        assert!(types("none,print").is_err());
    }

    #[test]
    fn session_flags_need_session_recordings() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(
                ["teleport-audit", "tail", "--proxy", "p:443"]
                    .iter()
                    .chain(args),
            )
        };
        assert!(parse(&["--skip-session-types", "none"]).is_err());
        assert!(parse(&["--session-concurrency", "8"]).is_err());
        let cli = parse(&["--session-recordings", "--session-concurrency", "8"]).unwrap();
        let Command::Tail(tail) = cli.command else {
            panic!("not tail")
        };
        assert!(tail.session_recordings);
        assert_eq!(tail.session_concurrency, 8);
        assert_eq!(tail.skip_session_types.0, ["print"]);
        assert_eq!(tail.recording_wait, Duration::from_secs(600));
        assert!(parse(&["--session-recordings", "--session-concurrency", "0"]).is_err());
    }
}
