//! Log lines on stderr: which ones (`-q`, `-v`, `RUST_LOG`) and in what form (`--log-format`).
//!
//! Every line goes through [`crate::progress::write_stderr`]: secrets redacted, printed above
//! the progress line when one is shown.

use tracing_subscriber::EnvFilter;

use crate::args::LogFormatArg;

/// Our crates: the library and this binary (both `teleport_audit`), and what they are built on.
/// Everything else (h2, hyper, tonic, tower, rustls, tokio-tungstenite...) stays at warnings
/// whatever `-v` says: their debug and trace output is raw frames and buffers.
const OUR_CRATES: [&str; 6] = [
    "teleport_audit",
    "teleport_audit_cli",
    "teleport_audit_proto",
    "teleport_audit_types",
    "teleport_identity",
    "teleport_audit_sim",
];

/// The filter for `-v` counted `verbose` times, or `-q`: warnings from everything; from our
/// crates nothing more when quiet, else the info of the library and this binary (connected,
/// resuming, waiting for late events, progress summaries, done; a target names a crate and
/// its prefix, so the client's own crates too) but not of the simulator, with `-v` all our
/// crates' info, `-vv` debug, `-vvv` trace.
pub(crate) fn filter_directives(verbose: u8, quiet: bool) -> String {
    let ours = match (quiet, verbose) {
        (true, _) => return "warn".to_owned(),
        (false, 0) => return "warn,teleport_audit=info,teleport_audit_sim=warn".to_owned(),
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    std::iter::once("warn".to_owned())
        .chain(OUR_CRATES.iter().map(|krate| format!("{krate}={ours}")))
        .collect::<Vec<_>>()
        .join(",")
}

/// Writes each log line to stderr in one write (see the [module](self) docs).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::progress::write_stderr(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the log subscriber. `RUST_LOG`, when set, replaces the filter of `-v` and `-q`.
pub(crate) fn init(format: LogFormatArg, verbose: u8, quiet: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(filter_directives(verbose, quiet)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogWriter)
        .with_target(false);
    match format {
        LogFormatArg::Text => builder
            // Colours only on a terminal: logs sent to a file or a collector stay plain text.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // One object per line, the event's fields at the top level beside `timestamp`,
        // `level` and `message`, like the error report (crate::report).
        LogFormatArg::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_stay_at_warnings() {
        for verbose in 0..=5 {
            for quiet in [false, true] {
                let directives = filter_directives(verbose, quiet);
                // Parses, and starts from warnings for everything not named.
                assert!(EnvFilter::try_new(&directives).is_ok(), "{directives}");
                assert!(directives.starts_with("warn"), "{directives}");
                for dependency in [
                    "h2",
                    "hyper",
                    "tonic",
                    "tower",
                    "rustls",
                    "tokio_tungstenite",
                ] {
                    assert!(!directives.contains(dependency), "{directives}");
                }
            }
        }
    }

    #[test]
    fn each_v_adds_a_level_of_ours() {
        assert_eq!(filter_directives(0, true), "warn");
        assert_eq!(filter_directives(3, true), "warn");
        assert_eq!(
            filter_directives(0, false),
            "warn,teleport_audit=info,teleport_audit_sim=warn"
        );
        let one = filter_directives(1, false);
        assert!(one.contains("teleport_audit_sim=info"), "{one}");
        assert!(one.contains("teleport_identity=info"), "{one}");
        assert!(filter_directives(2, false).contains("teleport_audit=debug"));
        assert!(filter_directives(3, false).contains("teleport_audit=trace"));
        assert_eq!(filter_directives(9, false), filter_directives(3, false));
    }
}
