//! Prometheus metrics of a stream (cargo feature `metrics`): [`StreamMetrics`], a
//! `prometheus-client` [`Collector`](prometheus_client::collector::Collector) that reads a
//! stream's [`StreamStats`](crate::stats::StreamStats) and the identity's expiry at each scrape, and
//! [`MetricsServer`], a small HTTP server answering `GET /metrics` and `GET /healthz`.
//!
//! The metrics, their types and meaning, and the `/healthz` rule are listed in
//! `docs/metrics.md`; every name starts with `teleport_audit_`.
//!
//! With your own registry and HTTP server, register a [`StreamMetrics`] and use
//! [`StreamMetrics::health`] in your health check:
//!
//! ```no_run
//! # async fn run(client: teleport_audit::Client) {
//! use prometheus_client::registry::Registry;
//! use teleport_audit::StreamConfig;
//! use teleport_audit::metrics::StreamMetrics;
//!
//! let metrics = StreamMetrics::new();
//! let mut registry = Registry::default();
//! registry.register_collector(Box::new(metrics.clone()));
//!
//! let events = client.audit_events(StreamConfig::default());
//! metrics.watch(events.stats_handle()); // its stats carry the identity's expiry too
//! // ... encode `registry` on each scrape; `metrics.health(now)` for a health check.
//! # }
//! ```
//!
//! Or let the library serve both:
//!
//! ```no_run
//! # async fn run(client: teleport_audit::Client) -> Result<(), teleport_audit::Error> {
//! use teleport_audit::StreamConfig;
//! use teleport_audit::metrics::{MetricsServer, StreamMetrics};
//!
//! // Bind first: a port in use is reported before anything else happens.
//! let server = MetricsServer::bind("127.0.0.1:9464".parse().unwrap()).await?;
//! let metrics = StreamMetrics::new();
//! tokio::spawn(server.serve(metrics.clone()));
//!
//! let events = client.audit_events(StreamConfig::default());
//! metrics.watch(events.stats_handle()); // its stats carry the identity's expiry too
//! # Ok(()) }
//! ```

mod collector;
mod server;

pub use collector::StreamMetrics;
pub use prometheus_client;
pub use server::{MetricsServer, OPENMETRICS_CONTENT_TYPE};
