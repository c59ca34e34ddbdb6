//! The gRPC services: `teleport.auditlog.v1.AuditLogService` and `proto.AuthService` (`Ping`
//! and the legacy session stream), with Teleport's validation, permissions and errors, and the
//! fault knobs applied.

use std::sync::Arc;

use prost_types::Timestamp;
use teleport_audit_proto::auditlog::v1::{self as pb, audit_log_service_server::AuditLogService};
use teleport_audit_proto::authservice::{
    PingRequest, PingResponse, StreamSessionEventsRequest, auth_service_server::AuthService,
};
use teleport_audit_proto::{RawOneOf, RawStruct};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::conn_info::ConnInfo;
use super::legacy_sessions::recorded_to_oneof;
use super::recordings;
use super::stream::{malformed_index, stream_out};
use crate::Backend;
use crate::faults::CallFault;
use crate::json::{NANOS_PER_SEC, Nanos, date_text, day_of};
use crate::shared::{Shared, Version};
use crate::stats::Rpc;
use crate::store::{
    RecordedEvent, Resume, SearchQuery, ServedEvent, decode_export, decode_search, encode_export,
};

/// Teleport's default page size (`defaults.EventsIterationLimit`).
pub(crate) const DEFAULT_LIMIT: i32 = 500;
/// Teleport's largest page size (`defaults.EventsMaxIterationLimit`).
pub(crate) const MAX_LIMIT: i32 = 10_000;

/// The `order` value that means ascending on Teleport's wire (`types.EventOrderAscending`).
const WIRE_ASCENDING: i32 = 0;

/// Bytes that are well-framed protobuf (so the message around them decodes) but not a valid
/// `google.protobuf.Struct`: a `fields` entry whose key is not UTF-8.
const MALFORMED_STRUCT: &[u8] = &[0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe];

pub(crate) struct AuditService {
    shared: Arc<Shared>,
}

pub(crate) struct PingService {
    shared: Arc<Shared>,
}

impl AuditService {
    pub(crate) fn new(shared: Arc<Shared>) -> AuditService {
        AuditService { shared }
    }
}

impl PingService {
    pub(crate) fn new(shared: Arc<Shared>) -> PingService {
        PingService { shared }
    }
}

/// Which permission a call needs.
#[derive(Clone, Copy)]
pub(super) enum Need {
    /// `event` `list` and `read`.
    Events,
    /// `session` `read`.
    Sessions,
    /// Any authenticated caller.
    Authenticated,
}

/// Starts a call: counts it, applies injected failures and stalls, checks permissions.
pub(super) async fn begin<T>(
    shared: &Shared,
    rpc: Rpc,
    req: &Request<T>,
    need: Need,
) -> Result<ConnInfo, Status> {
    shared.stats.call(rpc);
    let result = admit(shared, rpc, req, need).await;
    if result.is_err() {
        shared.stats.error(rpc);
    }
    result
}

/// Whether a Teleport of the announced version serves `rpc`: search arrived in 13.0; 13.x,
/// 14.x and early 15.x register the unstructured session stream under a misspelt method name
/// (measured on 13.3.8 and 14.2.3; see [`recordings::serves_unstructured_session_stream`]);
/// the legacy session stream exists in every version; export arrived in 16.4.
fn served(version: &Version, rpc: Rpc) -> Result<(), Status> {
    let unknown = || {
        Status::unimplemented(format!(
            "unknown method {} for service teleport.auditlog.v1.AuditLogService",
            rpc.name()
        ))
    };
    match rpc {
        Rpc::Ping | Rpc::StreamSessionEvents => Ok(()),
        _ if *version < Version::new(13, 0, 0) => Err(unknown()),
        Rpc::StreamUnstructuredSessionEvents
            if !recordings::serves_unstructured_session_stream(version) =>
        {
            Err(Status::unimplemented(
                "method StreamUnstructuredSessionEvents not implemented",
            ))
        }
        Rpc::GetEventExportChunks | Rpc::ExportUnstructuredEvents
            if *version < Version::new(16, 4, 0) =>
        {
            Err(unknown())
        }
        _ => Ok(()),
    }
}

async fn admit<T>(
    shared: &Shared,
    rpc: Rpc,
    req: &Request<T>,
    need: Need,
) -> Result<ConnInfo, Status> {
    served(&shared.version, rpc)?;
    let info = req
        .extensions()
        .get::<ConnInfo>()
        .cloned()
        .ok_or_else(|| Status::internal("connection information is missing"))?;
    match shared.faults.on_call(rpc) {
        CallFault::None => {}
        CallFault::Fail(code) => {
            return Err(Status::new(
                code,
                format!("injected fault: {} fails with {code:?}", rpc.name()),
            ));
        }
        CallFault::Stall => {
            // Accept the call and never answer; the client's cancellation drops this future.
            shared.stopped().await;
            return Err(Status::unavailable("the server is restarting"));
        }
    }
    let Some(caller) = &info.caller else {
        return Err(Status::permission_denied(
            "access denied: the call needs a client certificate",
        ));
    };
    let p = caller.permissions;
    let missing = match need {
        Need::Events if !p.event_list => Some(("list", "event")),
        Need::Events if !p.event_read => Some(("read", "event")),
        Need::Sessions if !p.session_read => Some(("read", "session")),
        _ => None,
    };
    if let Some((verb, resource)) = missing {
        return Err(Status::permission_denied(format!(
            "access denied to perform action {verb:?} on {resource:?}"
        )));
    }
    Ok(info)
}

fn failed(shared: &Shared, rpc: Rpc, status: Status) -> Status {
    shared.stats.error(rpc);
    status
}

fn timestamp_nanos(ts: Option<&Timestamp>) -> Nanos {
    ts.map_or(0, |t| {
        t.seconds
            .saturating_mul(NANOS_PER_SEC)
            .saturating_add(i64::from(t.nanos))
    })
}

/// One session RPC (unstructured or legacy): admits the call (`session` `read`), then streams
/// the recording the request names (`target` gives its session id and start index), each event
/// made by `encode`.
async fn session_rpc<R, T, F>(
    shared: &Arc<Shared>,
    rpc: Rpc,
    request: Request<R>,
    target: impl FnOnce(R) -> (String, i32),
    encode: F,
) -> Result<Response<ReceiverStream<Result<T, Status>>>, Status>
where
    T: Send + 'static,
    F: FnMut(RecordedEvent, bool) -> Result<T, Status> + Send + 'static,
{
    let info = begin(shared, rpc, &request, Need::Sessions).await?;
    let (sid, start_index) = target(request.into_inner());
    let stream = recordings::serve(shared, rpc, info, &sid, i64::from(start_index), encode)?;
    Ok(Response::new(stream))
}

/// A recording event as `StreamUnstructuredSessionEvents` sends it: `id` is the event's `uid`,
/// or for events without one (`print`) the hex SHA-256 of its JSON, as Teleport's
/// `computeEventID` does.
fn recorded_to_proto(
    event: RecordedEvent,
    malformed: bool,
) -> Result<pb::EventUnstructured, Status> {
    let text = serde_json::to_string(&event.json)
        .map_err(|e| Status::internal(format!("recording event {}: {e}", event.ei)))?;
    let bytes = if malformed {
        MALFORMED_STRUCT.to_vec()
    } else {
        teleport_audit_types::wire::json_to_struct(&text)
            .map_err(|e| Status::internal(format!("recording event {}: {e}", event.ei)))?
    };
    let id = match event.uid() {
        Some(uid) => uid.to_string(),
        None => hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes())),
    };
    Ok(pb::EventUnstructured {
        r#type: event.event_type().to_string(),
        id,
        time: Some(Timestamp {
            seconds: event.time.div_euclid(NANOS_PER_SEC),
            nanos: event.time.rem_euclid(NANOS_PER_SEC) as i32,
        }),
        index: event.ei,
        unstructured: Some(RawStruct::from_encoded(bytes)),
    })
}

fn to_proto(event: &ServedEvent, malformed: bool) -> pb::EventUnstructured {
    let body = &event.body;
    let bytes = if malformed {
        MALFORMED_STRUCT.to_vec()
    } else {
        body.struct_bytes.to_vec()
    };
    pb::EventUnstructured {
        r#type: body.event_type.to_string(),
        id: body.uid_text.to_string(),
        time: Some(Timestamp {
            seconds: event.time.div_euclid(NANOS_PER_SEC),
            nanos: event.time.rem_euclid(NANOS_PER_SEC) as i32,
        }),
        index: body.ei,
        unstructured: Some(RawStruct::from_encoded(bytes)),
    }
}

#[tonic::async_trait]
impl AuditLogService for AuditService {
    type StreamUnstructuredSessionEventsStream =
        ReceiverStream<Result<pb::EventUnstructured, Status>>;
    type ExportUnstructuredEventsStream =
        ReceiverStream<Result<pb::ExportEventUnstructured, Status>>;
    type GetEventExportChunksStream = ReceiverStream<Result<pb::EventExportChunk, Status>>;

    async fn get_unstructured_events(
        &self,
        request: Request<pb::GetUnstructuredEventsRequest>,
    ) -> Result<Response<pb::EventsUnstructured>, Status> {
        const RPC: Rpc = Rpc::GetUnstructuredEvents;
        let shared = &self.shared;
        let info = begin(shared, RPC, &request, Need::Events).await?;
        let req = request.into_inner();
        let store = shared.store.inner();
        let backend = store.rules.backend;
        let limit = match req.limit {
            l if l <= 0 => DEFAULT_LIMIT,
            l if l > MAX_LIMIT => {
                // The file backend prints the wrong constant; the code is what matters.
                let message = if backend == Backend::File {
                    format!("limit {l} exceeds max iteration limit 1000")
                } else {
                    format!("limit {l} exceeds {MAX_LIMIT}")
                };
                return Err(failed(shared, RPC, Status::invalid_argument(message)));
            }
            l => l,
        };
        let start = timestamp_nanos(req.start_date.as_ref());
        let end = timestamp_nanos(req.end_date.as_ref());
        // The file backend counts whole days between the dates (`int(hours / 24)`).
        if backend == Backend::File && start.saturating_sub(end) >= 86_400 * NANOS_PER_SEC {
            return Err(failed(
                shared,
                RPC,
                Status::invalid_argument("invalid days"),
            ));
        }
        let resume = if req.start_key.is_empty() {
            Resume::Start
        } else if backend == Backend::File {
            Resume::AfterId(&req.start_key)
        } else {
            let shown: String = req.start_key.chars().take(80).collect();
            let dynamo = matches!(backend, Backend::Dynamo { .. });
            Resume::After(decode_search(&req.start_key, dynamo).map_err(|e| {
                failed(
                    shared,
                    RPC,
                    Status::invalid_argument(format!(
                        "start_key {shown:?} is not a valid {} cursor: {}",
                        backend.name(),
                        e.0
                    )),
                )
            })?)
        };
        let query = SearchQuery {
            start,
            end,
            event_types: &req.event_types,
            limit: limit as usize,
            resume,
            // Teleport casts the wire value to `types.EventOrder`, where 0 is ASCENDING and 1
            // DESCENDING: the opposite of the proto's names (measured on a real cluster).
            ascending: req.order == WIRE_ASCENDING,
            byte_cap: shared.page_byte_cap,
        };
        let page = store
            .search(&query)
            .map_err(|e| failed(shared, RPC, Status::internal(e.to_string())))?;
        if shared
            .faults
            .take_events(page.events.len() as u64)
            .is_some()
        {
            // A page is all or nothing: cut the connection instead of answering.
            info.control.cut();
            return Err(failed(
                shared,
                RPC,
                Status::unavailable("connection cut by the simulator"),
            ));
        }
        let bad = malformed_index(shared, page.events.len());
        let items: Vec<_> = page
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| to_proto(e, bad == Some(i)))
            .collect();
        shared.stats.events(RPC, items.len() as u64);
        Ok(Response::new(pb::EventsUnstructured {
            items,
            last_key: page.last_key,
        }))
    }

    async fn stream_unstructured_session_events(
        &self,
        request: Request<pb::StreamUnstructuredSessionEventsRequest>,
    ) -> Result<Response<Self::StreamUnstructuredSessionEventsStream>, Status> {
        session_rpc(
            &self.shared,
            Rpc::StreamUnstructuredSessionEvents,
            request,
            |r| (r.session_id, r.start_index),
            recorded_to_proto,
        )
        .await
    }

    async fn get_event_export_chunks(
        &self,
        request: Request<pb::GetEventExportChunksRequest>,
    ) -> Result<Response<Self::GetEventExportChunksStream>, Status> {
        const RPC: Rpc = Rpc::GetEventExportChunks;
        let shared = &self.shared;
        let info = begin(shared, RPC, &request, Need::Events).await?;
        let store = export_store(shared, RPC)?;
        let day = day_of(timestamp_nanos(request.get_ref().date.as_ref()));
        let chunks: Vec<_> = store
            .chunks(day)
            .into_iter()
            .map(|chunk| pb::EventExportChunk { chunk })
            .collect();
        shared.stats.events(RPC, chunks.len() as u64);
        Ok(Response::new(stream_out(
            chunks.into_iter().map(Ok),
            None,
            info,
            shared,
        )))
    }

    async fn export_unstructured_events(
        &self,
        request: Request<pb::ExportUnstructuredEventsRequest>,
    ) -> Result<Response<Self::ExportUnstructuredEventsStream>, Status> {
        const RPC: Rpc = Rpc::ExportUnstructuredEvents;
        let shared = &self.shared;
        let info = begin(shared, RPC, &request, Need::Events).await?;
        let store = export_store(shared, RPC)?;
        let req = request.into_inner();
        let day = day_of(timestamp_nanos(req.date.as_ref()));
        let events = store
            .chunk_events(day, &req.chunk)
            .map_err(|e| failed(shared, RPC, Status::internal(e.to_string())))?
            .ok_or_else(|| {
                failed(
                    shared,
                    RPC,
                    Status::not_found(format!(
                        "export chunk {:?} of {} not found",
                        req.chunk,
                        date_text(day)
                    )),
                )
            })?;
        let skip = if req.cursor.is_empty() {
            0
        } else {
            decode_export(&req.chunk, &req.cursor).map_err(|e| {
                failed(
                    shared,
                    RPC,
                    Status::invalid_argument(format!("export cursor is not valid here: {}", e.0)),
                )
            })?
        };
        let rest = events.get(skip..).unwrap_or_default();
        let cut_after = shared.faults.take_events(rest.len() as u64);
        let bad = malformed_index(shared, rest.len());
        let items: Vec<_> = rest
            .iter()
            .enumerate()
            .map(|(i, e)| {
                Ok(pb::ExportEventUnstructured {
                    event: Some(to_proto(e, bad == Some(i))),
                    cursor: encode_export(&req.chunk, skip + i + 1),
                })
            })
            .collect();
        shared.stats.events(
            RPC,
            cut_after
                .unwrap_or(items.len() as u64)
                .min(items.len() as u64),
        );
        Ok(Response::new(stream_out(items, cut_after, info, shared)))
    }
}

/// The store, if its backend serves the export RPCs (Athena); Unimplemented otherwise, as
/// Teleport answers for other backends.
fn export_store(shared: &Shared, rpc: Rpc) -> Result<&crate::store::StoreInner, Status> {
    let store = shared.store.inner();
    if store.rules.backend.supports_export() {
        Ok(store)
    } else {
        Err(failed(
            shared,
            rpc,
            Status::unimplemented(format!(
                "export not supported by this backend ({})",
                store.rules.backend.name()
            )),
        ))
    }
}

#[tonic::async_trait]
impl AuthService for PingService {
    async fn ping(&self, request: Request<PingRequest>) -> Result<Response<PingResponse>, Status> {
        let shared = &self.shared;
        let info = begin(shared, Rpc::Ping, &request, Need::Authenticated).await?;
        Ok(Response::new(PingResponse {
            cluster_name: shared.cluster_name.clone(),
            server_version: shared.server_version.clone(),
            proxy_public_addr: shared.proxy_public_addr.clone(),
            is_boring: false,
            remote_addr: info.peer.to_string(),
        }))
    }

    type StreamSessionEventsStream = ReceiverStream<Result<RawOneOf, Status>>;

    async fn stream_session_events(
        &self,
        request: Request<StreamSessionEventsRequest>,
    ) -> Result<Response<Self::StreamSessionEventsStream>, Status> {
        session_rpc(
            &self.shared,
            Rpc::StreamSessionEvents,
            request,
            |r| (r.session_id, r.start_index),
            recorded_to_oneof,
        )
        .await
    }
}
