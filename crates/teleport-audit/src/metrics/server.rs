//! [`MetricsServer`]: a small HTTP/1.1 server for `GET /metrics` (Prometheus) and
//! `GET /healthz`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::registry::Registry;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::StreamMetrics;
use crate::error::{Error, SettingError};

/// The `Content-Type` of the OpenMetrics text format, served to scrapers that ask for it
/// (Prometheus does); others get the Prometheus text format
/// ([`prometheus_text::CONTENT_TYPE`]).
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A listening socket for a stream's `/metrics` and `/healthz`.
///
/// [`MetricsServer::bind`] first (so a port in use is an error before anything else happens),
/// then run [`MetricsServer::serve`]:
///
/// - `GET /metrics`: the metrics, in the OpenMetrics text format when the scraper accepts it
///   (`Accept: application/openmetrics-text`, as Prometheus sends), else in the Prometheus text
///   format (version 0.0.4);
/// - `GET /healthz`: `200 ok`, or `503` with the reason ([`crate::Health`]'s text) when the
///   stream has had no successful call for longer than the stall bound or ended with a fatal
///   error;
/// - `HEAD` of either: the same status and headers without a body; another method: `405`;
///   another path: `404`.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl MetricsServer {
    /// Listens on `addr` (port 0: a free port, see [`MetricsServer::local_addr`]).
    ///
    /// # Errors
    ///
    /// [`SettingError::Listen`]: the port is in use, below 1024 without privileges, or the address is
    /// not this machine's (the source's [`std::io::Error::kind`] says which, and
    /// [`Error::advice`] fits it).
    pub async fn bind(addr: SocketAddr) -> Result<MetricsServer, Error> {
        let listen_error = |source| {
            Error::Setting(SettingError::Listen {
                what: "metrics server",
                addr,
                source: Arc::new(source),
            })
        };
        let listener = TcpListener::bind(addr).await.map_err(listen_error)?;
        let local_addr = listener.local_addr().map_err(listen_error)?;
        Ok(MetricsServer {
            listener,
            local_addr,
        })
    }

    /// The address it listens on (with the port chosen when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves `metrics` (alone in a registry of its own) until the future is dropped or its task
    /// aborted. It never ends by itself: a failed connection is logged at debug level, a failed
    /// accept (out of file descriptors) is logged and retried after a short pause.
    pub async fn serve(self, metrics: StreamMetrics) {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(metrics.clone()));
        self.serve_registry(registry, metrics).await;
    }

    /// As [`MetricsServer::serve`], with your own registry on `/metrics` (register `health`, a
    /// clone of the [`StreamMetrics`] whose health `/healthz` reports, in it yourself to have
    /// the stream's metrics there too).
    pub async fn serve_registry(self, registry: Registry, health: StreamMetrics) {
        let state = Arc::new(State { registry, health });
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return; // The semaphore is never closed.
            };
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "metrics server: accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let response = respond(
                        request.method(),
                        request.uri().path(),
                        request.headers(),
                        &state,
                        OffsetDateTime::now_utc(),
                    );
                    async move { Ok::<_, Infallible>(response) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(error) = connection.await {
                    tracing::debug!(%peer, %error, "metrics server: connection failed");
                }
                drop(slot);
            });
        }
    }
}

struct State {
    registry: Registry,
    health: StreamMetrics,
}

/// The answer to one request.
fn respond(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    state: &State,
    now: OffsetDateTime,
) -> Response<Full<Bytes>> {
    let known = matches!(path, "/metrics" | "/healthz");
    if !known {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: this server answers GET /metrics and GET /healthz\n".to_owned(),
        );
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} not allowed: use GET or HEAD\n"),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if path == "/healthz" {
        let health = state.health.health(now);
        let status = if health.is_healthy() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return plain(status, format!("{health}\n"));
    }
    let openmetrics = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("application/openmetrics-text"));
    let mut body = String::new();
    let (encoded, content_type) = if openmetrics {
        (
            text::encode(&mut body, &state.registry),
            OPENMETRICS_CONTENT_TYPE,
        )
    } else {
        (
            prometheus_text::encode(&mut body, &state.registry),
            prometheus_text::CONTENT_TYPE,
        )
    };
    if encoded.is_err() {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the metrics could not be encoded\n".to_owned(),
        );
    }
    response(StatusCode::OK, content_type, body)
}

fn plain(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    response(status, "text/plain; charset=utf-8", body)
}

fn response(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::HealthRule;
    use crate::stats::StatsHandle;
    use http_body_util::BodyExt as _;

    fn state(metrics: StreamMetrics) -> State {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(metrics.clone()));
        State {
            registry,
            health: metrics,
        }
    }

    async fn body(response: Response<Full<Bytes>>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn get(path: &str, state: &State) -> Response<Full<Bytes>> {
        respond(
            &Method::GET,
            path,
            &HeaderMap::new(),
            state,
            OffsetDateTime::now_utc(),
        )
    }

    #[tokio::test]
    async fn metrics_in_the_format_the_scraper_asks_for() {
        let state = state(StreamMetrics::new());
        let plain = get("/metrics", &state);
        assert_eq!(plain.status(), StatusCode::OK);
        assert_eq!(plain.headers()[CONTENT_TYPE], prometheus_text::CONTENT_TYPE);
        let text = body(plain).await;
        assert!(text.contains("teleport_audit_events_total 0\n"), "{text}");
        assert!(!text.contains("# EOF"), "{text}");

        let mut accept = HeaderMap::new();
        accept.insert(
            ACCEPT,
            HeaderValue::from_static(
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            ),
        );
        let open = respond(
            &Method::GET,
            "/metrics",
            &accept,
            &state,
            OffsetDateTime::now_utc(),
        );
        assert_eq!(open.headers()[CONTENT_TYPE], OPENMETRICS_CONTENT_TYPE);
        let text = body(open).await;
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[tokio::test]
    async fn healthz_is_ok_then_503_with_the_reason() {
        let metrics =
            StreamMetrics::with_health_rule(HealthRule::with_stall_bound(Duration::from_secs(60)));
        let stats = StatsHandle::default();
        metrics.watch(stats.clone());
        let state = state(metrics);
        let now = OffsetDateTime::now_utc();
        stats.update(|s| s.last_success = Some(now));
        let ok = respond(&Method::GET, "/healthz", &HeaderMap::new(), &state, now);
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(body(ok).await, "ok\n");

        let later = now + Duration::from_secs(61);
        let stalled = respond(&Method::GET, "/healthz", &HeaderMap::new(), &state, later);
        assert_eq!(stalled.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body(stalled)
                .await
                .starts_with("stalled: no successful call for 61s")
        );

        stats.update(|s| s.fatal = Some("permission_denied"));
        let failed = respond(&Method::GET, "/healthz", &HeaderMap::new(), &state, now);
        assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body(failed).await,
            "failed: the stream ended with a fatal error (permission_denied)\n"
        );
    }

    #[tokio::test]
    async fn other_paths_and_methods() {
        let state = state(StreamMetrics::new());
        let missing = get("/", &state);
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert!(body(missing).await.contains("/metrics"));
        assert_eq!(get("/metrics/x", &state).status(), StatusCode::NOT_FOUND);

        let post = respond(
            &Method::POST,
            "/metrics",
            &HeaderMap::new(),
            &state,
            OffsetDateTime::now_utc(),
        );
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()[ALLOW], "GET, HEAD");

        let head = respond(
            &Method::HEAD,
            "/healthz",
            &HeaderMap::new(),
            &state,
            OffsetDateTime::now_utc(),
        );
        assert_eq!(head.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_port_in_use_is_a_listen_error_with_advice_that_fits() {
        let first = MetricsServer::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let error = MetricsServer::bind(first.local_addr()).await.unwrap_err();
        assert_eq!(error.code(), "listen_failed");
        assert_eq!(
            error.to_string(),
            format!(
                "cannot listen on {} for the metrics server",
                first.local_addr()
            )
        );
        assert!(
            error.advice().contains("Another process"),
            "{}",
            error.advice()
        );
        let Error::Setting(SettingError::Listen { source, .. }) = &error else {
            panic!("{error:?}");
        };
        assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
    }

    #[tokio::test]
    async fn an_address_not_of_this_machine_is_a_listen_error_with_advice_that_fits() {
        // TEST-NET-1 (RFC 5737): never assigned to a machine.
        let error = MetricsServer::bind("192.0.2.1:9464".parse().unwrap())
            .await
            .unwrap_err();
        let Error::Setting(SettingError::Listen { source, .. }) = &error else {
            panic!("{error:?}");
        };
        assert_eq!(source.kind(), std::io::ErrorKind::AddrNotAvailable);
        assert!(error.advice().contains("not one of this machine's"));
    }
}
