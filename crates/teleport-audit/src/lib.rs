//! Pull a Teleport cluster's audit log into your own pipeline: incrementally, resumably, and
//! exactly once.
//!
//! You give what a Teleport user has: the proxy address with its port
//! (`teleport.example.com:443`), the whole text of an identity file made by
//! `tctl auth sign --format=file`, and optionally a backfill start time. You get an
//! [`AuditEventStream`] of [`AuditEvent`]s (logins, access requests, Kubernetes and app access,
//! RBAC changes, failed authentication, ...) and, at any event, a [`Cursor`] to store. After a
//! restart, a stream resumed from the stored cursor yields exactly the events after it: none
//! lost, none twice.
//!
//! # Overview
//!
//! - [`ClientConfig`] + [`Client::connect`]: reaches the Auth Service through the proxy's TLS
//!   routing (ALPN `teleport-auth@<cluster>`), through a WebSocket connection upgrade when an L7
//!   load balancer strips ALPN, through `HTTPS_PROXY`, or directly; authenticates with the
//!   identity's certificate; checks the cluster name.
//! - [`Client::audit_events`] + [`StreamConfig`]: one [`AuditEventStream`] over either of
//!   Teleport's APIs ([`Mode`]; [`Mode::Auto`], the default, asks the cluster once):
//!   - **search** (every backend): ascending searches in time windows, following Teleport's page
//!     keys, prefetching the next page, polling once caught up; late-arriving events
//!     (eventually consistent backends) are caught up to [`StreamConfig::max_lateness`];
//!   - **export** (Teleport 16.4+ with Athena, and Cloud): the chunks of each UTC date read in
//!     parallel ([`StreamConfig::export_concurrency`]) through a bounded queue, re-listed every
//!     [`StreamConfig::export_poll_interval`] for new chunks, including chunks written late for
//!     past dates within [`StreamConfig::export_lookback`]. Not in time order; much faster for
//!     large volumes.
//! - Failures: transient ones are retried inside with jittered, capped backoff ([`Backoff`]) for
//!   as long as they last and show in [`StreamStats`]; the stream yields an error only when it
//!   cannot go on (expired identity, missing permission), once, and then ends. What it reports
//!   while it goes on is a [`Notice`] (logged, counted, and sent to
//!   [`AuditEventStream::notices`]): a long stall ([`Notice::Stalled`]) and its end, an event
//!   too large to receive, skipped by id ([`Notice::EventSkipped`]) rather than allowed to block
//!   the stream, an event that cannot be decoded, an export chunk given up.
//! - [`StreamConfig::skip_event_types`]: types consumed without being yielded (the cursor
//!   moves past them).
//! - A [`Cursor`] records the mode it was taken in; a resumed stream continues in that mode
//!   (formats and guarantees: [`cursor`]).
//! - [`FileCursorStore`] keeps a cursor on disk the way a database keeps its files (locked
//!   against a second process, regular files only, bounded reads, atomic durable saves).
//! - [`FileSink`] appends events to a file and commits them together with their cursor:
//!   exactly once into the file across crashes (SIGKILL, power loss, a full disk).
//!
//! # Cargo features
//!
//! - `ring` (default) or `aws-lc-rs`: the rustls crypto provider TLS is built with. A provider
//!   the application installed for the process (`rustls::crypto::CryptoProvider::install_default`)
//!   is used whatever the features; else `aws-lc-rs` if on (also together with `ring`: adding
//!   `features = ["aws-lc-rs"]` is enough), else `ring`. With neither feature and nothing
//!   installed, connecting fails with the code `no_crypto_provider`. See
//!   [`identity::crypto_provider`].
//! - `metrics` (off by default): `teleport_audit::metrics`, a Prometheus collector of a
//!   stream's [`StreamStats`] and the identity's expiry (with the `prometheus-client` crate),
//!   and a small HTTP server for `/metrics` and `/healthz`. The health rule itself
//!   ([`HealthRule`]) needs no feature.
//!
//! # Example
//!
//! ```no_run
//! use futures::{StreamExt as _, TryStreamExt as _};
//! use teleport_audit::{Client, ClientConfig, FileCursorStore, StreamConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The two settings and the secret, as the user gives them.
//! let proxy = "teleport.example.com:443";
//! let identity = std::env::var("TELEPORT_IDENTITY")?; // the identity file's contents
//! let backfill_start = Some(time::macros::datetime!(2025-12-01 00:00 UTC));
//!
//! let client = Client::connect(ClientConfig::from_identity_str(proxy, &identity)?).await?;
//!
//! // Resume from the stored cursor if there is one, else start at the backfill time (or now).
//! let store = FileCursorStore::open("teleport-audit.cursor.json")?;
//! let mut config = StreamConfig::default();
//! config = match (store.load()?, backfill_start) {
//!     (Some(cursor), _) => config.resume_from(cursor),
//!     (None, Some(start)) => config.backfill_start(start),
//!     (None, None) => config.start_now(),
//! };
//!
//! let mut events = client.audit_events(config);
//! // Stalls and skipped events (also logged with `tracing`, and counted in `events.stats()`).
//! let mut notices = events.notices();
//! tokio::spawn(async move {
//!     while let Some(notice) = notices.next().await {
//!         eprintln!("{notice} ({}): {}", notice.code(), notice.advice());
//!     }
//! });
//! // Runs for days across transient failures: an error here ends the stream (an expired
//! // identity, a missing permission; see `Error::advice`).
//! while let Some(event) = events.try_next().await? {
//!     // Hand the event to your pipeline; `as_json` is the record as Teleport wrote it.
//!     println!("{}", event.as_json());
//!     store.save(&events.cursor())?; // or every N events / per batch
//! }
//! // Before the process exits: close the connection cleanly, so the proxy sees a clean end.
//! client.disconnect().await;
//! # Ok(()) }
//! ```

#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod backoff;
mod client;
mod config;
mod connect;
pub mod cursor;
mod cursor_store;
mod error;
mod error_class;
pub mod expiry;
mod file_sink;
mod health;
#[cfg(feature = "metrics")]
pub mod metrics;
mod mode;
mod notice;
mod rpc;
mod rpc_name;
mod session;
mod stats;
mod stream;
pub mod time_spec;

pub use backoff::{Backoff, ExponentialBackoff};
pub use client::{Client, DISCONNECT_WAIT, PingInfo};
pub use config::{
    ClientConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEEPALIVE_INTERVAL, DEFAULT_REQUEST_TIMEOUT,
    MIN_KEEPALIVE_INTERVAL,
};
pub use connect::address::{DEFAULT_AUTH_PORT, DEFAULT_PROXY_PORT, HostPort};
pub use connect::http_proxy::HttpProxy;
pub use connect::upgrade::ConnectionUpgrade;
pub use cursor::Cursor;
pub use cursor_store::{FileCursorStore, MAX_CURSOR_FILE_BYTES};
pub use error::{
    AuthError, ConnectError, CursorError, Error, ErrorKind, InternalError, OutputError,
    PermissionError, RecordingFailure, ServerError, SettingError, SharedError,
};
pub use error_class::ErrorClass;
pub use file_sink::FileSink;
pub use health::{DEFAULT_STALL_BOUND, Health, HealthRule};
pub use mode::Mode;
pub use notice::{NOTICE_BUFFER, Notice, Notices};
pub use rpc_name::Rpc;
pub use session::{
    DEFAULT_FIRST_EVENT_TIMEOUT, DEFAULT_MAX_SESSION_EVENT_SIZE, SessionEventStream,
    SessionEventsConfig, check_session_id,
};
pub use stats::{StatsHandle, StreamStats};
pub use stream::*;
pub use time_spec::{
    ParsedTime, TimeForm, TimeSpecError, parse_backfill_start, parse_duration,
    parse_signed_duration, parse_time,
};

/// The rustls version this crate uses, for [`ClientConfig::tls_config`].
pub use rustls;
/// The event types crate (typed views, the event-code catalogue).
pub use teleport_audit_types as types;
pub use teleport_audit_types::AuditEvent;
/// The identity crate (identity file parsing, TLS configuration).
pub use teleport_identity as identity;
pub use teleport_identity::Identity;
/// The time crate this crate's times are in ([`StreamConfig::backfill_start`] takes its
/// `OffsetDateTime`); its `macros` feature is on (`time::macros::datetime!`).
pub use time;
/// The tonic version this crate uses, for [`Client::from_channel`].
pub use tonic;
