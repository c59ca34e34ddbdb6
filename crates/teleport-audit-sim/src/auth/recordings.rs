//! Serving session recordings: which versions serve the unstructured session stream,
//! Teleport's `NotFound` for a recording that is not there, and [`serve`], the one path from
//! the store's recordings to a gRPC stream that both session RPCs use (the unstructured
//! `StreamUnstructuredSessionEvents` and the legacy `proto.AuthService/StreamSessionEvents`).

use std::sync::Arc;

use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::conn_info::ConnInfo;
use super::stream::stream_out;
use crate::shared::{Shared, Version};
use crate::stats::Rpc;
use crate::store::{RecordedEvent, RecordingFault, RecordingMissing};

/// Whether a Teleport of this version serves
/// `teleport.auditlog.v1.AuditLogService/StreamUnstructuredSessionEvents`.
///
/// 13.x and 14.x registered the handler under a misspelt name
/// (`StreamUnstructuredSessionEventsServer`, T14 lib/auth/grpcserver.go:5553), so grpc-go
/// answers `Unimplemented` (measured on 13.3.8 and 14.2.3). gravitational/teleport#37580
/// fixed it on 2024-01-31, backported to v13 (#37583), v14 (#37582) and v15 (#37581). The
/// first patch releases that shipped it could not be confirmed; the gate takes releases
/// known to be later (13.4.20 and 14.3.10, released 2024-03-16; 15.1.0), so versions between
/// the fix and these answer `Unimplemented` here although a real one may not.
pub(crate) fn serves_unstructured_session_stream(version: &Version) -> bool {
    match version.major() {
        0..=12 => false,
        13 => *version >= Version::new(13, 4, 20),
        14 => *version >= Version::new(14, 3, 10),
        15 => *version >= Version::new(15, 1, 0),
        _ => true,
    }
}

/// Teleport's answer for a recording that is not in storage. 13 to 15 with the file backend:
/// `os.Open` of `records/<sid>.tar` converted to `NotFound`, with the server's path (T14
/// lib/events/filesessions/fileuploader.go:98-110). Newer versions say it in their own words
/// (master lib/events/auditlog.go).
pub(crate) fn recording_not_found(version: &Version, sid: &str) -> Status {
    if version.major() >= 16 {
        Status::not_found(format!("a recording for session {sid} was not found"))
    } else {
        Status::not_found(format!(
            "open /var/lib/teleport/log/records/{sid}.tar: no such file or directory"
        ))
    }
}

/// Opens session `sid`'s recording from `start_index` (inclusive) and streams it, each event
/// turned into a message by `encode` (its second argument says the `malformed_struct_next_page`
/// knob picked this event). Applies `drop_after_events`, counts events and errors for `rpc`.
/// A corrupt recording ends with `Unknown "unexpected EOF"` after its events, as Teleport's
/// reader fails on a file cut mid-part.
///
/// # Errors
/// `NotFound` (Teleport's text for this version) when the recording is missing or not
/// uploaded yet; `Internal` if the store cannot build the session (a bug).
pub(crate) fn serve<T, F>(
    shared: &Arc<Shared>,
    rpc: Rpc,
    info: ConnInfo,
    sid: &str,
    start_index: i64,
    mut encode: F,
) -> Result<ReceiverStream<Result<T, Status>>, Status>
where
    T: Send + 'static,
    F: FnMut(RecordedEvent, bool) -> Result<T, Status> + Send + 'static,
{
    let recording = shared
        .store
        .inner()
        .recording(sid, start_index)
        .map_err(|missing| {
            shared.stats.error(rpc);
            match missing {
                RecordingMissing::NotFound | RecordingMissing::NotYet => {
                    recording_not_found(&shared.version, sid)
                }
                RecordingMissing::Internal(message) => Status::internal(message),
            }
        })?;
    let remaining = recording.remaining();
    let cut_after = shared.faults.take_events(remaining);
    let malformed = super::stream::malformed_index(shared, remaining as usize);
    let counters = shared.clone();
    let mut position = 0usize;
    let items = recording.map(move |item| {
        let out = match item {
            Ok(event) => {
                let bad = malformed == Some(position);
                position += 1;
                encode(event, bad)
            }
            Err(RecordingFault::Truncated) => Err(Status::unknown("unexpected EOF")),
        };
        match &out {
            Ok(_) => counters.stats.events(rpc, 1),
            Err(_) => counters.stats.error(rpc),
        }
        out
    });
    Ok(stream_out(items, cut_after, info, shared))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unstructured_session_stream_is_served_from_the_fixed_releases_on() {
        let served = |v: &str| {
            serves_unstructured_session_stream(&Version::parse(v).unwrap_or(Version::new(0, 0, 0)))
        };
        for v in ["12.4.0", "13.3.8", "13.4.19", "14.2.3", "14.3.9", "15.0.2"] {
            assert!(!served(v), "{v}");
        }
        for v in [
            "13.4.20", "14.3.10", "14.3.33", "15.1.0", "16.0.0", "18.2.0",
        ] {
            assert!(served(v), "{v}");
        }
    }

    #[test]
    fn not_found_says_what_the_version_says() {
        let sid = "5b2d8a2e-0000-4000-8000-000000000000";
        let old = recording_not_found(&Version::new(14, 2, 3), sid);
        assert_eq!(old.code(), tonic::Code::NotFound);
        assert!(
            old.message().contains("records/5b2d8a2e"),
            "{}",
            old.message()
        );
        let new = recording_not_found(&Version::new(17, 0, 0), sid);
        assert_eq!(new.code(), tonic::Code::NotFound);
        assert!(new.message().contains("was not found"), "{}", new.message());
    }
}
