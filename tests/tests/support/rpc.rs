//! One call of the simulated cluster's RPCs through the plain tonic client
//! (`teleport_audit_tests::plain_client`), its answer read whole, and the check of a refused
//! call: what the `sim_*` tests repeat, so that each test reads as what it checks.
//!
//! A call that must succeed panics with the status otherwise; a call that must fail (`*_error`)
//! panics with the answer otherwise and returns the status for [`assert_status`].

use prost_types::Timestamp;
use teleport_audit_proto::auditlog::v1::{
    EventUnstructured, EventsUnstructured, ExportEventUnstructured,
    ExportUnstructuredEventsRequest, GetEventExportChunksRequest, GetUnstructuredEventsRequest,
    StreamUnstructuredSessionEventsRequest,
};
use teleport_audit_proto::authservice::{PingRequest, PingResponse};
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{SimCluster, SimClusterBuilder};
use teleport_audit_tests::plain_client::{Clients, direct, identity, via_proxy};
use time::OffsetDateTime;
use tonic::{Code, IntoRequest, Status, Streaming};

/// `order` values as Teleport reads them (`types.EventOrder`): 0 is ascending, 1 descending,
/// whatever the proto's enum names say (measured on a real cluster).
pub const ASCENDING: i32 = 0;
/// See [`ASCENDING`].
pub const DESCENDING: i32 = 1;

/// Starts `builder`'s cluster and connects through its proxy with an identity issued for `spec`.
pub async fn start_cluster(
    builder: SimClusterBuilder,
    spec: &IdentitySpec,
) -> (SimCluster, Clients) {
    let sim = builder
        .start()
        .await
        .unwrap_or_else(|e| panic!("start the simulated cluster: {e}"));
    let clients = proxy_clients(&sim, spec).await;
    (sim, clients)
}

/// Clients through the sim's proxy (TLS routing) with an identity issued for `spec`.
pub async fn proxy_clients(sim: &SimCluster, spec: &IdentitySpec) -> Clients {
    via_proxy(sim, &identity(sim, spec))
        .await
        .unwrap_or_else(|e| panic!("connect through the proxy: {e}"))
}

/// Clients straight to the sim's Auth Service port with an identity issued for `spec`.
pub async fn direct_clients(sim: &SimCluster, spec: &IdentitySpec) -> Clients {
    direct(sim, &identity(sim, spec))
        .await
        .unwrap_or_else(|e| panic!("connect to the Auth Service: {e}"))
}

/// Pings the Auth Service through `clients` (`proto.AuthService/Ping`); the call must succeed.
pub async fn ping(clients: &mut Clients) -> PingResponse {
    clients
        .auth
        .ping(PingRequest {})
        .await
        .unwrap_or_else(|status| panic!("ping refused: {status:?}"))
        .into_inner()
}

/// `t` as a protobuf timestamp field.
pub fn ts(t: OffsetDateTime) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    })
}

/// An event's time.
pub fn when(e: &EventUnstructured) -> OffsetDateTime {
    let t = e.time.expect("every event has a time");
    OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos),
    )
    .expect("the event's time is in range")
}

/// Asserts `status` has `code` and a message containing `part` (the message is printed when it
/// does not).
#[track_caller]
pub fn assert_status(status: &Status, code: Code, part: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(part),
        "{:?} does not contain {part:?}",
        status.message()
    );
}

/// One search page (`GetUnstructuredEvents`); the call must succeed.
pub async fn page(
    c: &mut Clients,
    req: impl IntoRequest<GetUnstructuredEventsRequest>,
) -> EventsUnstructured {
    c.audit
        .get_unstructured_events(req)
        .await
        .unwrap_or_else(|status| panic!("search refused: {status:?}"))
        .into_inner()
}

/// A search that must be refused: its status.
pub async fn search_error(
    c: &mut Clients,
    req: impl IntoRequest<GetUnstructuredEventsRequest>,
) -> Status {
    match c.audit.get_unstructured_events(req).await {
        Ok(page) => panic!("search answered: {:?}", page.into_inner().last_key),
        Err(status) => status,
    }
}

/// Pages through a search until the key is empty; returns every page, in order.
pub async fn pages(
    c: &mut Clients,
    mut req: GetUnstructuredEventsRequest,
) -> Vec<EventsUnstructured> {
    let mut out = Vec::new();
    loop {
        let page = page(c, req.clone()).await;
        let key = page.last_key.clone();
        out.push(page);
        if key.is_empty() {
            return out;
        }
        req.start_key = key;
    }
}

/// Pages through a search until the key is empty; returns every event and the number of calls.
pub async fn drain(
    c: &mut Clients,
    req: GetUnstructuredEventsRequest,
) -> (Vec<EventUnstructured>, usize) {
    let pages = pages(c, req).await;
    let calls = pages.len();
    (pages.into_iter().flat_map(|p| p.items).collect(), calls)
}

/// The export chunks of `date` (`GetEventExportChunks`); the call must succeed.
pub async fn chunks(c: &mut Clients, date: OffsetDateTime) -> Vec<String> {
    let list = c
        .audit
        .get_event_export_chunks(GetEventExportChunksRequest { date: ts(date) })
        .await
        .unwrap_or_else(|status| panic!("chunk listing refused: {status:?}"))
        .into_inner();
    all(list).await.into_iter().map(|c| c.chunk).collect()
}

/// A chunk listing that must be refused: its status.
pub async fn chunks_error(c: &mut Clients, date: OffsetDateTime) -> Status {
    match c
        .audit
        .get_event_export_chunks(GetEventExportChunksRequest { date: ts(date) })
        .await
    {
        Ok(_) => panic!("chunk listing answered"),
        Err(status) => status,
    }
}

/// The export request for `chunk` of `date`, from `cursor` ("" for the start).
pub fn export_request(
    date: OffsetDateTime,
    chunk: &str,
    cursor: &str,
) -> ExportUnstructuredEventsRequest {
    ExportUnstructuredEventsRequest {
        date: ts(date),
        chunk: chunk.into(),
        cursor: cursor.into(),
    }
}

/// The opened export stream of one chunk (`ExportUnstructuredEvents`); the call must succeed.
pub async fn export_stream(
    c: &mut Clients,
    req: ExportUnstructuredEventsRequest,
) -> Streaming<ExportEventUnstructured> {
    c.audit
        .export_unstructured_events(req)
        .await
        .unwrap_or_else(|status| panic!("export refused: {status:?}"))
        .into_inner()
}

/// Every event of one chunk's export, read to the end.
pub async fn export(
    c: &mut Clients,
    req: ExportUnstructuredEventsRequest,
) -> Vec<ExportEventUnstructured> {
    all(export_stream(c, req).await).await
}

/// An export that must be refused: its status.
pub async fn export_error(c: &mut Clients, req: ExportUnstructuredEventsRequest) -> Status {
    match c.audit.export_unstructured_events(req).await {
        Ok(_) => panic!("export answered"),
        Err(status) => status,
    }
}

/// The session stream request for `session_id` from `start_index`.
pub fn session_request(
    session_id: &str,
    start_index: i32,
) -> StreamUnstructuredSessionEventsRequest {
    StreamUnstructuredSessionEventsRequest {
        session_id: session_id.into(),
        start_index,
        format: String::new(),
    }
}

/// The opened session stream (`StreamUnstructuredSessionEvents`); the call must succeed.
pub async fn session_stream(
    c: &mut Clients,
    req: StreamUnstructuredSessionEventsRequest,
) -> Streaming<EventUnstructured> {
    c.audit
        .stream_unstructured_session_events(req)
        .await
        .unwrap_or_else(|status| panic!("session stream refused: {status:?}"))
        .into_inner()
}

/// A session stream that must be refused: its status.
pub async fn session_error(c: &mut Clients, req: StreamUnstructuredSessionEventsRequest) -> Status {
    match c.audit.stream_unstructured_session_events(req).await {
        Ok(_) => panic!("session stream answered"),
        Err(status) => status,
    }
}

/// Every message of a server stream, read to its clean end (an error mid-stream panics).
pub async fn all<T>(mut stream: Streaming<T>) -> Vec<T> {
    let mut out = Vec::new();
    while let Some(item) = stream
        .message()
        .await
        .unwrap_or_else(|status| panic!("the stream broke: {status:?}"))
    {
        out.push(item);
    }
    out
}
