//! `teleport-audit session SESSION_ID`: one session's recording to stdout as NDJSON, one event
//! per line (each with the session's `sid`).

use std::io::Write;

use futures::{FutureExt as _, StreamExt as _};
use teleport_audit::{AuditEvent, Client, Error, SessionEventsConfig};

use crate::args::SessionArgs;
use crate::tail::Stop;
use crate::{Ended, Failure};

pub(crate) async fn run(args: SessionArgs) -> Result<Ended, Failure> {
    // Every setting is checked before connecting: a bad one is a usage error (exit 2).
    teleport_audit::check_session_id(&args.session_id).map_err(Error::from)?;
    let config = SessionEventsConfig::default()
        .start_index(args.from_index)
        .skip_types(crate::selection::skip_session_types(
            &args.skip_session_types.0,
            args.allow_unknown_types,
        )?)
        .recording_wait(args.recording_wait);
    config.validate().map_err(Error::from)?;
    let client = Client::connect(crate::ping::client_config(&args.connect)?).await?;
    tracing::info!(
        cluster = client.cluster_name(),
        version = client.server_version(),
        session_id = args.session_id,
        from_index = args.from_index,
        "connected; reading the session's recording"
    );
    let mut events = client.session_events(&args.session_id, config);
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
    let stop = Stop::on_signals();
    let outcome = pump(&mut events, &mut out, &stop).await;
    if !client.disconnect().await {
        tracing::debug!("the server did not close the connection in time");
    }
    let next_index = events.next_index();
    match outcome {
        Ok(Pumped::Done { events }) => {
            tracing::info!(events, next_index, "done");
            Ok(Ended::Done)
        }
        Ok(Pumped::OutputClosed) => Ok(Ended::Done),
        Ok(Pumped::Interrupted) => {
            tracing::info!(
                next_index,
                "stopped; --from-index {next_index} resumes after the last event printed"
            );
            Ok(Ended::Interrupted)
        }
        Err(Failure::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            Ok(Ended::Done)
        }
        Err(failure) => {
            if matches!(failure, Failure::Audit(_)) && next_index > args.from_index {
                tracing::info!(
                    next_index,
                    "--from-index {next_index} resumes after the last event printed"
                );
            }
            Err(failure)
        }
    }
}

/// How [`pump`] ended without a failure.
enum Pumped {
    Done { events: u64 },
    Interrupted,
    OutputClosed,
}

/// Writes the stream's events to `out`, one JSON object per line, flushed whenever the next
/// event is not ready at once.
async fn pump<S, W>(events: &mut S, out: &mut W, stop: &Stop) -> Result<Pumped, Failure>
where
    S: futures::Stream<Item = Result<AuditEvent, Error>> + Unpin,
    W: Write,
{
    let mut written = 0u64;
    let mut ready = None;
    loop {
        if stop.is_requested() {
            flush(out)?;
            return Ok(Pumped::Interrupted);
        }
        let item = match ready.take() {
            Some(item) => item,
            None => {
                flush(out)?;
                tokio::select! {
                    item = events.next() => item,
                    () = stop.wait() => return Ok(Pumped::Interrupted),
                }
            }
        };
        match item {
            None => {
                flush(out)?;
                return Ok(Pumped::Done { events: written });
            }
            Some(Ok(event)) => {
                match out
                    .write_all(event.as_json().as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
                {
                    Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                        return Ok(Pumped::OutputClosed);
                    }
                    other => other.map_err(Failure::Output)?,
                }
                written += 1;
                ready = events.next().now_or_never();
            }
            Some(Err(error)) => {
                flush(out)?;
                return Err(error.into());
            }
        }
    }
}

fn flush(out: &mut impl Write) -> Result<(), Failure> {
    out.flush().map_err(Failure::Output)
}
